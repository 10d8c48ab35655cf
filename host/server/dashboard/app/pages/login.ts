import { ApiError, type Api, type Caller } from "../api";
import { h } from "../dom";

/** The login form; `done` gets the caller once the session is open. */
export function loginPage(main: HTMLElement, api: Api, done: (caller: Caller) => void): void {
  const name = h("input", { id: "login-name", name: "username", type: "text", autocomplete: "username", required: true });
  const password = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const error = h("p", { class: "error", role: "alert" });
  const button = h("button", { type: "submit", class: "primary" }, "Log in");
  const form = h(
    "form",
    { class: "stack login", "aria-labelledby": "login-title" },
    h("label", { for: "login-name" }, "Name"),
    name,
    h("label", { for: "login-password" }, "Password"),
    password,
    h("p", {}, button),
    error,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    button.disabled = true;
    try {
      done(await api.login(name.value, password.value));
    } catch (e) {
      password.value = "";
      if (e instanceof ApiError && e.status === 401) error.textContent = "Wrong name or password.";
      else error.textContent = e instanceof Error ? e.message : String(e);
      password.focus();
    } finally {
      button.disabled = false;
    }
  });
  main.replaceChildren(h("h1", { id: "login-title", tabindex: -1 }, "Log in to the fleet console"), form);
  name.focus();
}
