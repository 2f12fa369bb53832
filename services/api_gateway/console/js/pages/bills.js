// Bills, newest first, and one bill's line items (shown with its session too).

import { api } from "../api.js";
import { duration, facts, field, h, kwh, money, replace, table, time } from "../dom.js";
import { pager } from "../ui.js";

const PAGE_SIZE = 50;
const DIMENSIONS = { ENERGY: "Energy", TIME: "Charging time", PARKING_TIME: "Parking time", FLAT: "Session fee" };

export function billLines(bill) {
  const lines = bill.line_items.map((item) => h("tr", {},
    h("th", { scope: "row" }, DIMENSIONS[item.dimension] || item.dimension),
    h("td", { class: "number" }, `${Number(item.quantity).toLocaleString(undefined, { maximumFractionDigits: 6 })} ${item.unit}`),
    h("td", { class: "number" }, `${money(item.unit_price, bill.currency)} / ${item.unit}`),
    h("td", { class: "number" }, money(item.amount, bill.currency))));
  return h("div", { class: "bill", "data-bill": bill.id },
    h("p", {}, `Bill ${bill.id}, tariff `, h("a", { href: `/tariffs/${encodeURIComponent(bill.tariff_id)}` }, bill.tariff_id),
      `, made ${time(bill.created_at)}: ${kwh(bill.energy_wh)}, charging ${duration(bill.charging_seconds)}`,
      bill.parking_seconds ? `, parking ${duration(bill.parking_seconds)}` : "", "."),
    table(`Line items of bill ${bill.id}`, ["Item", "Quantity", "Unit price", "Amount"], lines),
    facts([["Without tax", money(bill.amount_excl_tax, bill.currency)], ["Tax", money(bill.tax_amount, bill.currency)],
      ["Total", money(bill.amount_incl_tax, bill.currency), { class: "total" }]], "totals"));
}

export async function render(page) {
  const { main, query, setQuery } = page;
  const offset = Number(query.get("offset") || 0);
  const stationId = query.get("station_id");
  const list = await api("/billing-transactions", { query: { station_id: stationId, limit: PAGE_SIZE, offset } });
  const station = h("input", { name: "station_id", value: stationId || "", maxlength: "48" });
  const form = h("form", { class: "filters", role: "search" }, field("Station id", station),
    h("button", { type: "submit" }, "Apply"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setQuery({ station_id: station.value.trim(), offset: null });
  });
  replace(main, h("h1", {}, "Bills"), form,
    table("Bills", ["Bill", "Session", "Station", "Tariff", "Energy", "Total", "Made"], list.items.map((b) => h("tr", {},
      h("th", { scope: "row" }, String(b.id)),
      h("td", {}, h("a", { href: `/sessions/${b.session_id}` }, `Session ${b.session_id}`)),
      h("td", {}, h("a", { href: `/stations/${encodeURIComponent(b.station_id)}` }, b.station_id)),
      h("td", {}, h("a", { href: `/tariffs/${encodeURIComponent(b.tariff_id)}` }, b.tariff_id)),
      h("td", { class: "number" }, kwh(b.energy_wh)), h("td", { class: "number" }, money(b.amount_incl_tax, b.currency)),
      h("td", {}, time(b.created_at)))),
    { empty: "No bills yet." }),
    pager({ offset, limit: PAGE_SIZE, count: list.items.length }, (next) => setQuery({ offset: next || null })));
}
