// Every station with its live status: counts at the top, filters, a page of stations that
// updates itself as stations connect, charge and go offline.

import { api } from "../api.js";
import { agoEl, badge, field, h, replace, select, table } from "../dom.js";
import { liveStations, pager } from "../ui.js";

const PAGE_SIZE = 50;
const STATUSES = ["Online", "Offline", "Available", "Preparing", "Charging", "SuspendedEVSE", "SuspendedEV", "Finishing",
  "Reserved", "Unavailable", "Faulted"];

export function connectorBadges(connectors) {
  const shown = connectors.filter((c) => c.connector_id > 0);
  if (!shown.length) return h("span", { class: "muted" }, "none reported");
  return h("ul", { class: "connectors" }, shown.map((c) =>
    h("li", {}, h("span", { class: "visually-hidden" }, `Connector ${c.connector_id}: `),
      h("span", { "aria-hidden": "true" }, `${c.connector_id} `), badge(c.status),
      c.error_code && c.error_code !== "NoError" ? h("span", { class: "muted" }, ` ${c.error_code}`) : null)));
}

export function onlineBadge(station) {
  return station.connected ? badge("Online", "online") : badge("Offline", "offline");
}

function stationRow(station) {
  return h("tr", { "data-station": station.id },
    h("th", { scope: "row" }, h("a", { href: `/stations/${encodeURIComponent(station.id)}` }, station.id)),
    h("td", {}, onlineBadge(station)),
    h("td", {}, connectorBadges(station.connectors)),
    h("td", {}, [station.vendor, station.model].filter(Boolean).join(" · ") || h("span", { class: "muted" }, "not booted")),
    h("td", {}, agoEl(station.last_heartbeat_at || station.last_seen_at)),
    h("td", {}, station.firmware_version || "–"));
}

function countsBar(counts, current, setQuery) {
  const item = (label, value, status) => h("li", {},
    h("button", { type: "button", class: "count", "aria-pressed": String(current === status),
      onclick: () => setQuery({ status: current === status ? null : status, offset: null }) },
    h("span", { class: "count-value" }, String(value)), h("span", { class: "count-label" }, label)));
  const connectorCounts = Object.entries(counts.connector_statuses || {}).filter(([, n]) => n > 0);
  return h("ul", { class: "counts", "aria-label": "Stations by status" },
    h("li", {}, h("button", { type: "button", class: "count", "aria-pressed": String(!current),
      onclick: () => setQuery({ status: null, offset: null }) },
    h("span", { class: "count-value" }, String(counts.stations)), h("span", { class: "count-label" }, "All stations"))),
    item("Online", counts.online, "Online"),
    item("Offline", counts.offline, "Offline"),
    connectorCounts.map(([status, n]) => item(`with a connector ${status}`, n, status)));
}

export async function render(page) {
  const { main, query, setQuery, onLeave } = page;
  const offset = Number(query.get("offset") || 0);
  const filters = { q: query.get("q"), status: query.get("status"), vendor: query.get("vendor") };
  const [counts, list] = await Promise.all([
    api("/station-counts"),
    api("/stations", { query: { ...filters, limit: PAGE_SIZE, offset } }),
  ]);
  const countsHolder = h("div", {}, countsBar(counts, filters.status, setQuery));
  const indicator = h("span", { class: "live-indicator" });

  const search = h("input", { name: "q", type: "search", value: filters.q || "", maxlength: "48",
    placeholder: "e.g. DEPOT" });
  const status = select("status", [["", "Any status"], ...STATUSES.map((s) => [s, s])], filters.status);
  const vendors = new Set([...(counts.vendors || []), ...(filters.vendor ? [filters.vendor] : [])]);
  const vendor = select("vendor", [["", "Any vendor"], ...[...vendors].map((v) => [v, v])], filters.vendor);
  const form = h("form", { class: "filters", role: "search" },
    field("Station id contains", search), field("Status", status), field("Vendor", vendor),
    h("button", { type: "submit" }, "Apply"),
    (filters.q || filters.status || filters.vendor)
      ? h("button", { type: "button", class: "link", onclick: () => setQuery({ q: null, status: null, vendor: null, offset: null }) }, "Clear filters")
      : null);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setQuery({ q: search.value.trim(), status: status.value, vendor: vendor.value, offset: null });
  });

  const rows = new Map(list.items.map((station) => [station.id, stationRow(station)]));
  replace(main,
    h("div", { class: "title-row" }, h("h1", {}, "Stations"), indicator),
    countsHolder,
    form,
    table("Stations", ["Station", "Status", "Connectors", "Vendor · model", "Last heard", "Firmware"], [...rows.values()],
      { empty: filters.q || filters.status || filters.vendor ? "No station matches these filters."
        : "No station is registered yet. Register one with `chargeplane station add ID`." }),
    pager({ offset, limit: PAGE_SIZE, count: list.items.length, total: list.total }, (next) => setQuery({ offset: next || null })));

  if (!list.items.length && !counts.stations) return;
  onLeave(liveStations(list.items.map((station) => station.id), {
    indicator,
    onStation(station) {
      const row = rows.get(station.id);
      if (!row) return;
      const fresh = stationRow(station);
      row.replaceWith(fresh);
      rows.set(station.id, fresh);
    },
    onCounts(fresh) {
      replace(countsHolder, countsBar(fresh, filters.status, setQuery));
    },
  }));
}
