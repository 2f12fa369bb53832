// One station: live status and connectors, its active session, actions, configuration, recent
// frames, reservations, charging profiles, certificates and security events.

import { api, command } from "../api.js";
import { agoEl, badge, facts as factList, field, h, kwh, replace, section, select, table, time } from "../dom.js";
import { actionButton, errorBox, liveStations, onSubmit, outcome, pager, readOnlyNote } from "../ui.js";
import { connectorBadges, onlineBadge } from "./stations.js";

const FRAMES_PAGE = 20;
const LIST_PAGE = 10;
const TRIGGERS = ["BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification", "Heartbeat",
  "MeterValues", "StatusNotification"];
const MESSAGE_TYPES = { 2: "CALL", 3: "CALLRESULT", 4: "CALLERROR" };

const path = (id) => `/stations/${encodeURIComponent(id)}`;

// The station's answer (the API's {station_id, action, result}), said for a person.
function replyText(reply) {
  const result = reply?.result ?? reply;
  if (result && typeof result.status === "string") {
    const kind = ["Accepted", "Unlocked", "Scheduled"].includes(result.status) ? "good" : "bad";
    return [kind, `The station answered: ${result.status}.`];
  }
  return ["good", `The station answered: ${JSON.stringify(result)}.`];
}

function summary(station) {
  const facts = [
    ["Status", onlineBadge(station)],
    ["Last heard", agoEl(station.last_heartbeat_at || station.last_seen_at)],
    ["Last boot", station.last_boot_at ? time(station.last_boot_at) : "never"],
    ["Vendor", station.vendor || "–"], ["Model", station.model || "–"], ["Serial number", station.serial_number || "–"],
    ["Firmware", station.firmware_version || "–"], ["Registration", station.registration_status],
    ["Heartbeat interval", `${station.heartbeat_interval} s`], ["Security profile", String(station.security_profile)],
  ];
  return factList(facts);
}

function connectorsTable(station) {
  return table("Connectors", ["Connector", "Status", "Error", "Since", "Transaction", "Meter"],
    station.connectors.map((c) => h("tr", {},
      h("th", { scope: "row" }, c.connector_id === 0 ? "0 (the station)" : String(c.connector_id)),
      h("td", {}, badge(c.status)),
      h("td", {}, c.error_code === "NoError" ? "–" : [c.error_code, c.info ? ` (${c.info})` : ""]),
      h("td", {}, agoEl(c.status_at)),
      h("td", {}, c.transaction_id ? h("a", { href: `/sessions/${c.transaction_id}` }, `Session ${c.transaction_id}`) : "–"),
      h("td", {}, c.meter_wh === null ? "–" : kwh(c.meter_wh)))),
    { empty: "The station has not reported any connector yet." });
}

function activeSessions(sessions, station) {
  if (!sessions.length) return h("p", { class: "empty" }, "No session is charging here now.");
  return table("Active sessions", ["Session", "Connector", "Id tag", "Started", "Energy so far"],
    sessions.map((s) => {
      const connector = station.connectors.find((c) => c.connector_id === s.connector_id);
      const energy = connector && connector.meter_wh !== null ? connector.meter_wh - s.meter_start_wh : null;
      return h("tr", {},
        h("th", { scope: "row" }, h("a", { href: `/sessions/${s.id}` }, `Session ${s.id}`)),
        h("td", {}, String(s.connector_id)), h("td", {}, s.id_tag || "–"), h("td", {}, agoEl(s.started_at)),
        h("td", {}, energy === null ? "–" : kwh(energy)));
    }));
}

function connectorOptions(station, { withStation = false } = {}) {
  const ids = station.connectors.map((c) => c.connector_id).filter((id) => id > 0);
  const options = (ids.length ? ids : [1]).map((id) => [id, `Connector ${id}`]);
  return withStation ? [[0, "The whole station (0)"], ...options] : options;
}

function actionForm(title, controls, act, note) {
  const result = outcome();
  const form = h("form", { class: "action", "aria-label": title },
    h("h3", {}, title), note ? h("p", { class: "hint" }, note) : null, controls, actionButton(title), result);
  onSubmit(form, result, act);
  return form;
}

