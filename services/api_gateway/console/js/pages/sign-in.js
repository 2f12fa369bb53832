import { api } from "../api.js";
import { field, h, replace } from "../dom.js";
import { remember } from "../main.js";

export async function render(page) {
  const { main, query, navigate } = page;
  const message = h("p", { class: "error", role: "alert" });
  const name = h("input", { name: "name", autocomplete: "username", required: true, maxlength: "64" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true,
    maxlength: "128" });
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h("form", { class: "sign-in", novalidate: true },
    field("User name", name), field("Password", password), button, message);
  let notice = null;
  if (query.has("ended")) notice = "Your session has ended; sign in again.";
  if (query.has("signed-out")) notice = "You are signed out.";
  replace(main,
    h("div", { class: "sign-in-box" },
      h("h1", {}, "Sign in to ChargePlane"),
      notice ? h("p", { class: "note", role: "status" }, notice) : null,
      form,
      h("p", { class: "hint" }, "No user yet? An administrator creates one with ",
        h("code", {}, "chargeplane user add NAME --role read|operate"), ".")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!name.value || !password.value) {
      replace(message, "Enter your user name and password.");
      (name.value ? password : name).focus();
      return;
    }
    button.disabled = true;
    replace(message);
    try {
      remember(await api("/auth/session", { method: "POST", body: { name: name.value, password: password.value } }));
      const next = query.get("next");
      navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/stations", { replaceState: true });
    } catch (error) {
      replace(message, error.message);
      password.value = "";
      password.focus();
    } finally {
      button.disabled = false;
    }
  });
  name.focus();
}
