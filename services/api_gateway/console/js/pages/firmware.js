// Firmware campaigns and how far each got, station by station.

import { api } from "../api.js";
import { badge, facts, h, replace, table, time } from "../dom.js";
import { pager } from "../ui.js";

const PAGE_SIZE = 50;
const DONE = ["Installed"];
const FAILED = ["DownloadFailed", "InstallationFailed", "Failed", "Rejected", "InvalidSignature", "InstallVerificationFailed",
  "SignatureError", "InvalidCertificate", "RevokedCertificate"];

function progress(statuses) {
  const total = Object.values(statuses || {}).reduce((a, b) => a + b, 0);
  const done = DONE.reduce((sum, s) => sum + (statuses?.[s] || 0), 0);
  const failed = FAILED.reduce((sum, s) => sum + (statuses?.[s] || 0), 0);
  return h("span", { class: "progress" },
    h("progress", { max: String(total || 1), value: String(done), "aria-label": `${done} of ${total} stations installed` }),
    ` ${done} of ${total} installed${failed ? `, ${failed} failed` : ""}`);
}

export async function renderList(page) {
  const { main, query, setQuery } = page;
  const offset = Number(query.get("offset") || 0);
  const list = await api("/firmware-campaigns", { query: { limit: PAGE_SIZE, offset } });
  replace(main, h("h1", {}, "Firmware campaigns"),
    h("p", { class: "hint" }, "Start a campaign with POST /api/v1/firmware-campaigns; ChargePlane sends the update to each station when it is online."),
    table("Firmware campaigns", ["Campaign", "Firmware", "Created", "Progress", "By status"], list.items.map((c) => h("tr", {},
      h("th", { scope: "row" }, h("a", { href: `/firmware-campaigns/${c.id}` }, c.name || `Campaign ${c.id}`)),
      h("td", { class: "value" }, c.location), h("td", {}, time(c.created_at)), h("td", {}, progress(c.statuses)),
      h("td", {}, Object.entries(c.statuses || {}).map(([s, n]) => [badge(`${s} ${n}`, s.toLowerCase()), " "])))),
    { empty: "No firmware campaigns yet." }),
    pager({ offset, limit: PAGE_SIZE, count: list.items.length }, (next) => setQuery({ offset: next || null })));
}

export async function renderOne(page) {
  await drawCampaign(page);
  const timer = setInterval(() => drawCampaign(page).catch(() => {}), 5000);
  page.onLeave(() => clearInterval(timer));
}

async function drawCampaign(page) {
  const { main, params } = page;
  const campaign = await api(`/firmware-campaigns/${params[0]}`);
  const statuses = {};
  for (const s of campaign.stations) statuses[s.status] = (statuses[s.status] || 0) + 1;
  replace(main,
    h("p", { class: "crumbs" }, h("a", { href: "/firmware-campaigns" }, "Firmware campaigns"), " / ", campaign.name || campaign.id),
    h("h1", {}, campaign.name || `Campaign ${campaign.id}`),
    facts([["Firmware", campaign.location, { class: "value" }], ["Retrieve from", time(campaign.retrieve_date)],
      ["Signed", campaign.signed ? "yes" : "no"], ["Progress", progress(statuses)]]),
    h("p", { class: "hint" }, "This page reads the campaign again every 5 seconds."),
    table("Stations of the campaign", ["Station", "Status", "Attempts", "Sent", "Updated", "Firmware now", "Online"],
      campaign.stations.map((s) => h("tr", {},
        h("th", { scope: "row" }, h("a", { href: `/stations/${encodeURIComponent(s.station_id)}` }, s.station_id)),
        h("td", {}, badge(s.status, FAILED.includes(s.status) ? "faulted" : s.status.toLowerCase())),
        h("td", {}, String(s.attempts)), h("td", {}, s.sent_at ? time(s.sent_at) : "not yet"),
        h("td", {}, time(s.updated_at)), h("td", {}, s.firmware_version || "–"),
        h("td", {}, s.connected ? badge("Online", "online") : badge("Offline", "offline"))))));
}
