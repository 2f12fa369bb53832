// Charging sessions: the list with its filters, and one session with its meter chart, its bill
// and a link to its trace.

import { api } from "../api.js";
import { badge, duration, facts as factList, field, h, isoFromLocal, kwh, localFromIso, replace, section, select, table, time } from "../dom.js";
import { errorBox, pager } from "../ui.js";
import { billLines } from "./bills.js";

const PAGE_SIZE = 50;

function energy(session) {
  return session.meter_stop_wh === null ? null : session.meter_stop_wh - session.meter_start_wh;
}

export async function renderList(page) {
  const { main, query, setQuery } = page;
  const offset = Number(query.get("offset") || 0);
  const filters = { station_id: query.get("station_id"), status: query.get("status"), from: query.get("from"),
    to: query.get("to") };
  const list = await api("/sessions", { query: { ...filters, limit: PAGE_SIZE, offset } });

  const stationInput = h("input", { name: "station_id", value: filters.station_id || "", maxlength: "48" });
  const statusSelect = select("status", [["", "Any"], ["active", "Charging now"], ["completed", "Completed"]], filters.status);
  const from = h("input", { name: "from", type: "datetime-local", value: localFromIso(filters.from) });
  const to = h("input", { name: "to", type: "datetime-local", value: localFromIso(filters.to) });
  const form = h("form", { class: "filters", role: "search" },
    field("Station id", stationInput), field("Status", statusSelect), field("Started from", from),
    field("Started before", to), h("button", { type: "submit" }, "Apply"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setQuery({ station_id: stationInput.value.trim(), status: statusSelect.value, from: isoFromLocal(from.value),
      to: isoFromLocal(to.value), offset: null });
  });

  replace(main, h("h1", {}, "Sessions"), form,
    table("Sessions", ["Session", "Station", "Connector", "Id tag", "Status", "Started", "Stopped", "Energy"],
      list.items.map((s) => h("tr", {},
        h("th", { scope: "row" }, h("a", { href: `/sessions/${s.id}` }, `Session ${s.id}`)),
        h("td", {}, h("a", { href: `/stations/${encodeURIComponent(s.station_id)}` }, s.station_id)),
        h("td", {}, String(s.connector_id)), h("td", {}, s.id_tag || "–"),
        h("td", {}, badge(s.status === "active" ? "Charging" : "Completed")),
        h("td", {}, time(s.started_at)), h("td", {}, s.stopped_at ? time(s.stopped_at) : "–"),
        h("td", {}, kwh(energy(s))))),
      { empty: "No session matches." }),
    pager({ offset, limit: PAGE_SIZE, count: list.items.length }, (next) => setQuery({ offset: next || null })));
}

// Energy delivered (kWh) and the average power between readings (kW), over time.
function series(session) {
  const samples = session.meter_series.map((s) => [new Date(s.at).getTime() / 1000, Number(s.energy_wh)]);
  const times = [], energies = [], powers = [];
  samples.forEach(([at, wh], i) => {
    times.push(at);
    energies.push((wh - session.meter_start_wh) / 1000);
    if (i === 0) powers.push(null);
    else {
      const [before, beforeWh] = samples[i - 1];
      powers.push(at > before ? ((wh - beforeWh) / 1000) / ((at - before) / 3600) : null);
    }
  });
  return [times, energies, powers];
}

