// Every API call goes through the same door (issue 8): the fleet API with its guard over a real fleet
// server (mosquitto, SQLite, a real device on the Node ports), called through app.fetch with the
// connection's address. The role matrix is generated from app.routes(): a new route without an example
// here fails; every answer at or above a route's role is checked against the OpenAPI document, and every
// call must be in the audit log. Cookies, CSRF and TLS over real sockets: test/api-session.test.ts.
import test, { type ExecutionContext } from "ava";
import { randomBytes } from "node:crypto";
import { utf8 } from "../sdk/cbor/encode";
import { signCommand } from "../sdk/command/sender";
import { encodeKey, publicKey } from "../sdk/cose/key";
import { Device } from "../sdk/device";
import { ROLES, roleLevel, type Role } from "../sdk/doors/access";
import { nodeCrypto } from "../ports/node/crypto";
import { generateDeviceKey } from "../host/identity-files";
import { nextSequence } from "../host/client/sequence";
import { ApiGuard, createFleetHttpApi, FleetServer, HttpApp, json, LoginLimiter, type HttpApp as App } from "../host/server/index";
import { allowDevice } from "../host/server/auth/guard";
import { startMosquitto } from "./support/brokers";
import { installCounter, nodeDeviceOptions, until } from "./support/devices";
import { bearer, tokenFor } from "./support/api-access";
import { schemaProblems } from "./support/json-schema";

const OPERATOR = nodeCrypto.generateKey("EdDSA", utf8("matrix-operator"));
const DEVICE = "api-1";
const OTHER = "other-1";
const HOST = "fleet.test";
const ORIGIN = `http://${HOST}`;
const ADDRESS = "192.0.2.10";
const PASSWORD = "correct horse battery staple";

interface Fixture {
  core: FleetServer;
  guard: ApiGuard;
  app: App;
  /** Added to the guard's clock (token expiry, sessions, login windows). */
  clock: { offset: number };
  hits: number[];
  log: string[];
  call(method: string, path: string, options?: { body?: unknown; headers?: Record<string, string>; address?: string }): Promise<Response>;
}

async function fixture(t: ExecutionContext, options: { limiter?: LoginLimiter } = {}): Promise<Fixture> {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const core = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", clientId: `access-${randomBytes(4).toString("hex")}` });
  t.teardown(() => core.stop());
  const key = generateDeviceKey(DEVICE);
  core.registerDevice(DEVICE, publicKey(key));
  core.registerDevice(OTHER, publicKey(generateDeviceKey(OTHER)));
  const hits: number[] = [];
  const device = new Device(nodeDeviceOptions(broker.url, DEVICE, key, OPERATOR));
  installCounter(device, (i) => hits.push(i));
  device.start();
  t.teardown(() => device.stop(false));
  await until("the device online", () => core.device(DEVICE)?.online);
  const clock = { offset: 0 };
  const log: string[] = [];
  const guard = ApiGuard.open(core.store.db, { now: () => Date.now() + clock.offset, limiter: options.limiter, log: (line) => log.push(line) });
  const app = createFleetHttpApi(core, { guard, log: (line) => log.push(line) });
  return {
    core,
    guard,
    app,
    clock,
    hits,
    log,
    call(method, path, o = {}) {
      const headers: Record<string, string> = { host: HOST, ...o.headers };
      if (o.body !== undefined) headers["content-type"] = "application/json";
      const request = new Request(`${ORIGIN}${path}`, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) });
      return o.address === undefined ? app.fetch(request, { address: ADDRESS, secure: false }) : app.fetch(request, { address: o.address, secure: false });
    },
  };
}

function command(index: number, device = DEVICE): string {
  const now = Math.floor(Date.now() / 1000);
  const message = signCommand(nodeCrypto, OPERATOR, { device, door: "counter", op: "invoke.hit", args: index, seq: nextSequence(), issuedAt: now, expiresAt: now + 60 });
  return Buffer.from(message).toString("base64");
}

/** A session's credentials: the cookie, and the CSRF token for calls other than GET. */
interface Session {
  cookie: string;
  csrf: string;
}

