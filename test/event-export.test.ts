// Security events in OCSF, checked against the published schema's facts (test/support/ocsf-check.ts):
// every kind of stored event, the server's JSON-lines stream (GET /api/events/stream) over a real
// socket with a real mosquitto and signed device publications, and `gatehouse events --format` as a
// real process, following new events until interrupted.
import test, { type ExecutionContext } from "ava";
import { spawn } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type MqttClient } from "mqtt";
import { publicKey } from "../sdk/cose/key";
import { signPublication } from "../sdk/session/publications";
import { nodeCrypto } from "../ports/node/crypto";
import { generateDeviceKey } from "../host/identity-files";
import { createFleetHttpApi, FleetServer, serveHttp } from "../host/server/index";
import type { EventRow } from "../host/server/store";
import { MAX_EVENT_STREAMS, openEventStreams, streamEvents } from "../host/server/export/event-stream";
import type { EventFilter } from "../host/server/api";
import { OCSF_CLASS_UID, severityOf, toOcsf } from "../host/server/export/ocsf";
import { startMosquitto } from "./support/brokers";
import { bearer, guardOf, tokenFor } from "./support/api-access";
import { OCSF_FACTS, ocsfProblems } from "./support/ocsf-check";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = join(repoRoot, "bin", "gatehouse.js");
const DEVICE = "meter-7";
const KID = "5e1f00aa";
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const row = (fields: Partial<EventRow>): EventRow => ({
  id: 41,
  receivedAt: 1_790_000_000_000,
  device: DEVICE,
  source: "device",
  code: "not-allowed",
  allowed: false,
  principal: KID,
  door: "valve",
  op: "write.open",
  deviceTime: 1_789_999_999_000,
  uptime: 5400.5,
  suppressed: 0,
  seq: 17,
  detail: null,
  ...fields,
});

/** Every code docs/protocol.md section 7 names, as device refusals, plus the server's own. */
const DEVICE_CODES = ["bad-signature", "unknown-kid", "alg-missing", "cose-malformed", "cbor-invalid", "command-malformed", "wrong-device", "wrong-door", "not-yet-valid", "stale", "expiry-missing", "expired", "replayed", "too-old", "duplicate", "message-too-large", "unknown-door", "unknown-op", "not-allowed", "invalid-args", "door-failed", "queue-dropped"];
const SERVER_CODES = ["unknown-device", "bad-signature", "too-old", "publication-malformed", "message-too-large", "retained-cleared", "publications-missing", "publications-dropped", "ingest-dropped", "ingest-failed", "events-suppressed", "session-takeover", "command-unanswered"];

test("every kind of stored event maps to a valid OCSF 1.6.0 API Activity event", (t) => {
  t.is(OCSF_FACTS.version, "1.6.0");
  t.is(OCSF_FACTS.class.uid, OCSF_CLASS_UID);
  const rows: EventRow[] = [
    ...DEVICE_CODES.map((code) => row({ code })),
    ...DEVICE_CODES.map((code) => row({ code, op: null, door: null, principal: "unknown", deviceTime: null })),
    ...SERVER_CODES.map((code) => row({ code, source: "server", principal: code === "events-suppressed" ? "unknown" : null, door: null, op: null, deviceTime: null, uptime: null, seq: null, suppressed: 3, detail: `what the server saw (${code})` })),
    row({ code: "allowed", allowed: true, op: "read.flow" }),
    row({ code: "allowed", allowed: true, op: "invoke.flush", principal: "local" }),
    row({ code: "allowed", allowed: true, op: "write.open" }),
    row({ device: "a device with spaces and ünïcode", door: "d", op: "invoke.x" }),
  ];
  for (const r of rows) t.deepEqual(ocsfProblems(toOcsf(r)), [], `${r.source} ${r.code} ${r.op}`);
  t.true(rows.length > 60);

  // A mutation of any required part is caught: the check is not vacuous.
  const good = toOcsf(row({}));
  for (const [what, broken] of [
    ["no actor", { ...good, actor: undefined }],
    ["empty actor", { ...good, actor: {} }],
    ["wrong type_uid", { ...good, type_uid: 600301 }],
    ["no src_endpoint", { ...good, src_endpoint: undefined }],
    ["endpoint without any id", { ...good, src_endpoint: { port: 1883 } }],
    ["device without type_id", { ...good, device: { uid: DEVICE } }],
    ["unknown attribute", { ...good, gatehouse: 1 }],
    ["severity caption", { ...good, severity: "Severe" }],
    ["time as text", { ...good, time: "2026-01-01" }],
    ["no api.operation", { ...good, api: { service: { name: "valve" } } }],
    ["unknown activity", { ...good, activity_id: 7, type_uid: 600307 }],
  ] as const) {
    const json = JSON.parse(JSON.stringify(broken));
    t.true(ocsfProblems(json).length > 0, what);
  }
});

