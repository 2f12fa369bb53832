// Id tags (RFID cards, apps): list, add, block, expire, delete.

import { api } from "../api.js";
import { badge, field, h, isoFromLocal, replace, select, table, time } from "../dom.js";
import { actionButton, canOperate, onSubmit, outcome, pager, readOnlyNote, showOutcome } from "../ui.js";

const PAGE_SIZE = 50;
const tagPath = (tag) => `/id-tags/${encodeURIComponent(tag)}`;

function effective(tag) {
  if (tag.status === "Accepted" && tag.expires_at && new Date(tag.expires_at) <= new Date()) return "Expired";
  return tag.status;
}

export async function render(page) {
  const { main, query, setQuery, navigate } = page;
  const offset = Number(query.get("offset") || 0);
  const list = await api("/id-tags", { query: { limit: PAGE_SIZE, offset } });
  const reload = () => navigate(window.location.pathname + window.location.search, { replaceState: true, keepFocus: true });
  const rowOutcome = outcome();

  const tag = h("input", { name: "id_tag", required: true, maxlength: "20", pattern: ".{1,20}" });
  const status = select("status", ["Accepted", "Blocked", "Expired", "Invalid"].map((s) => [s, s]), "Accepted");
  const expires = h("input", { name: "expires_at", type: "datetime-local" });
  const parent = h("input", { name: "parent_id_tag", maxlength: "20" });
  const addResult = outcome();
  const addForm = h("form", { class: "action wide", "aria-label": "Add an id tag" },
    h("h2", {}, "Add or change an id tag"),
    h("div", { class: "row" }, field("Id tag", tag, "1 to 20 characters, as the card or app sends it"),
      field("Status", status), field("Expires", expires, "empty: never"), field("Parent id tag", parent, "optional")),
    actionButton("Save id tag"), addResult);
  onSubmit(addForm, addResult, async () => {
    const value = tag.value.trim();
    if (!value) return ["bad", "Enter the id tag."];
    await api(tagPath(value), { method: "PUT", body: {
      status: status.value, expires_at: isoFromLocal(expires.value), parent_id_tag: parent.value.trim() || null } });
    setTimeout(reload, 600);
    return ["good", `Id tag ${value} saved.`];
  });

  const act = (text, label, run) => h("button", { type: "button", class: "small", disabled: !canOperate(),
    "aria-label": label, onclick: async (event) => {
      event.currentTarget.disabled = true;
      try {
        await run();
        reload();
      } catch (error) {
        showOutcome(rowOutcome, "bad", error.message);
        event.target.disabled = false;
      }
    } }, text);
  const rows = list.items.map((t) => {
    const keep = { expires_at: t.expires_at, parent_id_tag: t.parent_id_tag };
    return h("tr", { "data-tag": t.id_tag },
      h("th", { scope: "row" }, t.id_tag), h("td", {}, badge(effective(t))),
      h("td", {}, t.expires_at ? time(t.expires_at) : "never"), h("td", {}, t.parent_id_tag || "–"),
      h("td", {}, time(t.updated_at)),
      h("td", { class: "buttons" },
        t.status === "Blocked"
          ? act("Unblock", `Unblock ${t.id_tag}`, () => api(tagPath(t.id_tag), { method: "PUT", body: { ...keep, status: "Accepted" } }))
          : act("Block", `Block ${t.id_tag}`, () => api(tagPath(t.id_tag), { method: "PUT", body: { ...keep, status: "Blocked" } })),
        act("Expire now", `Expire now ${t.id_tag}`, () => api(tagPath(t.id_tag), { method: "PUT",
          body: { ...keep, status: t.status, expires_at: new Date().toISOString() } })),
        act("Delete", `Delete ${t.id_tag}`, async () => {
          if (!window.confirm(`Delete id tag ${t.id_tag}? Stations will treat it as unknown.`)) throw new Error("Not deleted.");
          await api(tagPath(t.id_tag), { method: "DELETE" });
        })));
  });
  replace(main, h("h1", {}, "Id tags"), readOnlyNote(), addForm, rowOutcome,
    table("Id tags", ["Id tag", "Status", "Expires", "Parent", "Changed", "Actions"], rows,
      { empty: "No id tags yet: unknown tags get the network's default answer." }),
    pager({ offset, limit: PAGE_SIZE, count: list.items.length }, (next) => setQuery({ offset: next || null })));
}