async function login(f: Fixture, name: string, password = PASSWORD, address = ADDRESS): Promise<Session> {
  const response = await f.call("POST", "/api/session", { body: { name, password }, headers: { origin: ORIGIN }, address });
  if (response.status !== 201) throw new Error(`login as ${name}: ${response.status} ${await response.text()}`);
  const cookie = /^gh_session=([^;]+)/.exec(response.headers.get("set-cookie") ?? "")?.[1];
  const { csrfToken } = (await response.json()) as { csrfToken: string };
  if (!cookie) throw new Error("no session cookie");
  return { cookie, csrf: csrfToken };
}

function sessionHeaders(session: Session, method: string): Record<string, string> {
  const headers: Record<string, string> = { cookie: `gh_session=${session.cookie}` };
  if (method !== "GET") Object.assign(headers, { origin: ORIGIN, "x-csrf-token": session.csrf, "sec-fetch-site": "same-origin" });
  return headers;
}

type Kind = "none" | `token ${Role}` | `session ${Role}`;

interface Example {
  /** The request; `allowed`: the caller's role is enough (setup worth doing). */
  request(f: Fixture, allowed: boolean): Promise<{ path: string; body?: unknown }> | { path: string; body?: unknown };
  /** The status of a call with enough role. */
  ok: number | ((kind: Kind) => number);
  /** Run after every other example (it ends the session it is called with). */
  last?: boolean;
}