test("the OCSF mapping: activities, status, actor, severity and ids follow docs/events.md", (t) => {
  const write = toOcsf(row({}));
  t.like(write, {
    class_uid: 6003,
    category_uid: 6,
    activity_id: 3,
    activity_name: "Update",
    type_uid: 600303,
    status_id: 2,
    status: "Failure",
    status_code: "not-allowed",
    severity_id: 3,
    time: 1_789_999_999_000,
    metadata: { uid: "41", event_code: "not-allowed", version: "1.6.0", logged_time: 1_790_000_000_000, sequence: 17, profiles: ["host"] },
    actor: { user: { uid: KID, credential_uid: KID } },
    api: { operation: "write.open", service: { name: "valve" } },
    device: { uid: DEVICE, type_id: 7, type: "IOT" },
    resources: [{ uid: `${DEVICE}/valve`, name: "valve", type: "door" }],
    unmapped: { source: "device", suppressed: 0, uptime_ms: 5400.5 },
  });
  t.like(toOcsf(row({ op: "read.flow", allowed: true, code: "allowed" })), { activity_id: 2, status_id: 1, severity_id: 1 });
  t.like(toOcsf(row({ op: "invoke.flush" })), { activity_id: 99, activity_name: "Invoke", type_uid: 600399 });
  t.like(toOcsf(row({ principal: "local", op: "invoke.flush" })), { actor: { app_name: "local application code", app_uid: DEVICE }, src_endpoint: { uid: DEVICE } });
  const takeover = toOcsf(row({ source: "server", code: "session-takeover", principal: null, door: null, op: null, deviceTime: null, seq: null, detail: "two sessions" }));
  t.like(takeover, { activity_id: 99, activity_name: "Connect", severity_id: 4, status_detail: "two sessions", time: 1_790_000_000_000, api: { operation: "connect" }, src_endpoint: { uid: DEVICE, svc_name: "mqtt" } });
  t.false("resources" in takeover);
  t.false("sequence" in (takeover.metadata as object));
  t.is(severityOf({ allowed: false, code: "cose-bad-tag" }), 3);
  t.is(severityOf({ allowed: false, code: "expired" }), 2);
  t.is(severityOf({ allowed: false, code: "retained-cleared" }), 4);
});

interface Live {
  server: FleetServer;
  /** Where the HTTP API listens. */
  url: string;
  /** A token with role view. */
  token: string;
  publisher: MqttClient;
  publish(code: string): Promise<void>;
}

async function live(t: ExecutionContext): Promise<Live> {
  const broker = await startMosquitto();
  const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", clientId: `server-${Math.random().toString(16).slice(2)}` });
  const guard = guardOf(server);
  const served = await serveHttp(createFleetHttpApi(server, { guard }), { host: "127.0.0.1", port: 0 });
  const token = tokenFor(guard, "view");
  const key = generateDeviceKey(DEVICE);
  server.registerDevice(DEVICE, publicKey(key));
  const publisher = connect(broker.url, { protocolVersion: 4, clean: true });
  await new Promise<void>((ok, fail) => {
    publisher.once("connect", () => ok());
    publisher.once("error", fail);
  });
  let index = 0;
  // The device's own publications are numbered without gaps (a stranger's message takes no number of
  // its): a gap would be recorded as publications-missing once its grace time ends, an extra event.
  let deviceIndex = 0;
  t.teardown(async () => {
    await served.close();
    await server.stop();
    await publisher.endAsync();
    await broker.stop();
  });
  return {
    server,
    url: served.url,
    token,
    publisher,
    async publish(code) {
      const i = index++;
      if (code === "unknown-device") {
        await publisher.publishAsync(`gh/stranger-${i}/events`, Buffer.from("?"), { qos: 1 });
        return;
      }
      const n = deviceIndex++;
      const body = { device: DEVICE, seq: n + 1, stream: 1, index: n, code, allowed: code === "allowed", principal: KID, door: "valve", op: "write.open", suppressed: 0, time: Date.now(), uptime: n };
      await publisher.publishAsync(`gh/${DEVICE}/events`, Buffer.from(signPublication(nodeCrypto, key, "event", body)), { qos: 1 });
    },
  };
}