async function chart(holder, session) {
  if (session.meter_series.length < 2) {
    replace(holder, h("p", { class: "empty" }, session.meter_series.length
      ? "One meter reading so far: the chart needs two." : "No meter readings for this session."));
    return;
  }
  const { default: uPlot } = await import("/assets/vendor/uPlot.esm.js");
  const data = series(session);
  replace(holder);
  const width = () => Math.max(280, holder.clientWidth || 640);
  const plot = new uPlot({
    width: width(), height: 300, title: "Energy and power",
    // both from zero: a steady 11 kW must not look like a jagged line
    scales: { x: { time: true }, kwh: { range: (u, min, max) => [0, Math.max(max * 1.1, 0.001)] },
      kw: { range: (u, min, max) => [0, Math.max(max * 1.2, 0.1)] } },
    series: [
      {},
      { label: "Energy (kWh)", scale: "kwh", stroke: "#1f6feb", width: 2, value: (u, v) => (v === null ? "–" : `${v.toFixed(3)} kWh`) },
      { label: "Power (kW)", scale: "kw", stroke: "#b35900", width: 2, value: (u, v) => (v === null ? "–" : `${v.toFixed(2)} kW`) },
    ],
    axes: [{}, { scale: "kwh", label: "kWh" }, { scale: "kw", side: 1, label: "kW", grid: { show: false } }],
  }, data, holder);
  const resize = () => plot.setSize({ width: width(), height: 300 });
  window.addEventListener("resize", resize);
  const summaryText = `Energy rose from 0 to ${data[1].at(-1).toFixed(3)} kWh over ${data[0].length} readings` +
    `; power peaked at ${Math.max(...data[2].filter((p) => p !== null)).toFixed(2)} kW.`;
  holder.prepend(h("p", { class: "visually-hidden" }, summaryText));
  return () => window.removeEventListener("resize", resize);
}

function traceLink(session, settings) {
  const traceId = (session.traceparent || "").split("-")[1];
  if (!traceId) return h("p", { class: "muted" }, "This session was not traced (tracing samples some sessions only).");
  if (!settings?.trace_url_template) {
    return h("p", {}, "Trace id ", h("code", {}, traceId),
      " (set TRACE_URL_TEMPLATE on the api-gateway to link it to your tracing UI).");
  }
  const href = settings.trace_url_template.replace("{trace_id}", traceId);
  return h("p", {}, h("a", { href, target: "_blank", rel: "noopener noreferrer" }, "Open this session's trace"),
    " (", h("code", {}, traceId), ")");
}

export async function renderOne(page) {
  const { main, params, onLeave } = page;
  const [id] = params;
  const [session, bills, settings] = await Promise.all([
    api(`/sessions/${id}`),
    api("/billing-transactions", { query: { session_id: id } }).catch((error) => error),
    api("/console-settings").catch(() => null),
  ]);
  const facts = [
    ["Status", badge(session.status === "active" ? "Charging" : "Completed")],
    ["Station", h("a", { href: `/stations/${encodeURIComponent(session.station_id)}` }, session.station_id)],
    ["Connector", String(session.connector_id)], ["Id tag", session.id_tag || "–"],
    ["Started", time(session.started_at)], ["Stopped", session.stopped_at ? time(session.stopped_at) : "still charging"],
    ["Duration", duration(((session.stopped_at ? new Date(session.stopped_at) : new Date()) - new Date(session.started_at)) / 1000)],
    ["Meter start", kwh(session.meter_start_wh)], ["Meter stop", kwh(session.meter_stop_wh)],
    ["Energy", kwh(energy(session))], ["Stop reason", session.stop_reason || "–"],
    ["Closed by", session.closed_by || "–"],
  ];
  const chartHolder = h("div", { class: "chart" });
  let billPart;
  if (bills instanceof Error) billPart = errorBox(bills);
  else if (!bills.items.length) {
    billPart = h("p", { class: "empty" }, session.status === "active"
      ? "The bill is made when the session ends." : "The bill is being made; reload in a moment.");
  } else billPart = bills.items.map((bill) => billLines(bill));
  replace(main,
    h("p", { class: "crumbs" }, h("a", { href: "/sessions" }, "Sessions"), " / ", `Session ${id}`),
    h("h1", {}, `Session ${id}`),
    factList(facts),
    section("Meter", "meter", chartHolder),
    section("Bill", "bill", billPart),
    section("Trace", "trace", traceLink(session, settings)));
  const stop = await chart(chartHolder, session);
  if (stop) onLeave(stop);
  if (session.status === "active") {
    const timer = setInterval(async () => {
      const fresh = await api(`/sessions/${id}`).catch(() => null);
      if (fresh && (fresh.status !== session.status || fresh.meter_series.length !== session.meter_series.length)) {
        page.navigate(`/sessions/${id}`, { replaceState: true, keepFocus: true });
      }
    }, 5000);
    onLeave(() => clearInterval(timer));
  }
}
