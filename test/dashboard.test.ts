// The fleet console in a real browser (issue 8): Debian's chromium driven by playwright-core against a
// real fleet server (mosquitto, SQLite) with the dashboard in front of its API on one port, and devices
// run by the host simulator. Each test waits for conditions (generous timeouts, no timed assertions: the
// dashboard's speed is measured in bench/dashboard.ts). A failing test leaves screenshots in
// .tmp/screenshots.
import test, { type ExecutionContext } from "ava";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { utf8 } from "../sdk/cbor/encode";
import { encodeKey, type CoseKey } from "../sdk/cose/key";
import { TrustList } from "../sdk/trust";
import { nodeCrypto } from "../ports/node/crypto";
import { writeOutput } from "../host/cli/util";
import { generateDeviceKey, writeIdentity } from "../host/identity-files";
import { thermostatApp } from "../host/sim/apps";
import { Simulator } from "../host/sim/simulator";
import { ApiGuard, buildDashboard, CONTENT_SECURITY_POLICY, createFleetHttpApi, FleetServer, serveHttp, withDashboard } from "../host/server/index";
import { startMosquitto } from "./support/brokers";
import { simUpdate, updateKeys } from "./support/updates";
import { launchChromium, withScreenshots } from "./support/browser";

const PASSWORD = "correct horse battery staple";
const WAIT = { timeout: 20_000 };

interface Console {
  url: string;
  server: FleetServer;
  guard: ApiGuard;
  /** Starts the simulated thermostats (their identities trust `keys`). */
  startDevices(): Promise<Simulator>;
  /** The key files of the operators the devices trust: ES256 "ops-admin" (administer), EdDSA "ops-operator" (operate). */
  keyFiles: { admin: string; operator: string };
  operators: Record<"admin" | "operator", CoseKey>;
  browser: Browser;
  pages: Page[];
  /** A new page logged in as `name`. */
  loggedIn(name: string): Promise<Page>;
}

async function fleetConsole(t: ExecutionContext, deviceIds: string[]): Promise<Console> {
  const dir = mkdtempSync(join(tmpdir(), "gh-dashboard-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());

  const operators: Record<"admin" | "operator", CoseKey> = {
    admin: nodeCrypto.generateKey("ES256", utf8("ops-admin")),
    operator: nodeCrypto.generateKey("EdDSA", utf8("ops-operator")),
  };
  const keyFiles = { admin: join(dir, "ops-admin.key"), operator: join(dir, "ops-operator.key") };
  writeOutput(keyFiles.admin, encodeKey(operators.admin, true), { mode: 0o600 });
  writeOutput(keyFiles.operator, encodeKey(operators.operator, true), { mode: 0o600 });
  const trust = new TrustList([
    { key: operators.admin, role: "administer" },
    { key: operators.operator, role: "operate" },
  ]);
  const identitiesDir = join(dir, "identities");
  for (const id of deviceIds) writeIdentity(identitiesDir, { id, key: generateDeviceKey(id), trust });

  const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: join(dir, "fleet.db"), identitiesDir, clientId: `dashboard-${process.pid}-${deviceIds[0]}` });
  t.teardown(() => server.stop());
  const guard = ApiGuard.open(server.store.db);
  await guard.accounts.addUser("ada", "administer", PASSWORD);
  await guard.accounts.addUser("otto", "operate", PASSWORD);
  await guard.accounts.addUser("vera", "view", PASSWORD);
  const served = await serveHttp(withDashboard(createFleetHttpApi(server, { guard }), await buildDashboard()), { host: "127.0.0.1", port: 0 });
  t.teardown(() => served.close());

  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const pages: Page[] = [];
  return {
    url: served.url,
    server,
    guard,
    keyFiles,
    operators,
    browser,
    pages,
    async startDevices() {
      // A reading every second, the room 60x real time.
      const sim = await Simulator.start({ brokerUrl: broker.url, devices: deviceIds.length, example: thermostatApp({ tickMs: 200, readingEvery: 5 }), world: { timeScale: 60 }, identitiesDir });
      t.teardown(() => sim.stop(false));
      return sim;
    },
    async loggedIn(name) {
      const page = await browser.newPage();
      pages.push(page);
      page.on("pageerror", (e) => t.log(`page error: ${e.message}`));
      await page.goto(`${served.url}/`);
      await page.getByLabel("Name").fill(name);
      await page.getByLabel("Password").fill(PASSWORD);
      await page.getByRole("button", { name: "Log in" }).click();
      await page.locator("#caller").waitFor(WAIT);
      return page;
    },
  };
}