function lines(text: string): any[] {
  assertEndsWithNewline(text);
  return text
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l));
}

function assertEndsWithNewline(text: string): void {
  if (text.length > 0 && !text.endsWith("\n")) throw new Error("a JSON-lines body ends with a newline");
}

test("GET /api/events/stream: JSON lines in OCSF or as rows, from an id, per device, and following new events", async (t) => {
  const f = await live(t);
  for (const code of ["not-allowed", "unknown-device", "expired", "allowed", "unknown-device"]) await f.publish(code);
  const stored = await until("five events", () => f.server.events({}).length === 5 && f.server.events({}));
  const base = f.url;
  const fetch = (url: string, init: RequestInit = {}) => globalThis.fetch(url, { ...init, headers: bearer(f.token) });

  const ocsf = await fetch(`${base}/api/events/stream`);
  t.is(ocsf.status, 200);
  t.is(ocsf.headers.get("content-type"), "application/x-ndjson; charset=utf-8");
  const events = lines(await ocsf.text());
  t.deepEqual(
    events.map((e) => Number(e.metadata.uid)),
    stored.map((e) => e.id),
  );
  for (const e of events) t.deepEqual(ocsfProblems(e), []);
  t.deepEqual(events, stored.map(toOcsf), "the same mapping as the module's");

  const rows = lines(await (await fetch(`${base}/api/events/stream?format=gatehouse&after=${stored[1].id}`)).text());
  t.deepEqual(rows, JSON.parse(JSON.stringify(stored.slice(2))));
  const mine = lines(await (await fetch(`${base}/api/events/stream?format=gatehouse&device=${DEVICE}`)).text());
  t.deepEqual(
    mine.map((e) => e.code),
    ["not-allowed", "expired", "allowed"],
  );

  for (const [query, message] of [
    ["format=cef", /format must be ocsf or gatehouse/],
    ["after=-1", /after must be an event id/],
    ["follow=yes", /follow must be true or false/],
    ["limit=5", /unknown parameter "limit"/],
  ] as const) {
    const bad = await fetch(`${base}/api/events/stream?${query}`);
    t.is(bad.status, 400, query);
    const body = (await bad.json()) as { error: { code: string; message: string } };
    t.is(body.error.code, "invalid-input");
    t.regex(body.error.message, message);
  }

  // Following: what is stored while the stream is open arrives on it, in order.
  const abort = new AbortController();
  const follow = await fetch(`${base}/api/events/stream?follow=true&after=${stored[4].id}`, { signal: abort.signal });
  t.is(follow.status, 200);
  const reader = (follow.body as ReadableStream<Uint8Array>).getReader();
  let text = "";
  const received: any[] = [];
  const reading = (async () => {
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (done) return;
      text += Buffer.from(value as Uint8Array).toString("utf8");
      let newline: number;
      while ((newline = text.indexOf("\n")) >= 0) {
        received.push(JSON.parse(text.slice(0, newline)));
        text = text.slice(newline + 1);
      }
    }
  })();
  await f.publish("not-allowed");
  await until("the first followed event", () => received.length === 1);
  await f.publish("unknown-device");
  await f.publish("replayed");
  await until("three followed events", () => received.length === 3);
  const after = f.server.events({ afterId: stored[4].id });
  t.deepEqual(
    received.map((e) => e.metadata.uid),
    after.map((e) => String(e.id)),
  );
  for (const e of received) t.deepEqual(ocsfProblems(e), []);
  abort.abort();
  await reading;

  // Streams are bounded per server (once the server has seen the streams above end).
  await until("earlier streams closed", () => openEventStreams(f.server) === 0);
  // The responses are kept: undici cancels the body of a response that is garbage collected, which would
  // end its stream on the server.
  const held: AbortController[] = [];
  const open: Response[] = [];
  for (let i = 0; i < MAX_EVENT_STREAMS; i++) {
    const a = new AbortController();
    held.push(a);
    const response = await fetch(`${base}/api/events/stream?follow=true&after=999999`, { signal: a.signal });
    open.push(response);
    t.is(response.status, 200);
  }
  t.is(openEventStreams(f.server), MAX_EVENT_STREAMS);
  const busy = await fetch(`${base}/api/events/stream`);
  t.is(busy.status, 503);
  t.like(await busy.json(), { error: { code: "server-busy" } });
  // A source narrowed to some devices (as for a token with a device pattern) shares the same bound.
  const narrowed = { events: (filter: EventFilter) => f.server.events({ ...filter, device: "thermo-1" }), newEvents: f.server.newEvents };
  t.throws(() => streamEvents(narrowed, new URLSearchParams()), { message: /event streams are open already/ });
  for (const a of held) a.abort();
  t.is(open.length, MAX_EVENT_STREAMS);
  await until("streams closed", async () => (await fetch(`${base}/api/events/stream?after=999999`)).status === 200);
});