let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}`;

/** One example call per route: a route without one fails the matrix. */
const EXAMPLES: Record<string, Example> = {
  "GET /api/devices": { request: () => ({ path: "/api/devices" }), ok: 200 },
  "POST /api/devices": {
    request: () => {
      const id = unique("matrix");
      return { path: "/api/devices", body: { id, key: Buffer.from(encodeKey(publicKey(generateDeviceKey(id)), false)).toString("base64") } };
    },
    ok: 201,
  },
  "GET /api/devices/:id": { request: () => ({ path: `/api/devices/${DEVICE}` }), ok: 200 },
  "GET /api/events": { request: () => ({ path: "/api/events?limit=5" }), ok: 200 },
  "GET /api/events/stream": { request: () => ({ path: "/api/events/stream?format=gatehouse" }), ok: 200 },
  "POST /api/commands": { request: () => ({ path: "/api/commands", body: { message: command(++counter), device: DEVICE, door: "counter" } }), ok: 200 },
  "POST /api/session": { request: () => ({ path: "/api/session", body: { name: "matrix-login", password: PASSWORD } }), ok: 201 },
  "GET /api/session": { request: () => ({ path: "/api/session" }), ok: 200 },
  "DELETE /api/session": { request: () => ({ path: "/api/session" }), ok: (kind) => (kind.startsWith("session") ? 200 : 400), last: true },
  "GET /api/users": { request: () => ({ path: "/api/users" }), ok: 200 },
  "POST /api/users": { request: () => ({ path: "/api/users", body: { name: unique("added"), role: "view", password: PASSWORD } }), ok: 201 },
  "DELETE /api/users/:name": {
    async request(f, allowed) {
      const name = unique("doomed");
      if (allowed) await f.guard.accounts.addUser(name, "view", PASSWORD);
      return { path: `/api/users/${name}` };
    },
    ok: 200,
  },
  "GET /api/tokens": { request: () => ({ path: "/api/tokens" }), ok: 200 },
  "POST /api/tokens": { request: () => ({ path: "/api/tokens", body: { name: unique("made"), role: "view", devicePattern: "thermo-*", expiresDays: 30 } }), ok: 201 },
  "DELETE /api/tokens/:id": {
    request: (f) => ({ path: `/api/tokens/${f.guard.accounts.createToken({ name: unique("doomed"), role: "view", createdBy: "test" }).token.id}` }),
    ok: 200,
  },
  "GET /api/audit": { request: () => ({ path: "/api/audit?limit=3" }), ok: 200 },
  "GET /api/openapi.json": { request: () => ({ path: "/api/openapi.json" }), ok: 200 },
};

type Doc = { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }> }>> } & Record<string, unknown>;

/** The document's path for a route pattern: /api/devices/:id -> /api/devices/{id}. */
const docPath = (path: string) => path.replace(/:([a-z]+)/gi, "{$1}");

test("every route x every role, by token and by session: 401 without credentials, 403 below its role, its answer at or above; answers fit the OpenAPI document; every call is audited", async (t) => {
  const f = await fixture(t);
  const doc = (await (await f.call("GET", "/api/openapi.json")).json()) as Doc;
  const tokens = Object.fromEntries(ROLES.map((role) => [role, tokenFor(f.guard, role)])) as Record<Role, string>;
  await f.guard.accounts.addUser("matrix-login", "view", PASSWORD);
  const sessions = {} as Record<Role, Session>;
  for (const role of ROLES) {
    await f.guard.accounts.addUser(`person-${role}`, role, PASSWORD);
    sessions[role] = await login(f, `person-${role}`);
  }
  const kinds: Kind[] = ["none", ...ROLES.map((r) => `token ${r}` as Kind), ...ROLES.map((r) => `session ${r}` as Kind)];
  const routes = f.app.routes();
  t.true(routes.length >= 17);
  const missing = routes.map((r) => `${r.method} ${r.path}`).filter((key) => EXAMPLES[key] === undefined);
  t.deepEqual(missing, [], "every route has an example in this matrix");
  const ordered = [...routes].sort((a, b) => Number(EXAMPLES[`${a.method} ${a.path}`].last === true) - Number(EXAMPLES[`${b.method} ${b.path}`].last === true));

  let calls = 0;
  for (const route of ordered) {
    const key = `${route.method} ${route.path}`;
    const example = EXAMPLES[key];
    const documented = doc.paths[docPath(route.path)]?.[route.method.toLowerCase()];
    for (const kind of kinds) {
      const [via, role] = kind.split(" ") as ["none" | "token" | "session", Role | undefined];
      const allowed = route.access.role === "public" || (role !== undefined && roleLevel(role) >= roleLevel(route.access.role));
      const { path, body } = await example.request(f, allowed);
      const headers = via === "token" ? bearer(tokens[role as Role]) : via === "session" ? sessionHeaders(sessions[role as Role], route.method) : {};
      const auditBefore = f.guard.audit.entries({ limit: 1 }).at(-1)?.id ?? 0;
      const response = await f.call(route.method, path, { body, headers });
      calls++;
      const what = `${key} as ${kind}`;
      const expected = !allowed ? (kind === "none" ? 401 : 403) : typeof example.ok === "function" ? example.ok(kind) : example.ok;
      const text = await response.text();
      t.is(response.status, expected, `${what}: ${text.slice(0, 300)}`);
      if (response.status >= 400) {
        const error = JSON.parse(text) as { error: { code: string; message: string } };
        t.deepEqual(Object.keys(error), ["error"], what);
        t.deepEqual(Object.keys(error.error), ["code", "message"], what);
        if (!allowed) t.is(error.error.code, kind === "none" ? "unauthenticated" : "not-allowed", what);
        if (response.status === 401) t.is(response.headers.get("www-authenticate"), 'Bearer realm="gatehouse"', what);
      } else if ((response.headers.get("content-type") ?? "").startsWith("application/json")) {
        const schema = documented?.responses[String(response.status)]?.content?.["application/json"]?.schema;
        t.truthy(schema, `${what}: the document has a schema for ${response.status}`);
        if (schema) t.deepEqual(schemaProblems(JSON.parse(text), schema, doc), [], `${what}: the answer fits the document`);
      }
      t.truthy(documented?.responses[String(response.status)], `${what}: the document lists status ${response.status}`);
      // The call's audit row: who, what, the result.
      const row = f.guard.audit.entries({ afterId: auditBefore }).at(-1);
      t.truthy(row, `${what}: audited`);
      if (!row) continue;
      t.like(row, { method: route.method, route: route.path, status: response.status, address: ADDRESS }, what);
      t.is(row.code, response.status >= 400 ? (JSON.parse(text) as { error: { code: string } }).error.code : null, what);
      const who = key === "POST /api/session" ? "matrix-login" : via === "token" ? `test-${role}` : via === "session" ? `person-${role}` : null;
      if (route.access.role !== "public" || key === "POST /api/session") t.is(row.principal, who, `${what}: audited as ${who}`);
      if (via === "token" && route.access.role !== "public") t.is(row.principalKind, "token", what);
    }
  }
  t.log(`${calls} calls over ${routes.length} routes`);
  // Every relayed command ran once: operate, manage and administer, by token and by session.
  t.is(f.hits.length, 6);
  t.deepEqual(f.log, [], "nothing went to the server log");
});

test("tokens: malformed, unknown, revoked and expired tokens are refused with their own codes, at once", async (t) => {
  const f = await fixture(t);
  const token = tokenFor(f.guard, "view", { name: "short-lived", expiresDays: 1 });
  const get = (headers: Record<string, string>) => f.call("GET", "/api/devices", { headers });
  const codeOf = async (r: Response) => [r.status, ((await r.json()) as { error?: { code: string } }).error?.code];

  t.deepEqual(await codeOf(await get(bearer(token))), [200, undefined]);
  t.deepEqual(await codeOf(await get({ authorization: "Basic dXNlcjpwYXNz" })), [401, "token-invalid"]);
  t.deepEqual(await codeOf(await get(bearer("not-a-token"))), [401, "token-invalid"]);
  t.deepEqual(await codeOf(await get(bearer(`gh_${"A".repeat(43)}`))), [401, "token-invalid"]);

  // Expiry: a day later (the guard's clock), the same token is refused.
  f.clock.offset = 86_400_000 + 1000;
  t.deepEqual(await codeOf(await get(bearer(token))), [401, "token-expired"]);
  t.true(f.guard.accounts.tokens().find((x) => x.name === "short-lived")?.expired);
  f.clock.offset = 0;
  t.deepEqual(await codeOf(await get(bearer(token))), [200, undefined]);

  // Revocation over the API by an administrator: the next call with the token is refused.
  const admin = tokenFor(f.guard, "administer");
  const id = f.guard.accounts.tokens().find((x) => x.name === "short-lived")?.id;
  t.is((await f.call("DELETE", `/api/tokens/${id}`, { headers: bearer(admin) })).status, 200);
  t.deepEqual(await codeOf(await get(bearer(token))), [401, "token-revoked"]);
  t.deepEqual(await codeOf(await f.call("DELETE", `/api/tokens/${id}`, { headers: bearer(admin) })), [404, "token-unknown"]);
  t.deepEqual(await codeOf(await f.call("DELETE", "/api/tokens/x1", { headers: bearer(admin) })), [404, "token-unknown"]);
  t.false(f.guard.accounts.tokens().some((x) => x.id === id), "a revoked token is no longer listed");

  // The token's secret is stored only as a hash.
  const stored = f.core.store.db.prepare("SELECT * FROM tokens").all() as Record<string, unknown>[];
  t.false(JSON.stringify(stored).includes(token.slice(3)), "no secret in the tokens table");

  // A token created over the API: its secret once, in the answer, and it works; the list never shows it.
  const made = await f.call("POST", "/api/tokens", { headers: bearer(admin), body: { name: "ci", role: "operate" } });
  t.is(made.status, 201);
  const { secret, token: row } = (await made.json()) as { secret: string; token: { id: number; createdBy: string } };
  t.regex(secret, /^gh_[A-Za-z0-9_-]{43}$/);
  t.is(row.createdBy, `token test-administer (${f.guard.accounts.tokens().find((x) => x.name === "test-administer")?.id})`);
  t.is((await get(bearer(secret))).status, 200);
  const listed = await (await f.call("GET", "/api/tokens", { headers: bearer(admin) })).text();
  t.false(listed.includes(secret.slice(3)));
  // Unknown fields and bad values are refused.
  for (const body of [{ name: "x", role: "view", extra: 1 }, { name: "X Y", role: "view" }, { name: "x", role: "root" }, { name: "x", role: "view", devicePattern: "a/b" }, { name: "x", role: "view", expiresDays: 0 }]) {
    t.deepEqual(await codeOf(await f.call("POST", "/api/tokens", { headers: bearer(admin), body })), [400, "invalid-input"], JSON.stringify(body));
  }
});

test("a token's device pattern: lists narrowed to its devices (in the query: pages stay full), other devices and fleet-wide routes refused 403", async (t) => {
  const f = await fixture(t);
  const limited = bearer(tokenFor(f.guard, "administer", { name: "api-only", devicePattern: "api-*" }));
  const all = bearer(tokenFor(f.guard, "view", { name: "everything" }));
  // Events of both devices: unknown-device refusals the server records itself, and a device refusal.
  f.core.store.appendEvent({ receivedAt: Date.now(), device: OTHER, source: "server", code: "bad-signature", allowed: false, principal: null, door: null, op: null, deviceTime: null, uptime: null, suppressed: 0, seq: null, detail: "test" });
  for (let i = 0; i < 3; i++) f.core.store.appendEvent({ receivedAt: Date.now(), device: DEVICE, source: "server", code: "too-old", allowed: false, principal: null, door: null, op: null, deviceTime: null, uptime: null, suppressed: 0, seq: null, detail: "test" });
  f.core.store.appendEvent({ receivedAt: Date.now(), device: OTHER, source: "server", code: "bad-signature", allowed: false, principal: null, door: null, op: null, deviceTime: null, uptime: null, suppressed: 0, seq: null, detail: "test" });

  const devices = (await (await f.call("GET", "/api/devices", { headers: limited })).json()) as { devices: { id: string }[] };
  t.deepEqual(devices.devices.map((d) => d.id), [DEVICE]);
  const everything = (await (await f.call("GET", "/api/devices", { headers: all })).json()) as { devices: { id: string }[] };
  t.deepEqual(everything.devices.map((d) => d.id), [DEVICE, OTHER]);

  // The latest 2 events the token may see are both api-1's, though other-1's is the newest overall.
  const events = (await (await f.call("GET", "/api/events?limit=2", { headers: limited })).json()) as { events: { device: string }[] };
  t.deepEqual(events.events.map((e) => e.device), [DEVICE, DEVICE]);
  const stream = await (await f.call("GET", "/api/events/stream?format=gatehouse", { headers: limited })).text();
  t.deepEqual(stream.trim().split("\n").map((l) => (JSON.parse(l) as { device: string }).device), [DEVICE, DEVICE, DEVICE]);

  const refusals: [string, string, unknown?][] = [
    ["GET", `/api/devices/${OTHER}`],
    ["GET", `/api/events?device=${OTHER}`],
    ["GET", `/api/events/stream?device=${OTHER}`],
    ["POST", "/api/commands", { message: command(1, OTHER), device: OTHER, door: "counter" }],
    ["POST", "/api/devices", { id: "thermo-9", key: Buffer.from(encodeKey(publicKey(generateDeviceKey("thermo-9")), false)).toString("base64") }],
    ["GET", "/api/audit"],
    ["GET", "/api/users"],
    ["POST", "/api/tokens", { name: "escalate", role: "administer" }],
  ];
  for (const [method, path, body] of refusals) {
    const response = await f.call(method, path, { headers: limited, body });
    t.is(response.status, 403, `${method} ${path}`);
    t.is(((await response.json()) as { error: { code: string } }).error.code, "device-not-allowed", `${method} ${path}`);
  }
  t.is(f.core.device("thermo-9"), undefined, "nothing was registered");
  // Within its pattern, the token works; and its calls name the device in the audit log.
  const reply = await f.call("POST", "/api/commands", { headers: limited, body: { message: command(7), device: DEVICE, door: "counter" } });
  t.is(reply.status, 200);
  t.deepEqual(f.hits, [7]);
  const audited = f.guard.audit.entries({ principal: "api-only" });
  t.deepEqual(
    audited.filter((e) => e.route === "/api/commands").map((e) => [e.device, e.status, e.code]),
    [
      [OTHER, 403, "device-not-allowed"],
      [DEVICE, 200, null],
    ],
  );
});

test("login limits per account and per address: 429 with Retry-After, the password then not checked, the counts in the audit log; a success clears the account's count", async (t) => {
  // The address limit is lowered here (the account limit is the default) to keep the test short.
  const f = await fixture(t, { limiter: new LoginLimiter({ address: { failures: 8, windowMs: 15 * 60_000 } }) });
  await f.guard.accounts.addUser("alice", "operate", PASSWORD);
  const attempt = (name: string, password: string, address = "198.51.100.7") => f.call("POST", "/api/session", { body: { name, password }, address });
  const codeOf = async (r: Response) => [r.status, ((await r.json()) as { error?: { code: string } }).error?.code];

  for (let i = 0; i < 5; i++) t.deepEqual(await codeOf(await attempt("alice", "wrong password!")), [401, "login-failed"]);
  // The account's limit (5 failures in 15 minutes) is reached: even the right password is refused unchecked.
  const limited = await attempt("alice", PASSWORD, "198.51.100.8");
  t.is(limited.status, 429);
  t.regex(limited.headers.get("retry-after") ?? "", /^\d+$/);
  t.true(Number(limited.headers.get("retry-after")) > 800 && Number(limited.headers.get("retry-after")) <= 900);
  t.like(await limited.json(), { error: { code: "login-rate-limited" } });
  const rows = f.guard.audit.entries({ limit: 6 });
  t.deepEqual(
    rows.map((r) => [r.status, r.code]),
    [...Array(5).fill([401, "login-failed"]), [429, "login-rate-limited"]],
  );
  t.regex(rows[0].detail ?? "", /^login as "alice" failed: 1 of 5 failures for the account and 1 of 8 for the address within 15 min$/);
  t.regex(rows[4].detail ?? "", /5 of 5 failures for the account and 5 of 8 for the address/);
  t.regex(rows[5].detail ?? "", /^login as "alice" refused unchecked: the account limit \(5 failures in 15 min\) is reached; retry in \d+ s$/);
  t.is(rows[5].address, "198.51.100.8");
  t.true(rows.every((r) => r.principal === null), "no one was logged in");

  // When the window has passed, the account may try again; a success clears its count.
  f.clock.offset = 15 * 60_000 + 1000;
  t.is((await attempt("alice", PASSWORD)).status, 201);
  t.deepEqual(f.guard.audit.entries({ limit: 1 }).map((r) => [r.principal, r.status, r.detail]), [["alice", 201, "logged in"]]);
  for (let i = 0; i < 2; i++) t.is((await attempt("alice", "wrong again!!")).status, 401);
  t.is((await attempt("alice", PASSWORD)).status, 201, "two failures after a success are below the limit");

  // Per address: names that do not exist count too, and the address is refused for every name. IPv6
  // addresses of one /64 are one address.
  for (let i = 0; i < 8; i++) t.deepEqual(await codeOf(await attempt(`nobody-${i}`, "guess guess guess", `2001:db8:1:2::${i + 1}`)), [401, "login-failed"]);
  t.deepEqual(await codeOf(await attempt("alice", PASSWORD, "2001:db8:1:2:ffff::9")), [429, "login-rate-limited"]);
  t.is((await attempt("alice", PASSWORD, "2001:db8:1:3::1")).status, 201, "another /64 is another address");
  // The login body is bounded and closed.
  t.deepEqual(await codeOf(await f.call("POST", "/api/session", { body: { name: "alice", password: "x".repeat(5000) } })), [413, "too-large"]);
  t.deepEqual(await codeOf(await f.call("POST", "/api/session", { body: { name: "alice", password: PASSWORD, remember: true } })), [400, "invalid-input"]);
});

test("the audit log is append-only (the database refuses UPDATE, DELETE and REPLACE) and GET /api/audit pages it", async (t) => {
  const f = await fixture(t);
  const admin = bearer(tokenFor(f.guard, "administer", { name: "auditor" }));
  const viewer = bearer(tokenFor(f.guard, "view", { name: "viewer" }));
  for (let i = 0; i < 5; i++) await f.call("GET", `/api/devices/${DEVICE}`, { headers: viewer });
  await f.call("GET", "/api/audit", { headers: viewer });
  await f.call("GET", "/api/devices");
  const db = f.core.store.db;
  const count = () => (db.prepare("SELECT count(*) AS n FROM audit_log").get() as { n: number }).n;
  const before = count();
  t.is(before, 7);
  t.throws(() => db.prepare("UPDATE audit_log SET status = 200 WHERE code IS NOT NULL").run(), { any: true, message: /audit_log is append-only/ });
  t.throws(() => db.prepare("DELETE FROM audit_log").run(), { any: true, message: /audit_log is append-only/ });
  t.throws(() => db.prepare("INSERT OR REPLACE INTO audit_log (id, time, method, path, status, address) VALUES (1, 0, 'GET', '/', 200, '')").run(), { any: true, message: /audit_log is append-only/ });
  t.is(count(), before);

  const page = async (query: string) => (await (await f.call("GET", `/api/audit?${query}`, { headers: admin })).json()) as { entries: { id: number; status: number; principal: string | null; device: string | null; code: string | null }[]; lastId: number | null };
  const latest = await page("limit=3");
  t.deepEqual(latest.entries.map((e) => [e.principal, e.status, e.code]), [
    [ "viewer", 200, null ],
    [ "viewer", 403, "not-allowed" ],
    [ null, 401, "unauthenticated" ],
  ]);
  const older = await page(`before=${latest.entries[0].id}&limit=2`);
  t.deepEqual(older.entries.map((e) => e.id), [latest.entries[0].id - 2, latest.entries[0].id - 1]);
  const forward = await page("after=0&limit=2");
  t.deepEqual(forward.entries.map((e) => e.id), [1, 2]);
  t.is(forward.lastId, 2);
  const byDevice = await page(`device=${DEVICE}`);
  t.is(byDevice.entries.length, 5);
  t.true(byDevice.entries.every((e) => e.device === DEVICE));
  for (const query of ["after=1&before=3", "limit=0", "limit=1001", "sort=id", "device="]) {
    const refused = await f.call("GET", `/api/audit?${query}`, { headers: admin });
    t.is(refused.status, 400, query);
  }
});

test("people over the API: added, listed, removed; a removed person's session ends at once, and a changed role applies at once", async (t) => {
  const f = await fixture(t);
  const admin = bearer(tokenFor(f.guard, "administer"));
  const added = await f.call("POST", "/api/users", { headers: admin, body: { name: "bob", role: "operate", password: PASSWORD } });
  t.is(added.status, 201);
  t.like(await added.json(), { user: { name: "bob", role: "operate", sessions: 0 } });
  t.like(await (await f.call("POST", "/api/users", { headers: admin, body: { name: "bob", role: "view", password: PASSWORD } })).json(), { error: { code: "user-exists" } });
  const short = await f.call("POST", "/api/users", { headers: admin, body: { name: "carol", role: "view", password: "short" } });
  t.is(short.status, 400);
  t.like(await short.json(), { error: { code: "password-invalid" } });
  const session = await login(f, "bob");
  const users = (await (await f.call("GET", "/api/users", { headers: admin })).json()) as { users: { name: string; sessions: number }[] };
  t.deepEqual(users.users.map((u) => [u.name, u.sessions]), [["bob", 1]]);
  const stored = JSON.stringify(f.core.store.db.prepare("SELECT * FROM users").all());
  t.false(stored.includes(PASSWORD), "the password is not stored");
  t.regex(stored, /\$scrypt\$ln=16,r=8,p=2\$/);

  // The role is read on every call: an operator made a viewer is refused commands at once.
  const send = () => f.call("POST", "/api/commands", { headers: sessionHeaders(session, "POST"), body: { message: command(1), device: DEVICE, door: "counter" } });
  t.is((await send()).status, 200);
  f.core.store.db.prepare("UPDATE users SET role = 'view' WHERE name = 'bob'").run();
  t.is((await send()).status, 403);
  t.is((await f.call("DELETE", "/api/users/bob", { headers: admin })).status, 200);
  const after = await f.call("GET", "/api/session", { headers: sessionHeaders(session, "GET") });
  t.is(after.status, 401);
  t.like(await after.json(), { error: { code: "session-expired" } });
  t.like(await (await f.call("DELETE", "/api/users/bob", { headers: admin })).json(), { error: { code: "user-unknown" } });
});

test("the guard fails closed on a route that reaches one device when its handler forgot to check it", async (t) => {
  const f = await fixture(t);
  const app = new HttpApp({ log: (line) => f.log.push(line) });
  f.guard.install(app);
  app.get("/forgetful/:id", { role: "view", devices: "one" }, () => json({ leaked: true }));
  app.get("/careful/:id", { role: "view", devices: "one" }, (c) => {
    allowDevice(c, c.params.id);
    return json({ ok: true });
  });
  const limited = bearer(tokenFor(f.guard, "view", { devicePattern: "api-*" }));
  const call = (path: string) => app.fetch(new Request(`http://x${path}`, { headers: limited }));
  const forgetful = await call("/forgetful/other-1");
  t.is(forgetful.status, 500);
  t.false((await forgetful.text()).includes("leaked"));
  t.is((await call("/careful/api-1")).status, 200);
  t.is((await call("/careful/other-1")).status, 403);
  t.deepEqual(f.log, ["http GET /forgetful/:id: the handler answered without checking its device (allowDevice): refused"]);
});