function actions(station, sessions, configuration, refresh) {
  const id = station.id;
  const send = (action, payload, after) => async () => {
    const reply = await command(id, action, payload());
    if (after) after();
    return replyText(reply);
  };
  let f;
  const forms = [];
  f = {
    connector: select("connectorId", connectorOptions(station)),
    idTag: h("input", { name: "idTag", required: true, maxlength: "20", value: "CONSOLE" }),
  };
  forms.push(actionForm("Remote start", [field("Connector", f.connector), field("Id tag", f.idTag)],
    send("RemoteStartTransaction", ((c) => () => ({ connectorId: Number(c.connector.value), idTag: c.idTag.value.trim() }))(f),
      () => setTimeout(refresh, 1500))));
  f = { transaction: select("transactionId", sessions.length
    ? sessions.map((s) => [s.id, `Session ${s.id} (connector ${s.connector_id})`]) : [["", "No active session"]]) };
  forms.push(actionForm("Remote stop", [field("Session", f.transaction)],
    ((c) => async () => {
      if (!c.transaction.value) return ["bad", "There is no active session to stop."];
      return send("RemoteStopTransaction", () => ({ transactionId: Number(c.transaction.value) }),
        () => setTimeout(refresh, 1500))();
    })(f)));
  f = { type: select("type", [["Soft", "Soft (restart the software)"], ["Hard", "Hard (power-cycle)"]]) };
  forms.push(actionForm("Reset", [field("Kind", f.type)], send("Reset", ((c) => () => ({ type: c.type.value }))(f))));
  f = { connector: select("connectorId", connectorOptions(station)) };
  forms.push(actionForm("Unlock connector", [field("Connector", f.connector)],
    send("UnlockConnector", ((c) => () => ({ connectorId: Number(c.connector.value) }))(f))));
  f = {
    connector: select("connectorId", connectorOptions(station, { withStation: true })),
    type: select("type", [["Operative", "Operative"], ["Inoperative", "Inoperative"]]),
  };
  forms.push(actionForm("Change availability", [field("Connector", f.connector), field("Availability", f.type)],
    send("ChangeAvailability", ((c) => () => ({ connectorId: Number(c.connector.value), type: c.type.value }))(f))));
  f = {
    message: select("requestedMessage", TRIGGERS.map((t) => [t, t])),
    connector: select("connectorId", [["", "Not about a connector"], ...connectorOptions(station)]),
  };
  forms.push(actionForm("Trigger message", [field("Message", f.message), field("Connector", f.connector)],
    send("TriggerMessage", ((c) => () => ({ requestedMessage: c.message.value,
      ...(c.connector.value ? { connectorId: Number(c.connector.value) } : {}) }))(f))));
  const keys = (configuration?.keys || []).filter((k) => !k.readonly).map((k) => k.key);
  const list = h("datalist", { id: "configuration-keys" }, keys.map((key) => h("option", { value: key })));
  f = {
    key: h("input", { name: "key", required: true, maxlength: "50", list: "configuration-keys" }),
    value: h("input", { name: "value", required: true, maxlength: "500" }),
  };
  forms.push(actionForm("Change configuration", [field("Key", f.key), list, field("Value", f.value)],
    send("ChangeConfiguration", ((c) => () => ({ key: c.key.value.trim(), value: c.value.value }))(f),
      () => setTimeout(refresh, 500))));
  return h("div", {}, readOnlyNote(), h("div", { class: "actions" }, forms));
}

