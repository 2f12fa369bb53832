// The console: who is signed in, which page the address shows, links that stay in the page.

import { api, setCsrfToken } from "./api.js";
import { h, refreshTimes, replace } from "./dom.js";
import { session } from "./ui.js";
import * as bills from "./pages/bills.js";
import * as firmware from "./pages/firmware.js";
import * as idTags from "./pages/id-tags.js";
import * as sessions from "./pages/sessions.js";
import * as signIn from "./pages/sign-in.js";
import * as station from "./pages/station.js";
import * as stations from "./pages/stations.js";
import * as tariffs from "./pages/tariffs.js";

const ROUTES = [
  [/^\/(?:stations)?$/, stations.render],
  [/^\/stations\/([^/]+)$/, station.render],
  [/^\/sessions$/, sessions.renderList],
  [/^\/sessions\/(\d+)$/, sessions.renderOne],
  [/^\/bills$/, bills.render],
  [/^\/tariffs$/, tariffs.renderList],
  [/^\/tariffs\/([^/]+)$/, tariffs.renderOne],
  [/^\/id-tags$/, idTags.render],
  [/^\/firmware-campaigns$/, firmware.renderList],
  [/^\/firmware-campaigns\/(\d+)$/, firmware.renderOne],
  [/^\/sign-in$/, signIn.render],
];

const main = document.getElementById("main");
let firstShow = true;
let leaving = [];  // what the current page stops when another is shown (live streams, timers)

// `keepFocus`: the same page read again (after an action), not a new one.
export function navigate(path, { replaceState = false, keepFocus = false } = {}) {
  if (replaceState) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  show({ keepFocus });
}

async function show({ keepFocus = false } = {}) {
  for (const stop of leaving) stop();
  leaving = [];
  const { pathname, search } = window.location;
  const query = new URLSearchParams(search);
  if (pathname !== "/sign-in" && !session.user) {
    navigate(`/sign-in?next=${encodeURIComponent(pathname + search)}`, { replaceState: true });
    return;
  }
  renderWho();
  markCurrentLink(pathname);
  const route = ROUTES.find(([pattern]) => pattern.test(pathname));
  if (!route) {
    replace(main, h("h1", {}, "Not found"), h("p", {}, "There is no such page in the console. "),
      h("p", {}, h("a", { href: "/stations" }, "Go to the stations")));
    return;
  }
  const params = route[0].exec(pathname).slice(1).map(decodeURIComponent);
  const page = {
    main, params, query, navigate,
    onLeave: (stop) => leaving.push(stop),
    // a page's own address with other filters or page, kept in the history (back works)
    setQuery(values) {
      const next = new URLSearchParams(query);
      for (const [name, value] of Object.entries(values)) {
        if (value === null || value === undefined || value === "") next.delete(name);
        else next.set(name, value);
      }
      const text = next.toString();
      navigate(pathname + (text ? `?${text}` : ""));
    },
  };
  replace(main, h("p", { class: "loading" }, "Loading…"));
  try {
    await route[1](page);
  } catch (error) {
    replace(main, h("h1", {}, "This page could not be shown"), h("p", { class: "error", role: "alert" }, error.message));
  }
  const heading = main.querySelector("h1");
  if (heading) {
    document.title = `${heading.textContent} · ChargePlane`;
    heading.setAttribute("tabindex", "-1");
    if (!firstShow && !keepFocus) heading.focus();  // a screen reader hears where a link led
  }
  firstShow = false;
}

function markCurrentLink(pathname) {
  for (const link of document.querySelectorAll("#nav a")) {
    const current = pathname === link.pathname || pathname.startsWith(`${link.pathname}/`) ||
      (pathname === "/" && link.pathname === "/stations");
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function renderWho() {
  const who = document.getElementById("who");
  if (!session.user) {
    replace(who);
    return;
  }
  replace(who,
    h("span", {}, `${session.user} `, h("span", { class: `badge role-${session.role}` }, session.role)),
    h("button", { type: "button", class: "link", onclick: signOut }, "Sign out"));
}

async function signOut() {
  try {
    await api("/auth/session", { method: "DELETE" });
  } finally {
    forget();
    navigate("/sign-in?signed-out=1");
  }
}

export function remember(current) {
  session.user = current.user;
  session.role = current.role;
  session.scopes = current.scopes;
  setCsrfToken(current.csrf_token);
}

function forget() {
  session.user = null;
  session.role = null;
  session.scopes = [];
  setCsrfToken(null);
}

window.addEventListener("chargeplane:signed-out", () => {
  if (!session.user) return;
  forget();
  navigate(`/sign-in?ended=1&next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
});

// Links to the console's own pages stay in the page (no reload); others behave as links do.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href]");
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey ||
      event.altKey || link.target || link.origin !== window.location.origin || link.hasAttribute("download") ||
      link.pathname.startsWith("/api/") || link.getAttribute("href").startsWith("#")) return;
  event.preventDefault();
  navigate(link.pathname + link.search);
});
window.addEventListener("popstate", () => show());
setInterval(() => refreshTimes(main), 5000);

async function start() {
  try {
    remember(await api("/auth/session"));
  } catch {
    forget();
  }
  show();
}

start();
