// Pieces every page uses: the pager, a result next to the button that was pressed, the live
// stream of station status, the signed-in user.

import { h, replace } from "./dom.js";

export const session = { user: null, role: null, scopes: [] };

export function canOperate() {
  return session.scopes.includes("operate");
}

export const READ_ONLY_NOTE = "Your role is read: you can see everything here, not change it. Actions need the operate role.";

// A button that acts: disabled, and saying why, for a read user.
export function actionButton(text, attrs = {}) {
  if (canOperate()) return h("button", { type: "submit", ...attrs }, text);
  return h("button", { type: "submit", ...attrs, disabled: true, title: READ_ONLY_NOTE }, text);
}

export function readOnlyNote() {
  return canOperate() ? null : h("p", { class: "note", role: "note" }, READ_ONLY_NOTE);
}

// Where the outcome of an action shows: beside the form that was sent.
export function outcome() {
  return h("p", { class: "outcome", role: "status", "aria-live": "polite" });
}

export function showOutcome(el, kind, text) {
  el.className = `outcome ${kind}`;
  replace(el, text);
}

export function errorBox(error) {
  return h("p", { class: "error", role: "alert" }, error.message || String(error));
}

// Runs a form's action: the button waits, the outcome shows beside it.
export function onSubmit(form, result, act) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    if (button?.disabled) return;
    button.disabled = true;
    showOutcome(result, "pending", "Sending…");
    try {
      const [kind, text] = await act(new FormData(form));
      showOutcome(result, kind, text);
    } catch (error) {
      showOutcome(result, "bad", error.message || String(error));
    } finally {
      button.disabled = false;
    }
  });
}

// Previous / next over a list the API pages with limit and offset.
export function pager({ offset, limit, count, total }, go) {
  if (offset === 0 && count === 0) return null;
  const first = count ? offset + 1 : 0;
  const last = offset + count;
  const ofTotal = total === undefined ? "" : ` of ${total}`;
  const hasNext = total === undefined ? count === limit : last < total;
  return h("nav", { class: "pager", "aria-label": "Pages" },
    h("button", { type: "button", disabled: offset <= 0, onclick: () => go(Math.max(0, offset - limit)) }, "Previous"),
    h("span", { "aria-live": "polite" }, count ? `${first}–${last}${ofTotal}` : `none${ofTotal}`),
    h("button", { type: "button", disabled: !hasNext, onclick: () => go(offset + limit) }, "Next"));
}

// Station status as it changes (server-sent events), with a small indicator of the stream.
export function liveStations(stationIds, { onStation, onCounts, indicator }) {
  const url = new URL("/api/v1/station-updates", window.location.origin);
  for (const id of stationIds || []) url.searchParams.append("station_id", id);
  const source = new EventSource(url);
  const say = (text, kind) => indicator && replace(indicator, h("span", { class: `live ${kind}` }, text));
  say("Connecting…", "pending");
  source.addEventListener("open", () => say("Live", "good"));
  source.addEventListener("error", () => say("Reconnecting…", "pending"));
  source.addEventListener("station", (event) => onStation && onStation(JSON.parse(event.data)));
  source.addEventListener("counts", (event) => onCounts && onCounts(JSON.parse(event.data)));
  source.addEventListener("session-ended", () => {
    source.close();
    window.dispatchEvent(new Event("chargeplane:signed-out"));
  });
  return () => source.close();
}
