// Outgoing webhooks against real parts: a real mosquitto, the fleet server with a SQLite file, device
// publications signed with a registered device key and garbage the server refuses (device and server
// events), `gatehouse webhook` as a real process, and a real node:http receiver that checks every
// signature with the recipe of docs/events.md. Receivers go down, answer errors, hang and redirect; the
// server restarts in between; every event must arrive, in order.
import test, { type ExecutionContext } from "ava";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type MqttClient } from "mqtt";
import { utf8 } from "../sdk/cbor/encode";
import { publicKey, type CoseKey } from "../sdk/cose/key";
import { signPublication } from "../sdk/session/publications";
import { nodeCrypto } from "../ports/node/crypto";
import { generateDeviceKey } from "../host/identity-files";
import { FleetServer } from "../host/server/index";
import { Store, type EventRow } from "../host/server/store";
import { EventSignal } from "../host/server/export/event-signal";
import { WebhookStore } from "../host/server/export/webhook-store";
import { checkSignature, retryDelay, signatureHeader, WebhookDelivery } from "../host/server/export/webhooks";
import { startMosquitto, type MosquittoBroker } from "./support/brokers";
import { ocsfProblems } from "./support/ocsf-check";
import { deliveredIds, firstArrivals, startReceiver, verifySignature, type Receiver } from "./support/webhook-receiver";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = join(repoRoot, "bin", "gatehouse.js");
const DEVICE = "lock-1";
const SECRET = "whsec-test-5b1f0c9e2d4a7f3e8c6b";
const OPERATOR_KID = "0a1b2c3d";
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Fast retries for tests: 50 ms doubling to 400 ms; the list is read every 50 ms. */
const FAST = { retryInitialMs: 50, retryMaxMs: 400, pollIntervalMs: 50, requestTimeoutMs: 5000 };

interface Fleet {
  broker: MosquittoBroker;
  dir: string;
  dbPath: string;
  deviceKey: CoseKey;
  clientId: string;
  logs: string[];
  server: FleetServer;
  publisher: MqttClient;
  /** Starts the server (again) on the same database and MQTT session. */
  start(): Promise<FleetServer>;
  /** A security event signed by the device (source "device"), the next in its stream. */
  deviceEvent(code: string, allowed?: boolean): Promise<void>;
  /** Garbage the server refuses: unknown-device from an unregistered name, or a cose-/cbor- code. */
  serverEvent(kind: "unknown-device" | "malformed"): Promise<void>;
}

