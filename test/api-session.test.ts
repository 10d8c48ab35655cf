// A person's session as a browser page on the same origin uses it, over a real socket (serveHttp): the
// login's cookie and its flags, GETs with the cookie alone, state-changing calls with the CSRF token and a
// same-origin Origin, every cross-site shape refused (csrf-failed), logout, idle and absolute expiry.
// The guard's clock is moved for the expiry; the server is a real FleetServer over mosquitto.
import test, { type ExecutionContext } from "ava";
import { randomBytes } from "node:crypto";
import { encodeKey, publicKey } from "../sdk/cose/key";
import { generateDeviceKey } from "../host/identity-files";
import { ApiGuard, createFleetHttpApi, FleetServer, serveHttp } from "../host/server/index";
import { SESSION_IDLE_MS, SESSION_MAX_MS } from "../host/server/auth/accounts";
import { startMosquitto } from "./support/brokers";

const PASSWORD = "a long enough passphrase";

async function served(t: ExecutionContext) {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const core = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", clientId: `session-${randomBytes(4).toString("hex")}` });
  t.teardown(() => core.stop());
  const clock = { offset: 0 };
  const guard = ApiGuard.open(core.store.db, { now: () => Date.now() + clock.offset });
  const server = await serveHttp(createFleetHttpApi(core, { guard }), { host: "127.0.0.1", port: 0 });
  t.teardown(() => server.close());
  await guard.accounts.addUser("ada", "manage", PASSWORD);
  return { core, guard, clock, url: server.url };
}

/** POST /api/devices's body: a fresh device's public COSE_Key (as gatehouse provision writes device.pub). */
function keyBody(id: string): string {
  return JSON.stringify({ id, key: Buffer.from(encodeKey(publicKey(generateDeviceKey(id)), false)).toString("base64") });
}