function configurationTable(configuration) {
  if (!configuration) return h("p", { class: "empty" }, "Not read yet.");
  const desired = new Map((configuration.desired?.keys || []).map((k) => [k.key, k]));
  const rows = configuration.keys.map((k) => {
    const want = desired.get(k.key);
    return h("tr", {},
      h("th", { scope: "row" }, k.key),
      h("td", { class: "value" }, k.value ?? "–"),
      h("td", { class: "value" }, want ? String(want.value) : "–"),
      h("td", {}, want ? (want.status || "–") : "–"),
      h("td", {}, k.readonly ? "read-only" : "writable"),
      h("td", {}, agoEl(k.reported_at)));
  });
  const reported = new Set(configuration.keys.map((k) => k.key));
  for (const want of desired.values()) {
    if (reported.has(want.key)) continue;
    rows.push(h("tr", {}, h("th", { scope: "row" }, want.key), h("td", { class: "value" }, "not reported"),
      h("td", { class: "value" }, String(want.value)), h("td", {}, want.status || "–"), h("td", {}, "–"), h("td", {}, "–")));
  }
  const changes = (configuration.changes || []).slice(0, 10);
  return h("div", {},
    h("p", {}, `Desired state: ${configuration.desired?.status || "none"}.`),
    table("Configuration keys", ["Key", "Reported value", "Desired value", "Desired state", "Access", "Read"], rows,
      { empty: "The station has not reported its configuration." }),
    changes.length ? h("h3", {}, "Latest changes") : null,
    changes.length ? table("Configuration changes", ["Key", "Value", "Answer", "When"], changes.map((c) => h("tr", {},
      h("th", { scope: "row" }, c.key), h("td", { class: "value" }, c.value ?? "–"), h("td", {}, c.status || "–"),
      h("td", {}, agoEl(c.changed_at || c.requested_at || c.at))))) : null);
}

function pretty(frameText) {
  try {
    return JSON.stringify(JSON.parse(frameText), null, 2);
  } catch {
    return frameText;
  }
}

function framesTable(frames) {
  return table("Recent OCPP frames", ["Time", "Direction", "Action", "Type", "Payload"], frames.map((f) => h("tr", {},
    h("td", {}, time(f.logged_at)),
    h("td", {}, f.direction === "in" ? "station → ChargePlane" : "ChargePlane → station"),
    h("th", { scope: "row" }, f.action || "–"),
    h("td", {}, MESSAGE_TYPES[f.message_type] || "unreadable"),
    h("td", {}, h("details", {}, h("summary", {}, `${f.frame.length} characters`), h("pre", {}, pretty(f.frame)))))),
    { empty: "No frames logged for this station yet." });
}

// A part of the page that loads on its own (a failure there leaves the rest), with its pager:
// the API's (`hasPager`), or pages of the whole list the API answered.
function pagedPart(load, render) {
  const holder = h("div", {}, h("p", { class: "loading" }, "Loading…"));
  const show = async (offset) => {
    try {
      const { items, limit, hasPager } = await load(offset);
      if (!hasPager) {
        const page = items.slice(offset, offset + LIST_PAGE);
        const paged = items.length > LIST_PAGE;
        replace(holder, render(page), paged ? pager({ offset, limit: LIST_PAGE, count: page.length, total: items.length }, show) : null);
        return;
      }
      const paged = offset > 0 || items.length === limit;
      replace(holder, render(items), paged ? pager({ offset, limit, count: items.length }, show) : null);
    } catch (error) {
      replace(holder, errorBox(error));
    }
  };
  show(0);
  return holder;
}

function simpleTable(label, columns, empty) {
  return (items) => table(label, columns.map(([title]) => title), items.map((item) => h("tr", {},
    columns.map(([, value], i) => (i === 0 ? h("th", { scope: "row" }, value(item)) : h("td", {}, value(item)))))),
  { empty });
}