function gatehouse(args: string[], token = ""): { stdout: () => string; stderr: () => string; exited: Promise<number>; kill(signal: NodeJS.Signals): void } {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: "1", GATEHOUSE_DEBUG: "", GATEHOUSE_TOKEN: token } });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  return {
    stdout: () => stdout,
    stderr: () => stderr,
    exited: new Promise((done) => child.on("close", (code, signal) => done(code ?? (signal ? 128 : -1)))),
    kill: (signal) => child.kill(signal),
  };
}

test("gatehouse events --format ocsf prints one valid OCSF event per line, and --follow keeps streaming", async (t) => {
  const f = await live(t);
  for (const code of ["not-allowed", "unknown-device", "expired"]) await f.publish(code);
  const stored = await until("three events", () => f.server.events({}).length === 3 && f.server.events({}));
  const server = f.url;

  const all = gatehouse(["events", "--server", server, "--format", "ocsf", "--after", "0"], f.token);
  t.is(await all.exited, 0, all.stderr());
  const printed = lines(all.stdout());
  t.deepEqual(
    printed.map((e) => Number(e.metadata.uid)),
    stored.map((e) => e.id),
  );
  for (const e of printed) t.deepEqual(ocsfProblems(e), []);

  const latest = gatehouse(["events", "--server", server, "--format", "gatehouse", "--limit", "2", "--device", DEVICE], f.token);
  t.is(await latest.exited, 0, latest.stderr());
  t.deepEqual(
    lines(latest.stdout()).map((e) => e.code),
    ["not-allowed", "expired"],
  );

  const following = gatehouse(["events", "--server", server, "--format", "ocsf", "--follow", "--limit", "1"], f.token);
  await until("the latest event printed", () => following.stdout().split("\n").length === 2);
  await f.publish("replayed");
  await until("the new event printed", () => following.stdout().includes('"status_code":"replayed"'));
  following.kill("SIGINT");
  t.is(await following.exited, 0, following.stderr());
  const followed = lines(following.stdout());
  t.deepEqual(
    followed.map((e) => e.status_code),
    ["expired", "replayed"],
  );

  for (const [args, message] of [
    [["--broker", "mqtt://127.0.0.1:1", "--format", "ocsf"], /--format ocsf goes with --server/],
    [["--server", server, "--format", "cef"], /--format must be table, ocsf or gatehouse/],
    [["--server", server, "--after", "3"], /--after goes with --server and --format ocsf or gatehouse/],
    [["--server", server, "--format", "ocsf", "--after", "3", "--limit", "2"], /give --after or --limit, not both/],
  ] as const) {
    const bad = gatehouse(["events", ...args]);
    t.is(await bad.exited, 2);
    t.regex(bad.stderr(), /^gatehouse events: error usage: /);
    t.regex(bad.stderr(), message);
  }
});