test("GET /api/events/stream with Accept: text/event-stream: server-sent events with the event ids, resumed from Last-Event-ID, narrowed to the token's devices", async (t) => {
  const f = await fixture(t);
  const limited = bearer(tokenFor(f.guard, "view", { devicePattern: "api-*" }));
  const append = (device: string, code: string) =>
    f.core.store.appendEvent({ receivedAt: Date.now(), device, source: "server", code, allowed: false, principal: null, door: null, op: null, deviceTime: null, uptime: null, suppressed: 0, seq: null, detail: null });
  const first = append(DEVICE, "too-old");
  append(OTHER, "bad-signature");
  const second = append(DEVICE, "replayed");
  const response = await f.call("GET", "/api/events/stream?format=gatehouse&follow=false", { headers: { ...limited, accept: "text/event-stream" } });
  t.is(response.status, 200);
  t.is(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const frames = (await response.text()).split("\n\n").filter((s) => s !== "");
  t.deepEqual(
    frames.map((frame) => {
      const [id, data] = frame.split("\n");
      return [id, (JSON.parse(data.replace(/^data: /, "")) as { code: string }).code];
    }),
    [
      [`id: ${first.id}`, "too-old"],
      [`id: ${second.id}`, "replayed"],
    ],
  );
  // An EventSource reconnecting sends the last id it saw; it follows by default, so read one frame.
  const abort = new AbortController();
  const resumed = await f.call("GET", "/api/events/stream?format=ocsf", { headers: { ...limited, accept: "text/event-stream", "last-event-id": String(first.id) } });
  const reader = (resumed.body as ReadableStream<Uint8Array>).getReader();
  const { value } = await reader.read();
  const text = new TextDecoder().decode(value);
  t.regex(text, new RegExp(`^id: ${second.id}\\ndata: \\{`));
  t.true(text.includes('"status_code":"replayed"'));
  await reader.cancel();
  abort.abort();
});

test("the OpenAPI document describes exactly the routes the app has: each with the role, device scope and security it was registered with", async (t) => {
  const f = await fixture(t);
  const served = await f.call("GET", "/api/openapi.json");
  t.is(served.status, 200);
  const doc = (await served.json()) as Doc & { openapi: string; components: Record<string, Record<string, unknown>> };
  t.is(doc.openapi, "3.1.0");
  const routes = f.app.routes();
  const documented = new Set<string>();
  for (const [path, methods] of Object.entries(doc.paths)) for (const method of Object.keys(methods)) documented.add(`${method.toUpperCase()} ${path}`);
  const problems: string[] = [];
  for (const route of routes) {
    const key = `${route.method} ${docPath(route.path)}`;
    const op = doc.paths[docPath(route.path)]?.[route.method.toLowerCase()] as unknown as Record<string, unknown> | undefined;
    if (!op) {
      problems.push(`${key}: not documented`);
      continue;
    }
    documented.delete(key);
    if (op["x-gatehouse-role"] !== route.access.role) problems.push(`${key}: documented role ${String(op["x-gatehouse-role"])}, registered ${route.access.role}`);
    if (op["x-gatehouse-devices"] !== route.access.devices) problems.push(`${key}: documented devices ${String(op["x-gatehouse-devices"])}, registered ${route.access.devices}`);
    const expected = route.access.role === "public" ? [] : [{ bearer: [] }, route.method === "GET" ? { session: [] } : { session: [], csrf: [] }];
    if (JSON.stringify(op.security) !== JSON.stringify(expected)) problems.push(`${key}: security ${JSON.stringify(op.security)}, expected ${JSON.stringify(expected)}`);
    const responses = op.responses as Record<string, unknown>;
    if (route.access.role !== "public" && (!responses["401"] || !responses["403"])) problems.push(`${key}: 401 and 403 not documented`);
    const pathParams = [...route.path.matchAll(/:([a-z]+)/gi)].map((m) => m[1]);
    const docParams = ((op.parameters ?? []) as { name: string; in: string }[]).filter((p) => p.in === "path").map((p) => p.name);
    if (JSON.stringify(pathParams) !== JSON.stringify(docParams)) problems.push(`${key}: path parameters ${docParams.join(",")}, route has ${pathParams.join(",")}`);
    if (typeof op.operationId !== "string" || typeof op.summary !== "string") problems.push(`${key}: no operationId or summary`);
  }
  for (const stray of documented) problems.push(`${stray}: documented, but the app has no such route`);
  t.deepEqual(problems, []);
  const ids = Object.values(doc.paths).flatMap((methods) => Object.values(methods).map((op) => (op as unknown as { operationId: string }).operationId));
  t.is(new Set(ids).size, ids.length, "operationIds are unique");
  // Every reference resolves.
  const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/([^"]+)"/g)].map((m) => m[1]);
  t.true(refs.length > 20);
  for (const ref of refs) t.not(ref.split("/").reduce<unknown>((node, k) => (node as Record<string, unknown> | undefined)?.[k], doc), undefined, ref);
});