export async function render(page) {
  const { main, params, onLeave } = page;
  const [id] = params;
  let station = await api(path(id));
  const indicator = h("span", { class: "live-indicator" });
  const head = h("div", {}, summary(station));
  const connectors = h("div", {}, connectorsTable(station));
  const sessionsHolder = h("div", {});
  const actionsHolder = h("div", {});
  const configurationHolder = h("div", {});
  let sessions = [];
  let configuration = null;

  const refresh = async () => {
    const [active, config] = await Promise.all([
      api("/sessions", { query: { station_id: id, status: "active", limit: 20 } }).catch(() => ({ items: [] })),
      api(`${path(id)}/configuration`).catch(() => null),
    ]);
    sessions = active.items;
    configuration = config;
    replace(sessionsHolder, activeSessions(sessions, station));
    replace(configurationHolder, configurationTable(configuration));
    if (!actionsHolder.contains(document.activeElement)) replace(actionsHolder, actions(station, sessions, configuration, refresh));
  };
  await refresh();

  const q = (query) => Object.fromEntries(Object.entries(query).filter(([, v]) => v !== undefined));
  replace(main,
    h("p", { class: "crumbs" }, h("a", { href: "/stations" }, "Stations"), " / ", id),
    h("div", { class: "title-row" }, h("h1", {}, `Station ${id}`), indicator),
    h("nav", { class: "jump", "aria-label": "On this page" }, h("ul", {}, [
      ["#connectors", "Connectors"], ["#active", "Active session"], ["#actions", "Actions"], ["#configuration", "Configuration"],
      ["#frames", "Frames"], ["#reservations", "Reservations"], ["#profiles", "Charging profiles"],
      ["#certificates", "Certificates"], ["#security-events", "Security events"],
    ].map(([href, text]) => h("li", {}, h("a", { href }, text))))),
    head,
    section("Connectors", "connectors", connectors),
    section("Active session", "active", sessionsHolder),
    section("Actions", "actions", actionsHolder),
    section("Configuration", "configuration", configurationHolder),
    section("Recent OCPP frames", "frames", pagedPart(
      async (offset) => ({ ...(await api(`${path(id)}/frames`, { query: q({ limit: FRAMES_PAGE, offset }) })), limit: FRAMES_PAGE, hasPager: true }),
      framesTable)),
    section("Reservations", "reservations", pagedPart(
      async (offset) => ({ ...(await api(`${path(id)}/reservations`, { query: { limit: LIST_PAGE, offset } })), limit: LIST_PAGE, hasPager: true }),
      simpleTable("Reservations", [
        ["Reservation", (r) => String(r.reservation_id ?? r.id)], ["Connector", (r) => String(r.connector_id)],
        ["Id tag", (r) => r.id_tag], ["Status", (r) => badge(r.status)], ["Expires", (r) => time(r.expires_at)],
      ], "No reservations."))),
    section("Charging profiles", "profiles", pagedPart(
      async () => ({ ...(await api(`${path(id)}/charging-profiles`)), hasPager: false }),
      simpleTable("Charging profiles", [
        ["Profile", (p) => String(p.charging_profile_id ?? p.profile_id ?? p.id)],
        ["Connector", (p) => String(p.connector_id ?? "–")],
        ["Purpose", (p) => p.purpose ?? p.charging_profile_purpose ?? p.profile?.chargingProfilePurpose ?? "–"],
        ["Stack level", (p) => String(p.stack_level ?? p.profile?.stackLevel ?? "–")],
        ["Details", (p) => h("details", {}, h("summary", {}, "Profile"), h("pre", {}, JSON.stringify(p.profile ?? p, null, 2)))],
      ], "No charging profiles are installed."))),
    section("Certificates", "certificates", pagedPart(
      async () => ({ ...(await api(`${path(id)}/certificates`)), hasPager: false }),
      simpleTable("Certificates", [
        ["Serial", (c) => c.serial_number ?? c.serial ?? c.id ?? "–"], ["Kind", (c) => c.certificate_type ?? c.kind ?? "–"],
        ["Status", (c) => c.status ?? "–"], ["Valid until", (c) => time(c.not_after ?? c.valid_to)],
      ], "No certificates."))),
    section("Security events", "security-events", pagedPart(
      async (offset) => ({ ...(await api(`${path(id)}/security-events`, { query: { limit: LIST_PAGE, offset } })), limit: LIST_PAGE, hasPager: true }),
      simpleTable("Security events", [
        ["Event", (e) => e.type ?? e.event_type], ["Information", (e) => e.tech_info ?? e.info ?? "–"],
        ["When", (e) => time(e.occurred_at ?? e.timestamp)],
      ], "No security events."))));

  onLeave(liveStations([id], {
    indicator,
    onStation(fresh) {
      const transactionsChanged = JSON.stringify(fresh.connectors.map((c) => c.transaction_id)) !==
        JSON.stringify(station.connectors.map((c) => c.transaction_id));
      station = fresh;
      replace(head, summary(station));
      replace(connectors, connectorsTable(station));
      if (transactionsChanged) refresh();
      else replace(sessionsHolder, activeSessions(sessions, station));
    },
  }));
}
