// Tariffs (read only: they are managed as Tariff resources on Kubernetes, or in billing).

import { api } from "../api.js";
import { facts, h, money, replace, section, table, time } from "../dom.js";
import { pager } from "../ui.js";

const COMPONENTS = { ENERGY: "per kWh", TIME: "per charging hour", PARKING_TIME: "per parking hour", FLAT: "per session" };

function restrictions(r) {
  if (!r) return "always";
  const parts = [];
  if (r.start_time || r.end_time) parts.push(`${r.start_time || "00:00"}–${r.end_time || "24:00"}`);
  if (r.day_of_week?.length) parts.push(r.day_of_week.map((d) => d.slice(0, 3).toLowerCase()).join(", "));
  if (r.start_date || r.end_date) parts.push(`from ${r.start_date || "…"} to ${r.end_date || "…"}`);
  if (r.min_kwh || r.max_kwh) parts.push(`${r.min_kwh || 0}–${r.max_kwh || "∞"} kWh`);
  if (r.min_duration || r.max_duration) parts.push(`${r.min_duration || 0}–${r.max_duration || "∞"} s`);
  return parts.join("; ") || "always";
}

function summary(definition) {
  return definition.elements.flatMap((e) => e.price_components.map((c) => `${money(c.price, definition.currency)} ${COMPONENTS[c.type] || c.type}`))
    .join(", ");
}

const PAGE_SIZE = 50;

export async function renderList(page) {
  const { main, query, setQuery } = page;
  const offset = Number(query.get("offset") || 0);
  const list = await api("/tariffs");  // all of them: the API does not page tariffs, the console does
  const shown = list.items.slice(offset, offset + PAGE_SIZE);
  replace(main, h("h1", {}, "Tariffs"),
    table("Tariffs", ["Tariff", "Name", "Currency", "Prices", "Tax"], shown.map((t) => h("tr", {},
      h("th", { scope: "row" }, h("a", { href: `/tariffs/${encodeURIComponent(t.id)}` }, t.id), t.is_default ? " (default)" : ""),
      h("td", {}, t.name || "–"), h("td", {}, t.definition.currency), h("td", {}, summary(t.definition)),
      h("td", {}, `${(Number(t.definition.tax_rate) * 100).toLocaleString()} %`))),
    { empty: "No tariffs." }),
    pager({ offset, limit: PAGE_SIZE, count: shown.length, total: list.items.length },
      (next) => setQuery({ offset: next || null })));
}

export async function renderOne(page) {
  const { main, params } = page;
  const tariff = await api(`/tariffs/${encodeURIComponent(params[0])}`);
  const d = tariff.definition;
  replace(main,
    h("p", { class: "crumbs" }, h("a", { href: "/tariffs" }, "Tariffs"), " / ", tariff.id),
    h("h1", {}, `Tariff ${tariff.id}`),
    facts([["Name", tariff.name || "–"], ["Currency", d.currency],
      ["Tax", `${(Number(d.tax_rate) * 100).toLocaleString()} %`], ["Time zone", d.time_zone],
      ["Valid", `${d.valid_from ? time(d.valid_from) : "always"} – ${d.valid_to ? time(d.valid_to) : "open-ended"}`],
      ["Default", tariff.is_default ? "yes: stations without a tariff of their own use it" : "no"]]),
    section("Prices", "prices", table("Price components", ["Element", "When", "Price", "Step"],
      d.elements.flatMap((e, i) => e.price_components.map((c) => h("tr", {},
        h("th", { scope: "row" }, String(i + 1)), h("td", {}, restrictions(e.restrictions)),
        h("td", {}, `${money(c.price, d.currency)} ${COMPONENTS[c.type] || c.type}`), h("td", {}, String(c.step_size))))))));
}
