// The fleet console's start: who is logged in (GET /api/session), the login form if nobody, else the
// navigation and the page the address names (#/fleet, #/device/ID, #/events, #/audit, #/rollouts). Pages
// change without a reload; each moves the focus to its heading, for keyboard and screen reader users.

import { Api, atLeast, type Caller } from "./api";
import { FleetFeed, type AppContext, type Page } from "./context";
import { announce, h } from "./dom";
import { auditPage } from "./pages/audit";
import { devicePage } from "./pages/device";
import { eventsPage } from "./pages/events";
import { fleetPage } from "./pages/fleet";
import { loginPage } from "./pages/login";
import { rolloutsPage } from "./pages/rollouts";

const api = new Api();
const main = document.getElementById("main") as HTMLElement;
const nav = document.getElementById("nav") as HTMLElement;
const who = document.getElementById("who") as HTMLElement;

let context: AppContext | undefined;
let current: Page | undefined;

const PAGES: { hash: string; label: string; visible: (c: Caller) => boolean }[] = [
  { hash: "#/fleet", label: "Fleet", visible: () => true },
  { hash: "#/events", label: "Security events", visible: () => true },
  { hash: "#/rollouts", label: "Rollouts", visible: () => true },
  { hash: "#/audit", label: "Audit log", visible: (c) => atLeast(c.role, "administer") },
];

function showPage(): void {
  if (!context) return;
  current?.dispose();
  current = undefined;
  const hash = location.hash || "#/fleet";
  for (const link of nav.querySelectorAll("a")) {
    if (hash.startsWith(link.getAttribute("href") ?? "\u0000")) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const device = /^#\/device\/(.+)$/.exec(hash);
  if (device) current = devicePage(main, context, decodeURIComponent(device[1]));
  else if (hash === "#/events") current = eventsPage(main, context);
  else if (hash === "#/rollouts") current = rolloutsPage(main, context);
  else if (hash === "#/audit" && atLeast(context.caller.role, "administer")) current = auditPage(main, context);
  else if (hash === "#/audit") main.replaceChildren(h("h1", { tabindex: -1 }, "Audit log"), h("p", {}, "The audit log needs the role administer."));
  else current = fleetPage(main, context);
  const heading = main.querySelector("h1");
  document.title = `${heading?.textContent ?? "Gatehouse"} · Gatehouse`;
  heading?.focus();
}

function start(caller: Caller): void {
  context = {
    api,
    caller,
    fleet: new FleetFeed(
      (connected) => announce(connected ? "Live" : "Connection lost: reconnecting…"),
      () => {
        // The server refused the stream: when the session has ended, the login form again.
        api.session().then(
          (still) => {
            if (!still) location.reload();
            else announce("The live feed was refused; reload the page to try again.");
          },
          () => announce("The server cannot be reached; reload the page to try again."),
        );
      },
    ),
  };
  nav.replaceChildren(...PAGES.filter((p) => p.visible(caller)).map((p) => h("a", { href: p.hash }, p.label)));
  nav.hidden = false;
  const logout = h("button", { type: "button", id: "logout" }, "Log out");
  logout.addEventListener("click", async () => {
    try {
      await api.logout();
    } finally {
      location.hash = "";
      location.reload();
    }
  });
  who.replaceChildren(h("span", { id: "caller" }, `${caller.name} (${caller.role})`), logout);
  showPage();
}

window.addEventListener("hashchange", showPage);

(async () => {
  const caller = await api.session();
  if (caller) start(caller);
  else loginPage(main, api, start);
})().catch((e: unknown) => {
  main.replaceChildren(h("h1", {}, "The fleet console cannot start"), h("p", { class: "error" }, (e as Error).message));
});