async function fleet(t: ExecutionContext): Promise<Fleet> {
  const broker = await startMosquitto();
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-webhooks-"));
  const deviceKey = generateDeviceKey(DEVICE);
  const logs: string[] = [];
  let index = 0;
  let ghost = 0;
  const publisher = connect(broker.url, { protocolVersion: 4, clean: true });
  await new Promise<void>((ok, fail) => {
    publisher.once("connect", () => ok());
    publisher.once("error", fail);
  });
  const f: Fleet = {
    broker,
    dir,
    dbPath: join(dir, "fleet.db"),
    deviceKey,
    clientId: `server-${Math.random().toString(16).slice(2)}`,
    logs,
    server: undefined as unknown as FleetServer,
    publisher,
    async start() {
      f.server = await FleetServer.start({
        brokerUrl: broker.url,
        dbPath: f.dbPath,
        clientId: f.clientId,
        serverEventsPerSecond: 1000,
        serverEventBurst: 1000,
        webhooks: FAST,
        log: (line) => logs.push(line),
      });
      f.server.registerDevice(DEVICE, publicKey(deviceKey), { replace: true });
      return f.server;
    },
    async deviceEvent(code, allowed = false) {
      const i = index++;
      const body = { device: DEVICE, seq: i + 1, stream: 1, index: i, code, allowed, principal: OPERATOR_KID, door: "lock", op: "invoke.open", suppressed: 0, time: Date.now(), uptime: 1000 + i };
      await publisher.publishAsync(`gh/${DEVICE}/events`, Buffer.from(signPublication(nodeCrypto, deviceKey, "event", body)), { qos: 1 });
    },
    async serverEvent(kind) {
      if (kind === "unknown-device") await publisher.publishAsync(`gh/ghost-${ghost++}/events`, Buffer.from("not from a registered device"), { qos: 1 });
      else await publisher.publishAsync(`gh/${DEVICE}/telemetry`, Buffer.from("not cbor at all"), { qos: 1 });
    },
  };
  await f.start();
  t.teardown(async () => {
    await f.server.stop();
    await publisher.endAsync();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return f;
}

/** Waits until the server stored `count` events after `after`; returns them. */
function stored(server: FleetServer, count: number, after = 0): Promise<EventRow[]> {
  return until(`${count} stored events`, () => {
    const rows = server.events({ afterId: after, limit: 1000 });
    return rows.length >= count && rows;
  });
}

function cli(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: "1", GATEHOUSE_DEBUG: "" } });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    child.stdin.end(stdin ?? "");
    child.on("close", (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}

async function listJson(dbPath: string): Promise<any[]> {
  const result = await cli(["webhook", "list", "--db", dbPath, "--json"]);
  if (result.code !== 0) throw new Error(`webhook list failed: ${result.stderr}`);
  return result.stdout.trim().split("\n").filter(Boolean).map((line) => JSON.parse(line));
}

/** Every request signed; each request's ids increasing; returns the ids a deduplicating receiver keeps. */
function checkRequests(t: ExecutionContext, receiver: Receiver): number[] {
  for (const r of receiver.requests) {
    t.is(r.refused, undefined, "every request's signature verifies");
    const ids = r.events.map((e) => Number(e.id ?? e.metadata.uid));
    t.true(ids.every((id, i) => i === 0 || id > ids[i - 1]), `ids in a request increase: ${ids}`);
    t.is(r.headers["idempotency-key"], `${ids[0]}-${ids[ids.length - 1]}`);
  }
  return firstArrivals(deliveredIds(receiver));
}

test("device and server events reach a real receiver signed, in order, as Gatehouse rows and as OCSF", async (t) => {
  const f = await fleet(t);
  const receiver = await startReceiver(SECRET);
  t.teardown(() => receiver.close());
  const hooks = new WebhookStore(f.server.store.db);
  const rows = hooks.add({ url: receiver.url, secret: SECRET + "\n" });
  const ocsf = hooks.add({ url: receiver.url.replace("/gatehouse", "/ocsf"), secret: SECRET, format: "ocsf", batch: 2 });
  t.is(rows.secret, SECRET, "one trailing newline (from echo) is not part of the secret");

  await f.deviceEvent("not-allowed");
  await f.serverEvent("unknown-device");
  await f.deviceEvent("allowed", true);
  await f.serverEvent("malformed");
  await f.deviceEvent("expired");
  await f.serverEvent("unknown-device");
  const events = await stored(f.server, 6);
  t.deepEqual(new Set(events.map((e) => e.source)), new Set(["device", "server"]));

  const ids = events.map((e) => e.id);
  const byHook = (id: number) => receiver.requests.filter((r) => r.headers["gatehouse-webhook-id"] === String(id));
  await until("both webhooks got every event", () => [rows.id, ocsf.id].every((id) => firstArrivals(byHook(id).flatMap((r) => r.events.map((e) => Number(e.id ?? e.metadata.uid)))).length === 6));
  t.deepEqual(checkRequests(t, receiver).length > 0, true);

  // The Gatehouse format: exactly the rows of GET /api/events, oldest first.
  const plain = byHook(rows.id);
  t.deepEqual(
    plain.flatMap((r) => r.events),
    JSON.parse(JSON.stringify(events)),
  );
  for (const r of plain) {
    t.is(r.headers["content-type"], "application/json");
    t.like(JSON.parse(r.body), { webhook: rows.id, format: "gatehouse" });
  }
  // OCSF, two per request at most: every event conforms to the class.
  const asOcsf = byHook(ocsf.id);
  t.true(asOcsf.length >= 3 && asOcsf.every((r) => r.events.length <= 2));
  t.deepEqual(
    asOcsf.flatMap((r) => r.events.map((e) => Number(e.metadata.uid))),
    ids,
  );
  for (const e of asOcsf.flatMap((r) => r.events)) t.deepEqual(ocsfProblems(e), []);

  // The signature binds the body and the secret: any change is refused by the recipe.
  const first = plain[0];
  t.is(verifySignature(SECRET, first.headers["gatehouse-signature"], first.body), undefined);
  t.truthy(verifySignature(SECRET, first.headers["gatehouse-signature"], first.body.replace('"id":', '"id": ')));
  t.truthy(verifySignature("another secret of the same length", first.headers["gatehouse-signature"], first.body));
  t.regex(String(first.headers["gatehouse-signature"]), /^t=\d+,v1=[0-9a-f]{64}$/);

  // The cursor is written once the receiver's answer is back: a moment after the receiver has the events.
  const status = await until("both cursors at the end", () => hooks.statuses().every((s) => s.lag === 0) && hooks.statuses());
  t.like(status[0], { id: rows.id, lag: 0, attempts: 0, delivered: 6, cursor: ids[5] });
  t.like(status[1], { id: ocsf.id, lag: 0, attempts: 0, delivered: 6, cursor: ids[5] });
  t.false(JSON.stringify(status).includes(SECRET), "statuses never carry the secret");
});

test("a receiver that is down loses nothing: retries back off, the server restarts, and every event arrives in order", async (t) => {
  const f = await fleet(t);
  const receiver = await startReceiver(SECRET);
  await receiver.close(); // down: the port refuses connections
  t.teardown(() => receiver.close());

  const added = await cli(["webhook", "add", "--db", f.dbPath, "--url", receiver.url, "--secret-stdin", "--batch", "5"], `${SECRET}\n`);
  t.is(added.code, 0, added.stderr);
  t.regex(added.stdout, /^webhook 1: http:\/\/127\.0\.0\.1:\d+\/hooks\/gatehouse, every event, format gatehouse, after event 0\n/);
  t.false(added.stdout.includes(SECRET) || added.stderr.includes(SECRET));

  for (let i = 0; i < 6; i++) {
    await f.deviceEvent(i % 2 === 0 ? "not-allowed" : "expired");
    await f.serverEvent("unknown-device");
  }
  await stored(f.server, 12);
  // Retries, each waiting longer: the logged waits follow the backoff (50 ms doubling, capped at 400 ms,
  // each between half and all of its step).
  await until("four failed attempts", () => f.logs.some((l) => l.includes("attempt 4 failed")));
  const waits = f.logs.filter((l) => /^webhook 1 .*attempt \d+ failed/.test(l)).map((l) => [Number(/attempt (\d+)/.exec(l)?.[1]), Number(/retrying in (\d+) ms/.exec(l)?.[1])]);
  t.true(waits.length >= 4);
  for (const [attempt, wait] of waits) {
    const step = Math.min(400, 50 * 2 ** (attempt - 1));
    t.true(wait >= step / 2 && wait <= step, `attempt ${attempt}: waits ${wait} ms for a step of ${step}`);
  }
  t.regex(f.logs.find((l) => l.includes("attempt 1 failed")) ?? "", /\(events \d+-\d+\): cannot connect: ECONNREFUSED; retrying in \d+ ms$/);
  const failing = (await listJson(f.dbPath))[0];
  t.true(failing.attempts >= 4);
  t.regex(failing.lastError, /ECONNREFUSED/);
  t.is(failing.lag, 12);
  t.is(failing.cursor, 0);
  t.is(failing.delivered, 0);
  const text = await cli(["webhook", "list", "--db", f.dbPath]);
  t.regex(text.stdout, /failing: \d+ attempt\(s\)/);
  t.regex(text.stdout, /lag 12 event\(s\)/);
  t.regex(text.stdout, /last error .*ECONNREFUSED/);

  // The server restarts while the receiver is still down; more events arrive at the new one.
  await f.server.stop();
  await f.start();
  for (let i = 0; i < 6; i++) {
    await f.serverEvent("unknown-device");
    await f.deviceEvent("not-allowed");
  }
  const all = await stored(f.server, 24);
  const expected = all.map((e) => e.id);

  // Back up, but answering errors twice first.
  receiver.answers = [503, 500];
  await receiver.open();
  await until("every event delivered", () => firstArrivals(deliveredIds(receiver)).length === 24);
  const kept = checkRequests(t, receiver);
  t.deepEqual(kept, expected, "every event, in order, none lost");
  // A refused batch is sent again, the same events.
  const [a, b, c] = receiver.requests;
  t.deepEqual([a.answered, b.answered, c.answered], [503, 500, 204]);
  t.deepEqual(a.events, b.events);
  t.deepEqual(b.events, c.events);
  t.is(a.events.length, 5, "batches hold at most --batch events");
  t.true(receiver.requests.every((r) => r.events.length <= 5));

  const healthy = await until("the status caught up", async () => {
    const [hook] = await listJson(f.dbPath);
    return hook.lag === 0 && hook;
  });
  t.like(healthy, { attempts: 0, lastError: null, cursor: expected[23], delivered: 24 });
  t.true(f.logs.some((l) => /^webhook 1 .*delivered again after \d+ failed attempt/.test(l)));
});

test("filters: each webhook gets only the codes it asked for, and its cursor passes over the rest", async (t) => {
  const f = await fleet(t);
  const receiver = await startReceiver(SECRET);
  t.teardown(() => receiver.close());
  const hooks = new WebhookStore(f.server.store.db);
  const unknown = hooks.add({ url: receiver.url, secret: SECRET, filter: ["unknown-device"] });
  const malformed = hooks.add({ url: receiver.url, secret: SECRET, filter: ["cose-*,cbor-*"] });
  const refusals = hooks.add({ url: receiver.url, secret: SECRET, filter: ["not-allowed", "expired"] });
  const every = hooks.add({ url: receiver.url, secret: SECRET });
  t.deepEqual(malformed.filter, ["cose-*", "cbor-*"]);

  await f.deviceEvent("not-allowed");
  await f.serverEvent("unknown-device");
  await f.deviceEvent("allowed", true);
  await f.serverEvent("malformed");
  await f.deviceEvent("expired");
  await f.serverEvent("unknown-device");
  await f.deviceEvent("allowed", true);
  const events = await stored(f.server, 7);
  const got = (id: number) => receiver.requests.filter((r) => r.headers["gatehouse-webhook-id"] === String(id)).flatMap((r) => r.events);
  await until("the unfiltered webhook got all", () => got(every.id).length === 7);
  await until("every cursor at the end", () => hooks.statuses().every((s) => s.cursor === events[6].id) && hooks.statuses());

  t.deepEqual(
    got(unknown.id).map((e) => e.code),
    ["unknown-device", "unknown-device"],
  );
  t.is(got(malformed.id).length, 1);
  t.regex(got(malformed.id)[0].code, /^(cose|cbor)-/);
  t.deepEqual(
    got(refusals.id).map((e) => e.code),
    ["not-allowed", "expired"],
  );
  for (const s of hooks.statuses()) t.like(s, { lag: 0, attempts: 0 });
  t.deepEqual(
    hooks.statuses().map((s) => s.delivered),
    [2, 1, 2, 7],
  );
  checkRequests(t, receiver);
});

test("a hang, a redirect and a 4xx are not acknowledgements: the same events are sent again until a 2xx", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-webhook-failures-"));
  const store = new Store(join(dir, "fleet.db"));
  const signal = new EventSignal();
  const logs: string[] = [];
  const receiver = await startReceiver(SECRET);
  // A timeout long enough for a loaded machine to answer the other requests well within it.
  const delivery = new WebhookDelivery(store, signal, { ...FAST, requestTimeoutMs: 6000, log: (l) => logs.push(l) });
  t.teardown(async () => {
    await delivery.stop();
    await receiver.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const hooks = new WebhookStore(store.db);
  const hook = hooks.add({ url: receiver.url, secret: SECRET });
  const gone = hooks.add({ url: receiver.url.replace("gatehouse", "gone"), secret: SECRET });
  hooks.remove(gone.id);
  receiver.answers = ["hang", { redirect: "https://elsewhere.example/hook" }, 400, 204];
  const append = (code: string) =>
    store.appendEvent({ receivedAt: Date.now(), device: DEVICE, source: "server", code, allowed: false, principal: null, door: null, op: null, deviceTime: null, uptime: null, suppressed: 0, seq: null, detail: "test" });
  const ids = [append("unknown-device").id, append("session-takeover").id, append("publications-missing").id];
  signal.raise();

  await until("delivered", () => hooks.statuses()[0].delivered === 3);
  t.deepEqual(
    receiver.requests.map((r) => r.answered),
    ["hang", 302, 400, 204],
  );
  for (const r of receiver.requests) t.deepEqual(r.events.map((e) => e.id), ids, "the same batch each time");
  t.true(receiver.requests.every((r) => r.headers["gatehouse-webhook-id"] === String(hook.id)), "a removed webhook gets nothing");
  t.regex(logs.find((l) => l.includes("attempt 1 failed")) ?? "", /no answer within 6000 ms/);
  t.regex(logs.find((l) => l.includes("attempt 2 failed")) ?? "", /HTTP 302 redirect to https:\/\/elsewhere\.example\/hook \(not an acknowledgement/);
  t.regex(logs.find((l) => l.includes("attempt 3 failed")) ?? "", /HTTP 400: receiver says 400/);
  t.like(hooks.statuses()[0], { cursor: ids[2], attempts: 0, lastError: null, lag: 0 });

  // New events after the backlog: the signal wakes the idle worker.
  const later = append("ingest-dropped").id;
  signal.raise();
  await until("the new event", () => deliveredIds(receiver).includes(later));
  t.deepEqual(firstArrivals(deliveredIds(receiver)), [...ids, later]);
});

test("retry waits grow exponentially with jitter and stay within their bounds; signatures check time and bytes", (t) => {
  for (let failures = 1; failures <= 30; failures++) {
    const step = Math.min(300_000, 1000 * 2 ** (failures - 1));
    t.is(retryDelay(failures, 1000, 300_000, () => 0), step / 2);
    t.is(retryDelay(failures, 1000, 300_000, () => 0.999999), Math.round(step / 2 + (0.999999 * step) / 2));
    const random = retryDelay(failures, 1000, 300_000);
    t.true(random >= step / 2 && random <= step);
  }
  t.is(retryDelay(10_000, 1000, 300_000, () => 1), 300_000, "huge failure counts stay at the cap");

  const body = '{"webhook":1,"events":[]}';
  const now = 1_800_000_000;
  const header = signatureHeader(SECRET, now, body);
  t.is(checkSignature(SECRET, header, body, now), undefined);
  t.is(verifySignature(SECRET, header, body, now), undefined, "the server's signature passes the documented recipe");
  t.is(checkSignature(SECRET, header, body, now + 300), undefined, "within the tolerance");
  t.regex(checkSignature(SECRET, header, body, now + 301) ?? "", /more than 300 s/);
  t.regex(checkSignature(SECRET, header, body + " ", now) ?? "", /no v1 signature matches/);
  t.regex(checkSignature(SECRET + "x", header, body, now) ?? "", /no v1 signature matches/);
  t.regex(checkSignature(SECRET, undefined, body, now) ?? "", /no Gatehouse-Signature/);
  t.regex(checkSignature(SECRET, "v1=00", body, now) ?? "", /no timestamp/);
  // A second v1 (a receiver rotating secrets accepts either): one match is enough.
  t.is(checkSignature(SECRET, `${header},v1=${"0".repeat(64)}`, body, now), undefined);
});

test("gatehouse webhook refuses bad URLs, missing or weak secrets and bad filters with stable codes; list never shows the secret", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-webhook-cli-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, "fleet.db");
  const base = ["webhook", "add", "--db", db, "--secret-stdin"];
  const missingDb = await cli([...base, "--url", "https://siem.example/hook"], `${SECRET}\n`);
  t.is(missingDb.code, 1);
  t.regex(missingDb.stderr, /^gatehouse webhook: error file: no database at /);
  new Store(db).close();

  const refusals: [string[], string | undefined, string][] = [
    [["--url", "ftp://siem.example/hook"], SECRET, "url-invalid"],
    [["--url", "siem.example/hook"], SECRET, "url-invalid"],
    [["--url", "javascript:alert(1)"], SECRET, "url-invalid"],
    [["--url", "https://user:pass@siem.example/hook"], SECRET, "url-invalid"],
    [["--url", "https://siem.example/hook#frag"], SECRET, "url-invalid"],
    [["--url", `https://siem.example/${"a".repeat(2100)}`], SECRET, "url-invalid"],
    [["--url", "https://siem.example/hook"], "", "secret-missing"],
    [["--url", "https://siem.example/hook"], "\n", "secret-missing"],
    [["--url", "https://siem.example/hook"], "short\n", "secret-invalid"],
    [["--url", "https://siem.example/hook"], "0123456789abcdef\n0123456789abcdef\n", "secret-invalid"],
    [["--url", "https://siem.example/hook"], "x".repeat(1025), "secret-invalid"],
    [["--url", "https://siem.example/hook", "--filter", "Not_A_Code"], SECRET, "filter-invalid"],
    [["--url", "https://siem.example/hook", "--batch", "0"], SECRET, "usage"],
    [["--url", "https://siem.example/hook", "--format", "cef"], SECRET, "usage"],
    [["--url", "https://siem.example/hook", "--after", "5"], SECRET, "usage"],
  ];
  for (const [args, stdin, code] of refusals) {
    const result = await cli([...base, ...args], stdin);
    t.is(result.code, code === "usage" ? 2 : 1, `${args.join(" ")}: ${result.stderr}`);
    t.regex(result.stderr, new RegExp(`^gatehouse webhook: error ${code}: \\S.*\\n$`), args.join(" "));
  }
  // Without --secret-stdin, even with a secret waiting on standard input.
  const noFlag = await cli(["webhook", "add", "--db", db, "--url", "https://siem.example/hook"], SECRET);
  t.regex(noFlag.stderr, /^gatehouse webhook: error secret-missing: .*--secret-stdin/);
  t.is((await listJson(db)).length, 0, "nothing refused was stored");

  const ok = await cli([...base, "--url", "https://siem.example/hook", "--filter", "not-allowed", "--filter", "cose-*", "--format", "ocsf", "--after", "0"], SECRET);
  t.is(ok.code, 0, ok.stderr);
  const listed = await cli(["webhook", "list", "--db", db]);
  t.regex(listed.stdout, /webhook 1 {2}https:\/\/siem\.example\/hook {2}up to date/);
  t.regex(listed.stdout, /filter not-allowed, cose-\*, format ocsf, batch 20/);
  const json = await listJson(db);
  t.like(json[0], { id: 1, url: "https://siem.example/hook", filter: ["not-allowed", "cose-*"], format: "ocsf", cursor: 0, lag: 0 });
  for (const out of [listed.stdout, JSON.stringify(json), ok.stdout, ok.stderr]) t.false(out.includes(SECRET), "the secret is never printed");

  const unknown = await cli(["webhook", "remove", "--db", db, "7"]);
  t.regex(unknown.stderr, /^gatehouse webhook: error webhook-unknown: there is no webhook 7\n$/);
  t.is((await cli(["webhook", "remove", "--db", db, "1"])).code, 0);
  t.deepEqual(await listJson(db), []);

  for (const sub of ["add", "list", "remove"]) {
    const help = await cli(["webhook", sub, "--help"]);
    t.is(help.code, 0);
    t.regex(help.stdout, new RegExp(`gatehouse webhook ${sub} --db FILE`));
    t.regex(help.stdout, /Gatehouse-Signature: t=<unix seconds>,v1=/);
  }
});