test("log in; the fleet page shows a simulated device as soon as it connects, live, with its state; the page is served with a strict CSP", async (t) => {
  const c = await fleetConsole(t, ["thermo-a1"]);
  await withScreenshots(t.title, () => c.pages, async () => {
    // The files: no inline script, no other origin.
    const index = await fetch(`${c.url}/`);
    t.is(index.status, 200);
    t.is(index.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY);
    t.regex(CONTENT_SECURITY_POLICY, /script-src 'self'(;|$)/);
    t.notRegex(await index.text(), /<script(?![^>]*\bsrc=)/, "no inline script");
    t.is((await fetch(`${c.url}/app/nothing.js`)).status, 404);
    t.is((await fetch(`${c.url}/api/devices`)).status, 401, "the API behind the files still needs credentials");

    // A wrong password first: the form says so and stays.
    const page = await c.browser.newPage();
    c.pages.push(page);
    const violations: string[] = [];
    page.on("console", (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    await page.goto(`${c.url}/`);
    await page.getByLabel("Name").fill("ada");
    await page.getByLabel("Password").fill("not the password");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("alert").filter({ hasText: "Wrong name or password." }).waitFor(WAIT);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByLabel("Password").press("Enter");
    await page.locator("#caller", { hasText: "ada (administer)" }).waitFor(WAIT);
    await page.locator("#fleet-count", { hasText: "1 device, 0 online" }).waitFor(WAIT);

    // The device connects now: its row turns online without a reload.
    await c.startDevices();
    const row = page.locator('tr[data-device="thermo-a1"][data-online="true"]');
    await row.waitFor(WAIT);
    t.regex(await row.innerText(), /online\s+thermostat-sim 0\.1\.0/);
    t.is(await page.locator("#fleet-count").innerText(), "1 device, 1 online");

    // Keyboard: the device's link is reachable with Tab and opens its page with Enter.
    await page.locator("a", { hasText: "thermo-a1" }).focus();
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Device thermo-a1" }).waitFor(WAIT);
    await page.locator('[data-door="setpoint"]').waitFor(WAIT);
    t.regex(await page.locator('[data-door="setpoint"]').innerText(), /write\.limits\s+property\s+administer/);
    // Telemetry arrives as a chart.
    await page.locator("[data-telemetry] canvas").first().waitFor(WAIT);
    t.deepEqual(violations, [], "no CSP violations");
  });
});

test("a viewer sees no command form, and the API refuses the viewer's command (403 not-allowed); the audit page is for administrators", async (t) => {
  const c = await fleetConsole(t, ["thermo-b1"]);
  await c.startDevices();
  await withScreenshots(t.title, () => c.pages, async () => {
    const page = await c.loggedIn("vera");
    await page.goto(`${c.url}/#/device/thermo-b1`);
    await page.locator('[data-door="setpoint"]').waitFor(WAIT);
    t.is(await page.locator("#command-form").count(), 0, "no command form for a viewer");
    t.is(await page.getByRole("link", { name: "Audit log" }).count(), 0);
    // The same session calling the API directly, with its CSRF token: refused by the server.
    const answer = await page.evaluate(async () => {
      const { csrfToken } = await (await fetch("/api/session")).json();
      const r = await fetch("/api/commands", { method: "POST", headers: { "content-type": "application/json", "x-csrf-token": csrfToken }, body: JSON.stringify({ message: "oA==", device: "thermo-b1", door: "setpoint" }) });
      return { status: r.status, body: await r.json() };
    });
    t.is(answer.status, 403);
    t.is(answer.body.error.code, "not-allowed");
    const refused = c.guard.audit.entries({ principal: "vera" }).filter((e) => e.route === "/api/commands");
    t.like(refused.at(-1), { status: 403, code: "not-allowed", principalKind: "user" });

    // An administrator has the audit page, and it shows that refusal.
    const admin = await c.loggedIn("ada");
    await admin.getByRole("link", { name: "Audit log" }).click();
    await admin.locator("#audit tbody tr", { hasText: "403 not-allowed" }).first().waitFor(WAIT);
    t.regex(await admin.locator("#audit tbody tr", { hasText: "403 not-allowed" }).first().innerText(), /user vera/);
  });
});

test("a command signed in the browser (WebCrypto, ES256 and Ed25519) gets the device's verified result; the key never leaves the page; a refused one appears in the live events", async (t) => {
  const c = await fleetConsole(t, ["thermo-c1"]);
  await c.startDevices();
  await withScreenshots(t.title, () => c.pages, async () => {
    const events = await c.loggedIn("otto");
    await events.getByRole("link", { name: "Security events" }).click();
    await events.locator("#events-live", { hasText: "Live." }).waitFor(WAIT);

    const page = await c.loggedIn("otto");
    const sent: string[] = [];
    page.on("request", (r) => {
      if (r.method() !== "GET") sent.push(r.postData() ?? "");
    });
    await page.goto(`${c.url}/#/device/thermo-c1`);
    await page.locator("#command-form").waitFor(WAIT);
    await page.locator('[data-door="setpoint"]').waitFor(WAIT);

    // ES256 (the administrator's key): write the target.
    await page.getByLabel("Your private key file").setInputFiles(c.keyFiles.admin);
    await page.locator("#command-key-state", { hasText: 'Key "ops-admin" (ES256) loaded' }).waitFor(WAIT);
    await page.getByLabel("Door").selectOption("setpoint");
    await page.getByLabel("Operation").selectOption("write.target");
    await page.getByLabel("Argument").fill("23.5");
    await page.getByRole("button", { name: "Sign and send" }).click();
    const result = page.locator("#command-result");
    await page.locator('#command-result[data-outcome="ok"][data-verified="true"]').waitFor(WAIT);
    t.regex(await result.innerText(), /^ok .*verified with the device's key/);
    const thermostat = await c.server.device("thermo-c1");
    t.truthy(thermostat?.results.some((r) => r.op === "write.target" && r.ok && r.sender === Buffer.from("ops-admin").toString("hex")), "the device ran it, signed by ops-admin");

    // Ed25519 (the operator's key, role operate on the device): reading is allowed...
    await page.getByLabel("Your private key file").setInputFiles(c.keyFiles.operator);
    await page.locator("#command-key-state", { hasText: 'Key "ops-operator" (EdDSA) loaded' }).waitFor(WAIT);
    await page.getByLabel("Operation").selectOption("read.target");
    await page.getByRole("button", { name: "Sign and send" }).click();
    await page.locator('#command-result[data-outcome="ok"][data-verified="true"]', { hasText: "23.5" }).waitFor(WAIT);

    // ...changing the limits is refused by the door's rule, and the refusal is in the events page, live.
    await page.getByLabel("Operation").selectOption("write.limits");
    await page.locator("#command-args fieldset").waitFor(WAIT);
    await page.getByLabel("min").fill("10");
    await page.getByLabel("max").fill("30");
    await page.getByRole("button", { name: "Sign and send" }).click();
    await page.locator('#command-result[data-outcome="refused"][data-verified="true"]').waitFor(WAIT);
    t.regex(await result.innerText(), /refused by the device: not-allowed/);
    const row = events.locator('#events tr[data-code="not-allowed"]', { hasText: "write.limits" });
    await row.first().waitFor(WAIT);
    t.regex(await row.first().innerText(), /thermo-c1/);
    // The filter narrows to it.
    await events.getByLabel("Code").fill("not-allowed");
    await events.getByLabel("Device").fill("thermo-c1");
    t.true((await events.locator("#events tbody tr").count()) >= 1);
    t.is(await events.locator('#events tbody tr:not([data-code="not-allowed"])').count(), 0);

    // What left the page: signed messages only, never the private key, in any encoding.
    t.true(sent.length >= 3);
    for (const body of sent) {
      const message = (JSON.parse(body) as { message?: string }).message;
      const bytes = message === undefined ? Buffer.alloc(0) : Buffer.from(message, "base64");
      for (const key of Object.values(c.operators)) {
        const d = Buffer.from(key.d as Uint8Array);
        t.false(bytes.includes(d), "no private key in a signed message");
        for (const text of [d.toString("hex"), d.toString("base64"), d.toString("base64url")]) t.false(body.includes(text), "no private key in a request");
      }
    }
  });
});

test("the rollouts page: none at first, then a rollout's waves with each device's state, progress and reason, live; an administrator aborts it", async (t) => {
  const c = await fleetConsole(t, ["thermo-d1"]);
  await withScreenshots(t.title, () => c.pages, async () => {
    const page = await c.loggedIn("ada");
    await page.getByRole("link", { name: "Rollouts" }).click();
    await page.locator("#no-rollouts").waitFor(WAIT);
    t.regex(await page.locator("#no-rollouts").innerText(), /No rollouts/);

    // A signed update to a device provisioned without update keys: it refuses the offer (update-no-trust),
    // one failure more than the rollout tolerates, so the rollout halts.
    const sim = await c.startDevices();
    await sim.waitOnline();
    const update = simUpdate({ app: "thermostat", firmware: "thermostat-sim 9.9.9", seq: 7, keys: updateKeys(1) });
    const created = await c.server.createRollout({ file: update.file, devices: ["thermo-d1"], maxFailures: 0 });
    const section = page.locator(`[data-rollout="${created.id}"]`);
    await section.waitFor(WAIT);
    t.regex(await section.locator("h2").innerText(), new RegExp(`Rollout ${created.id} \\(manifest 7, [\\d,]+ bytes\\)`));
    const row = section.locator("tbody tr", { hasText: "thermo-d1" });
    await row.locator("td.refused", { hasText: "update-no-trust" }).waitFor(WAIT);
    t.regex(await row.innerText(), /thermo-d1\s+refused/);
    await section.locator("h2", { hasText: "halted" }).waitFor(WAIT);
    t.regex(await section.locator("caption").innerText(), /Wave 1: ended/);

    await section.getByRole("button", { name: `Abort rollout ${created.id}` }).click();
    await section.locator("h2", { hasText: "aborted" }).waitFor(WAIT);
    t.is(c.server.rollout(created.id)?.state, "aborted");
    t.is(await section.getByRole("button").count(), 0, "no abort button on an ended rollout");
  });
});
