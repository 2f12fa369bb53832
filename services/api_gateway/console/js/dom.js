// Building the page: elements from data, never HTML from strings, so what a station sends
// (vendor names, frames, configuration values) is always shown as text.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "value") el.value = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// A wide table scrolls sideways on a phone; the region can be reached with the keyboard.
export function table(label, headers, rows, { empty = "Nothing here yet." } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h("div", { class: "scroll", role: "region", "aria-label": label, tabindex: "0" },
    h("table", {},
      h("caption", { class: "visually-hidden" }, label),
      h("thead", {}, h("tr", {}, headers.map((text) => h("th", { scope: "col" }, text)))),
      h("tbody", {}, rows)));
}

export function section(title, id, ...children) {
  return h("section", { id, "aria-labelledby": `${id}-title` }, h("h2", { id: `${id}-title` }, title), children);
}

// Name and value pairs, each pair kept together when the grid wraps.
export function facts(pairs, className = "facts") {
  return h("dl", { class: className }, pairs.map(([name, value, attrs]) => h("div", {}, h("dt", {}, name), h("dd", attrs || {}, value))));
}

export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hint ? h("small", {}, hint) : null);
}

export function select(name, options, selected) {
  return h("select", { name }, options.map(([value, text]) =>
    h("option", { value, selected: String(value) === String(selected ?? "") }, text)));
}

export function badge(text, kind) {
  return h("span", { class: `badge ${kind || String(text).toLowerCase()}` }, text);
}

// ----- formats ------------------------------------------------------------------------------

export function time(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function ago(iso) {
  if (!iso) return "never";
  const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 5) return "just now";
  if (seconds < 90) return `${seconds} s ago`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 36 * 3600) return `${Math.round(seconds / 3600)} h ago`;
  return time(iso);
}

// A time that stays right as the page stays open (see refreshTimes).
export function agoEl(iso) {
  return h("time", { datetime: iso || "", title: time(iso), "data-ago": iso || "" }, ago(iso));
}

export function refreshTimes(root = document) {
  for (const el of root.querySelectorAll("time[data-ago]")) el.textContent = ago(el.dataset.ago || null);
}

export function kwh(wh) {
  if (wh === null || wh === undefined || wh === "") return "–";
  return `${(Number(wh) / 1000).toLocaleString(undefined, { minimumFractionDigits: 3, maximumFractionDigits: 3 })} kWh`;
}

export function money(amount, currency) {
  if (amount === null || amount === undefined) return "–";
  return `${Number(amount).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 })} ${currency || ""}`.trim();
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  const hours = Math.floor(s / 3600), minutes = Math.floor((s % 3600) / 60);
  return hours ? `${hours} h ${minutes} min` : minutes ? `${minutes} min ${s % 60} s` : `${s} s`;
}

// An ISO time for the API from a datetime-local input (the person's own time zone).
export function isoFromLocal(value) {
  return value ? new Date(value).toISOString() : null;
}

export function localFromIso(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