test("a page's session: the login cookie is HttpOnly and SameSite=Strict; GETs need only the cookie; state-changing calls need the CSRF token and a same-origin Origin; logout ends it", async (t) => {
  const { url, core } = await served(t);
  const origin = url; // the page is served by the same server
  const login = await fetch(`${url}/api/session`, { method: "POST", headers: { "content-type": "application/json", origin }, body: JSON.stringify({ name: "ada", password: PASSWORD }) });
  t.is(login.status, 201);
  const setCookie = login.headers.get("set-cookie") ?? "";
  t.regex(setCookie, /^gh_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
  t.false(/Secure/.test(setCookie), "no Secure flag on plain HTTP (the browser would drop the cookie)");
  const body = (await login.json()) as { caller: { name: string; role: string }; csrfToken: string };
  t.like(body.caller, { kind: "user", name: "ada", role: "manage", devicePattern: null });
  const cookie = setCookie.split(";")[0];

  // GETs: the cookie alone.
  const me = await fetch(`${url}/api/session`, { headers: { cookie } });
  t.is(me.status, 200);
  const who = (await me.json()) as { caller: { name: string }; csrfToken: string };
  t.is(who.caller.name, "ada");
  t.is(who.csrfToken, body.csrfToken, "a reloaded page gets the same CSRF token");
  t.is((await fetch(`${url}/api/devices`, { headers: { cookie } })).status, 200);

  // State-changing calls: every cross-site shape is refused before the handler runs.
  const register = (headers: Record<string, string>, id: string) => fetch(`${url}/api/devices`, { method: "POST", headers: { "content-type": "application/json", cookie, ...headers }, body: keyBody(id) });
  const refusals: [string, Record<string, string>][] = [
    ["no CSRF token", { origin }],
    ["a wrong CSRF token", { origin, "x-csrf-token": "A".repeat(43) }],
    ["no Origin", { "x-csrf-token": body.csrfToken }],
    ["another Origin", { origin: "http://evil.example", "x-csrf-token": body.csrfToken }],
    ["Origin null", { origin: "null", "x-csrf-token": body.csrfToken }],
    ["the same host on another scheme", { origin: origin.replace("http:", "https:"), "x-csrf-token": body.csrfToken }],
    ["Sec-Fetch-Site cross-site", { origin, "x-csrf-token": body.csrfToken, "sec-fetch-site": "cross-site" }],
    ["Sec-Fetch-Site same-site", { origin, "x-csrf-token": body.csrfToken, "sec-fetch-site": "same-site" }],
  ];
  for (const [what, headers] of refusals) {
    const response = await register(headers, "dev-refused");
    t.is(response.status, 403, what);
    t.like(await response.json(), { error: { code: "csrf-failed" } }, what);
  }
  t.is(core.device("dev-refused"), undefined, "nothing was registered");
  const allowed = await register({ origin, "x-csrf-token": body.csrfToken, "sec-fetch-site": "same-origin" }, "dev-1");
  t.is(allowed.status, 201);
  t.truthy(core.device("dev-1"));

  // A login from another origin (login CSRF) is refused; a token call needs no CSRF token.
  const foreign = await fetch(`${url}/api/session`, { method: "POST", headers: { "content-type": "application/json", origin: "http://evil.example" }, body: JSON.stringify({ name: "ada", password: PASSWORD }) });
  t.is(foreign.status, 403);
  t.like(await foreign.json(), { error: { code: "csrf-failed" } });

  // Logout: the cookie is cleared and the session ends at the server (the old cookie no longer works).
  const logoutWithout = await fetch(`${url}/api/session`, { method: "DELETE", headers: { cookie, origin } });
  t.is(logoutWithout.status, 403, "logout is state-changing too");
  const logout = await fetch(`${url}/api/session`, { method: "DELETE", headers: { cookie, origin, "x-csrf-token": body.csrfToken } });
  t.is(logout.status, 200);
  t.regex(logout.headers.get("set-cookie") ?? "", /^gh_session=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0$/);
  const after = await fetch(`${url}/api/devices`, { headers: { cookie } });
  t.is(after.status, 401);
  t.like(await after.json(), { error: { code: "session-expired" } });
});

test("sessions end after an hour idle and after twelve hours at most; a forged or stale cookie is a 401, never a 500", async (t) => {
  const { url, clock, guard, core } = await served(t);
  const login = async () => {
    const r = await fetch(`${url}/api/session`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "ada", password: PASSWORD }) });
    return (r.headers.get("set-cookie") ?? "").split(";")[0];
  };
  const status = async (cookie: string) => (await fetch(`${url}/api/session`, { headers: { cookie } })).status;
  const idle = await login();
  clock.offset = SESSION_IDLE_MS - 60_000;
  t.is(await status(idle), 200, "used within the hour");
  clock.offset += SESSION_IDLE_MS - 60_000;
  t.is(await status(idle), 200, "each use moves the idle deadline");
  clock.offset += SESSION_IDLE_MS + 1000;
  t.is(await status(idle), 401, "an hour idle ends it");

  clock.offset = 0;
  const long = await login();
  for (let at = 30 * 60_000; at < SESSION_MAX_MS; at += 30 * 60_000) {
    clock.offset = at;
    if ((await status(long)) !== 200) t.fail(`refused at ${at / 60_000} min`);
  }
  clock.offset = SESSION_MAX_MS + 1000;
  t.is(await status(long), 401, "twelve hours end it, however busy");

  for (const cookie of ["gh_session=", "gh_session=x", `gh_session=${"A".repeat(43)}`, `gh_session=${"é".repeat(10)}`, "other=1"]) {
    const r = await fetch(`${url}/api/devices`, { headers: { cookie } });
    t.is(r.status, 401, cookie);
  }
  // Sessions live in the database only as hashes, and the audit log never holds a cookie.
  const cookie = await login();
  const secret = cookie.split("=")[1];
  t.is(await status(cookie), 200);
  t.false(JSON.stringify(core.store.db.prepare("SELECT * FROM sessions").all()).includes(secret));
  t.false(JSON.stringify(guard.audit.entries({ limit: 1000 })).includes(secret));
});
