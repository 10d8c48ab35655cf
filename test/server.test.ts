// The fleet server against real parts: a real mosquitto (and aedes), real devices (sdk/device.ts over the
// Node ports: NodeMqttTransport, MemoryStorage, nodeClock, nodeTimers, nodeCrypto), provisioned
// identities on disk, SQLite, and the HTTP API over a real socket.
import test, { type ExecutionContext } from "ava";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type MqttClient } from "mqtt";
import { toHex } from "../sdk/bytes";
import { utf8 } from "../sdk/cbor/encode";
import { signCommand } from "../sdk/command/sender";
import { encodeKey, publicKey, type CoseKey } from "../sdk/cose/key";
import { Device } from "../sdk/device";
import { signPublication } from "../sdk/session/publications";
import { signRawPublication } from "./conformance/raw-publications";
import { TrustList } from "../sdk/trust";
import { nodeCrypto } from "../ports/node/crypto";
import { nodeClock, nodeTimers } from "../ports/node/platform";
import { MemoryStorage } from "../ports/node/storage";
import { NodeMqttTransport } from "../ports/node/transport";
import { generateDeviceKey, writeIdentity } from "../host/identity-files";
import { CommandClient } from "../host/client/command-client";
import { nextSequence } from "../host/client/sequence";
import { createFleetHttpApi, FleetServer, serveHttp, type Activity } from "../host/server/index";
import { newSetpointState, registerSetpoint, type SetpointState } from "./conformance/doors.cases";
import { startAedes, startMosquitto } from "./support/brokers";
import { bearer, guardOf, tokenFor } from "./support/api-access";

const DEVICE = "thermo-1";
const OPERATOR = nodeCrypto.generateKey("EdDSA", utf8("operator"));

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

interface Fixture {
  brokerUrl: string;
  dir: string;
  server: FleetServer;
  device: Device;
  deviceKey: CoseKey;
  state: SetpointState;
  activity: Activity[];
  clientId: string;
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: any }>;
  startDevice(): Device;
}

function makeDevice(brokerUrl: string, key: CoseKey, state: SetpointState): Device {
  const device = new Device({
    id: DEVICE,
    key,
    trust: new TrustList([{ key: publicKey(OPERATOR), role: "operate" }]),
    ports: { crypto: nodeCrypto, clock: nodeClock, timers: nodeTimers, storage: new MemoryStorage(), transport: new NodeMqttTransport({ url: brokerUrl }) },
    firmware: { version: "1.4.2", patch: 3, epoch: 2 },
    session: { backoffInitialMs: 50 },
  });
  registerSetpoint(device, state);
  return device;
}

async function setup(t: ExecutionContext, options: { broker?: "mosquitto" | "aedes"; dbPath?: string } = {}): Promise<Fixture> {
  const broker = options.broker === "aedes" ? await startAedes() : await startMosquitto();
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-server-test-"));
  const deviceKey = generateDeviceKey(DEVICE);
  writeIdentity(join(dir, "identities"), { id: DEVICE, key: deviceKey, trust: new TrustList([{ key: publicKey(OPERATOR), role: "operate" }]) });
  const activity: Activity[] = [];
  const clientId = `server-${Math.random().toString(16).slice(2)}`;
  const server = await FleetServer.start({
    brokerUrl: broker.url,
    dbPath: options.dbPath ?? ":memory:",
    identitiesDir: join(dir, "identities"),
    clientId,
    onActivity: (a) => activity.push(a),
  });
  const guard = guardOf(server);
  const token = tokenFor(guard, "manage");
  const served = await serveHttp(createFleetHttpApi(server, { guard }), { host: "127.0.0.1", port: 0 });
  const state = newSetpointState();
  const devices: Device[] = [];
  const fixture: Fixture = {
    brokerUrl: broker.url,
    dir,
    server,
    device: undefined as unknown as Device,
    deviceKey,
    state,
    activity,
    clientId,
    async api(method, path, body, headers = {}) {
      const response = await fetch(`${served.url}${path}`, {
        method,
        headers: body === undefined ? { ...bearer(token), ...headers } : { "content-type": "application/json", ...bearer(token), ...headers },
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      });
      return { status: response.status, json: await response.json() };
    },
    startDevice() {
      const device = makeDevice(broker.url, deviceKey, state);
      devices.push(device);
      device.start();
      fixture.device = device;
      return device;
    },
  };
  t.teardown(async () => {
    for (const d of devices) d.stop(false);
    await served.close();
    await server.stop();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return fixture;
}

function sign(op: string, args?: unknown, device = DEVICE, door = "setpoint"): Uint8Array {
  return signCommand(nodeCrypto, OPERATOR, { device, door, op, args: args as never, seq: nextSequence(), issuedAt: Math.floor(Date.now() / 1000), expiresAt: Math.floor(Date.now() / 1000) + 60 });
}

/** The `message` field of POST /api/commands. */
function signed(op: string, args?: unknown, device = DEVICE, door = "setpoint"): { message: string } {
  return { message: Buffer.from(sign(op, args, device, door)).toString("base64") };
}

/** A plain MQTT client that watches (and can publish raw bytes on) the broker. */
async function watcher(url: string, filter: string): Promise<{ client: MqttClient; messages: { topic: string; payload: Buffer }[] }> {
  const client = connect(url, { protocolVersion: 4, clean: true });
  const messages: { topic: string; payload: Buffer }[] = [];
  client.on("message", (topic, payload) => messages.push({ topic, payload: Buffer.from(payload) }));
  await new Promise<void>((resolve, reject) => {
    client.once("connect", () => resolve());
    client.once("error", reject);
  });
  await client.subscribeAsync(filter, { qos: 1 });
  return { client, messages };
}

test("a provisioned device is registered, online after its birth, offline after a kill; telemetry is kept", async (t) => {
  const f = await setup(t);
  const [registered] = f.server.devices();
  t.is(registered.id, DEVICE);
  t.false(registered.online);
  t.is(registered.publicKey, toHex(encodeKey(publicKey(f.deviceKey))));

  f.startDevice();
  const online = await until("online", () => f.server.devices().find((d) => d.online));
  t.is(online.firmware, "1.4.2");
  t.is(online.patch, 3);
  t.is(online.epoch, 2);
  t.true(online.session !== null && online.session > (online.deathSession ?? -1));
  t.deepEqual(
    online.doors.map((d) => (d as { name: string }).name),
    ["setpoint"],
  );
  t.true(f.activity.some((a) => a.type === "online" && a.device === DEVICE));

  // A write emits the door's event: the server keeps the latest value per (device, door, event).
  const write = await f.api("POST", "/api/commands", { ...signed("write.target", 22.5), device: DEVICE, door: "setpoint" });
  t.is(write.status, 200);
  t.true(write.json.ok);
  await until("telemetry", () => f.server.device(DEVICE)?.telemetry.length === 1);
  await f.api("POST", "/api/commands", { ...signed("write.target", 23), device: DEVICE, door: "setpoint" });
  const detail = await until("second telemetry", async () => {
    const { json } = await f.api("GET", `/api/devices/${DEVICE}`);
    return json.device.telemetry[0]?.data === 23 && json.device;
  });
  t.is(detail.telemetry.length, 1);
  t.like(detail.telemetry[0], { door: "setpoint", event: "changed", data: 23 });
  t.is(typeof detail.telemetry[0].time, "number");
  t.is(detail.doors[0].name, "setpoint");
  t.true(detail.online);

  const list = await f.api("GET", "/api/devices");
  t.is(list.status, 200);
  t.like(list.json.devices[0], { id: DEVICE, online: true, firmware: "1.4.2", doorNames: ["setpoint"] });

  // Socket destroyed without DISCONNECT: the broker publishes the will (the death signed at connect).
  f.device.stop(false);
  const offline = await until("offline", () => f.server.devices().find((d) => !d.online));
  t.is(offline.deathSession, online.session);
  t.true(f.activity.some((a) => a.type === "offline" && a.device === DEVICE));
});

test("POST /api/commands relays a signed command and returns the verified result; a door refusal is a result and a security event", async (t) => {
  const f = await setup(t);
  f.startDevice();
  await until("online", () => f.server.devices().find((d) => d.online));

  const started = performance.now();
  const read = await f.api("POST", "/api/commands", { ...signed("read.target"), device: DEVICE, door: "setpoint", timeoutMs: 5000 });
  t.log(`command round trip through mosquitto and the server: ${(performance.now() - started).toFixed(1)} ms`);
  t.is(read.status, 200);
  t.like(read.json, { ok: true, value: 20, verified: true, device: DEVICE, sender: toHex(OPERATOR.kid) });
  t.regex(read.json.ref, /^[0-9a-f]{16}$/);
  t.regex(read.json.result, /^[0-9a-f]+$/);

  // setLimits needs "administer"; the operator only has "operate".
  const raw = sign("invoke.setLimits", { min: 10, max: 25 });
  const message = Buffer.from(raw).toString("base64");
  const refused = await f.api("POST", "/api/commands", { message, device: DEVICE, door: "setpoint" });
  t.is(refused.status, 200);
  t.like(refused.json, { ok: false, code: "not-allowed", verified: true });
  t.is(refused.json.ref, toHex(nodeCrypto.sha256(raw).subarray(0, 8)));
  t.is(typeof refused.json.message, "string");

  const events = await until("the security event", async () => {
    const { json } = await f.api("GET", `/api/events?device=${DEVICE}`);
    return json.events.length > 0 && json.events;
  });
  t.like(events[0], { device: DEVICE, source: "device", code: "not-allowed", allowed: false, principal: toHex(OPERATOR.kid), door: "setpoint", op: "invoke.setLimits", suppressed: 0 });
  t.is(typeof events[0].seq, "number");

  // Results are recorded too.
  t.deepEqual(
    f.server.device(DEVICE)?.results.map((r) => [r.op, r.ok, r.code]),
    [
      ["invoke.setLimits", false, "not-allowed"],
      ["read.target", true, null],
    ],
  );

  // The same command posted again (a replay) gets the device's refusal, not a second execution.
  const again = await f.api("POST", "/api/commands", { message, device: DEVICE, door: "setpoint" });
  t.like(again.json, { ok: false, code: "not-allowed" });

  // An offline device: no result, 504.
  f.device.stop(false);
  await until("offline", () => f.server.devices().find((d) => !d.online));
  const lost = await f.api("POST", "/api/commands", { ...signed("read.target"), device: DEVICE, door: "setpoint", timeoutMs: 300 });
  t.is(lost.status, 504);
  t.is(lost.json.error.code, "no-result");
  // What the server knows, and only that: the broker took it, the device's verified death, the expiry.
  t.regex(
    lost.json.error.message,
    /^no result from thermo-1 within 300 ms\. The broker acknowledged the command; nothing says whether it reached the device\. According to the server's record of the device's verified births and deaths, the device is offline \(its session \d+ ended\)\. The broker delivers the command when the device reconnects only if it still holds the device's persistent session .* The command expires at \S+Z: delivered later, a device with trusted time refuses it \(expired\)\.$/,
  );
  const unanswered = await until("the unanswered command recorded", () => f.server.events({ device: DEVICE }).find((e) => e.code === "command-unanswered"));
  t.like(unanswered, { source: "server", allowed: false });
  t.regex(unanswered.detail ?? "", /^command seq \d+ \(read\.target on setpoint\) relayed, no result within 300 ms$/);
});

test("a publication signed by the wrong key, or from an unknown device, is refused and logged as a server event", async (t) => {
  const f = await setup(t);
  f.startDevice();
  await until("online", () => f.server.devices().find((d) => d.online));
  const w = await watcher(f.brokerUrl, "gh/none/none");
  t.teardown(() => void w.client.end(true));

  // Same kid as the device, another key: the signature does not verify.
  const impostor = nodeCrypto.generateKey("ES256", utf8(DEVICE));
  const forged = signRawPublication(nodeCrypto, impostor, "birth", {
    device: DEVICE,
    seq: 10 ** 12,
    session: 10 ** 12,
    firmware: "evil",
    patch: 0,
    epoch: 0,
    doors: [],
    dropped: {},
  });
  await w.client.publishAsync(`gh/${DEVICE}/birth`, Buffer.from(forged), { qos: 1 });
  // A device nobody registered.
  const stranger = nodeCrypto.generateKey("ES256", utf8("stranger"));
  await w.client.publishAsync("gh/stranger/events", Buffer.from(signRawPublication(nodeCrypto, stranger, "event", { device: "stranger", seq: 1, code: "x" })), { qos: 1 });
  // The device's own key, but a kind mismatch (a telemetry signature presented as an event).
  const crossKind = signRawPublication(nodeCrypto, f.deviceKey, "telemetry", { device: DEVICE, seq: 10 ** 12, door: "setpoint", event: "changed", data: 1, time: null });
  await w.client.publishAsync(`gh/${DEVICE}/events`, Buffer.from(crossKind), { qos: 1 });
  // Garbage.
  await w.client.publishAsync(`gh/${DEVICE}/telemetry`, Buffer.from("not cbor at all"), { qos: 1 });

  const events = await until("four server events", () => {
    const rows = f.server.events({});
    return rows.length >= 4 && rows;
  });
  t.deepEqual(
    events.map((e) => [e.source, e.device, e.code]),
    [
      ["server", DEVICE, "bad-signature"],
      ["server", "stranger", "unknown-device"],
      ["server", DEVICE, "bad-signature"],
      ["server", DEVICE, events[3].code],
    ],
  );
  t.regex(events[3].code, /^(cbor-|cose-)/);
  t.regex(events[0].detail ?? "", /birth refused/);
  const device = f.server.devices()[0];
  t.is(device.firmware, "1.4.2", "the forged birth changed nothing");
  t.true(device.online);
  t.true(f.activity.some((a) => a.type === "event" && a.event.code === "unknown-device"));

  const api = await f.api("GET", "/api/events?limit=2");
  t.deepEqual(
    api.json.events.map((e: { id: number }) => e.id),
    [events[2].id, events[3].id],
    "without after: the latest, oldest first",
  );
  const after = await f.api("GET", `/api/events?after=${events[1].id}&limit=1`);
  t.deepEqual(
    after.json.events.map((e: { id: number }) => e.id),
    [events[2].id],
  );
  t.is(after.json.lastId, events[2].id);
});

test("re-delivered publications are not counted twice, also across a server restart (retained births)", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-server-db-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const dbPath = join(dir, "fleet.db");
  const f = await setup(t, { dbPath });
  const w = await watcher(f.brokerUrl, `gh/${DEVICE}/#`);
  t.teardown(() => void w.client.end(true));
  f.startDevice();
  await until("online", () => f.server.devices().find((d) => d.online));

  // One refused command: one event, one result, and a telemetry-free run.
  await f.api("POST", "/api/commands", { ...signed("invoke.reset"), device: DEVICE, door: "setpoint" });
  await until("event", () => f.server.events({}).length === 1);
  const captured = await until("captured event", () => w.messages.find((m) => m.topic.endsWith("/events")));
  const birth = await until("captured birth", () => w.messages.find((m) => m.topic.endsWith("/birth")));

  // The broker delivering the same messages again (QoS 1 redelivery): dropped.
  for (let i = 0; i < 3; i++) {
    await w.client.publishAsync(captured.topic, captured.payload, { qos: 1 });
    await w.client.publishAsync(birth.topic, birth.payload, { qos: 1 });
  }
  await until("duplicates seen", () => f.server.duplicates >= 6);
  t.is(f.server.events({}).length, 1);
  const before = f.server.devices()[0];

  // While the server is down, the device refuses another command: its event waits in the server's
  // persistent session at the broker.
  await f.server.stop();
  const client = await CommandClient.connect({ brokerUrl: f.brokerUrl, key: OPERATOR });
  t.teardown(() => client.close());
  t.like(await client.send({ device: DEVICE, door: "setpoint", op: "invoke.reset", deviceKey: publicKey(f.deviceKey) }), { ok: false, code: "not-allowed" });

  // A new server on the same database and session: the queued event arrives, the retained birth arrives
  // again and is dropped.
  const again = await FleetServer.start({ brokerUrl: f.brokerUrl, dbPath, clientId: f.clientId });
  t.teardown(() => again.stop());
  await until("the queued event", () => again.events({}).length === 2);
  await until("retained birth redelivered", () => again.duplicates >= 1);
  await sleep(100);
  t.deepEqual(
    again.events({}).map((e) => [e.code, e.op]),
    [
      ["not-allowed", "invoke.reset"],
      ["not-allowed", "invoke.reset"],
    ],
  );
  const after = again.devices()[0];
  t.deepEqual({ ...after, lastSeen: before.lastSeen }, before);
  t.is(after.birthSeq, before.birthSeq, "the retained birth was not applied again");
  t.is(again.device(DEVICE)?.results.length, 2);
});

test("security_events is append-only: UPDATE, DELETE and REPLACE are refused by the database", async (t) => {
  const f = await setup(t);
  const w = await watcher(f.brokerUrl, "gh/none/none");
  t.teardown(() => void w.client.end(true));
  await w.client.publishAsync("gh/nobody/birth", Buffer.from([0xa0]), { qos: 1 });
  const [row] = await until("a server event", () => f.server.events({}).length === 1 && f.server.events({}));
  t.is(row.code, "unknown-device");
  const db = f.server.store.db;
  t.throws(() => db.prepare("UPDATE security_events SET code = 'nothing' WHERE id = ?").run(row.id), { any: true, message: /append-only/ });
  t.throws(() => db.prepare("DELETE FROM security_events").run(), { any: true, message: /append-only/ });
  t.throws(
    () => db.prepare("INSERT OR REPLACE INTO security_events (id, received_at, device, source, code, allowed) VALUES (?, 0, 'x', 'server', 'x', 0)").run(row.id),
    { any: true, message: /append-only/ },
  );
  t.is(f.server.events({})[0].code, "unknown-device");
});

test("the HTTP API validates its input and answers errors as JSON", async (t) => {
  const f = await setup(t);
  const newKey = generateDeviceKey("thermo-2");
  const keyB64 = Buffer.from(encodeKey(publicKey(newKey))).toString("base64");

  const created = await f.api("POST", "/api/devices", { id: "thermo-2", key: keyB64 });
  t.is(created.status, 201);
  t.like(created.json, { change: "created", device: { id: "thermo-2", online: false, alg: "ES256" } });
  t.is((await f.api("POST", "/api/devices", { id: "thermo-2", key: keyB64 })).status, 200);
  const other = Buffer.from(encodeKey(publicKey(generateDeviceKey("thermo-2")))).toString("base64");
  const conflict = await f.api("POST", "/api/devices", { id: "thermo-2", key: other });
  t.is(conflict.status, 409);
  t.is(conflict.json.error.code, "device-conflict");
  t.deepEqual(
    f.server.devices().map((d) => d.id),
    [DEVICE, "thermo-2"],
  );

  const expect = async (status: number, code: string, method: string, path: string, body?: unknown, headers?: Record<string, string>) => {
    const r = await f.api(method, path, body, headers);
    t.is(r.status, status, `${method} ${path} ${JSON.stringify(body)?.slice(0, 60)}`);
    t.is(r.json.error?.code, code);
    t.is(typeof r.json.error?.message, "string");
  };
  await expect(400, "key-invalid", "POST", "/api/devices", { id: "thermo-3", key: keyB64 }); // kid is thermo-2
  await expect(400, "key-invalid", "POST", "/api/devices", { id: "thermo-3", key: "AAAA" });
  await expect(400, "invalid-input", "POST", "/api/devices", { id: "Bad/Id", key: keyB64 });
  await expect(400, "invalid-input", "POST", "/api/devices", { id: "thermo-3", key: "***" });
  await expect(400, "invalid-input", "POST", "/api/devices", { id: "thermo-3", key: keyB64, extra: 1 });
  await expect(400, "invalid-input", "POST", "/api/devices", [1, 2]);
  await expect(400, "invalid-json", "POST", "/api/devices", "{not json");
  await expect(415, "unsupported-media-type", "POST", "/api/devices", JSON.stringify({ id: "x" }), { "content-type": "text/plain" });
  await expect(413, "too-large", "POST", "/api/devices", { id: "x", key: "A".repeat(70 * 1024) });
  await expect(404, "not-found", "GET", "/api/nothing");
  await expect(404, "unknown-device", "GET", "/api/devices/nope");
  await expect(405, "method-not-allowed", "DELETE", "/api/devices");
  await expect(400, "invalid-input", "GET", "/api/events?limit=0");
  await expect(400, "invalid-input", "GET", "/api/events?after=-1");
  await expect(400, "invalid-input", "GET", "/api/events?limit=1e3");
  await expect(400, "invalid-input", "POST", "/api/commands", { device: DEVICE, door: "setpoint" });
  await expect(400, "command-mismatch", "POST", "/api/commands", { ...signed("read.target", undefined, "thermo-2"), device: DEVICE, door: "setpoint" });
  await expect(400, "command-mismatch", "POST", "/api/commands", { ...signed("read.target", undefined, DEVICE, "other"), device: DEVICE, door: "setpoint" });
  await expect(404, "unknown-device", "POST", "/api/commands", { ...signed("read.target", undefined, "ghost"), device: "ghost", door: "setpoint" });
  await expect(400, "invalid-input", "POST", "/api/commands", { ...signed("read.target"), device: DEVICE, door: "set/point" });
  await expect(400, "invalid-input", "POST", "/api/commands", { ...signed("read.target"), device: DEVICE, door: "setpoint", timeoutMs: 10 ** 9 });
  await expect(400, "cose-malformed", "POST", "/api/commands", { message: Buffer.from([0xd2, 0x80]).toString("base64"), device: DEVICE, door: "setpoint" });
  const truncated = await f.api("POST", "/api/commands", { message: "0g==", device: DEVICE, door: "setpoint" });
  t.is(truncated.status, 400);
  t.regex(truncated.json.error.code, /^cbor-/);
});

test("CommandClient over the broker: verified with the device key, marked unverified without", async (t) => {
  const f = await setup(t);
  f.startDevice();
  await until("online", () => f.server.devices().find((d) => d.online));
  const client = await CommandClient.connect({ brokerUrl: f.brokerUrl, key: OPERATOR });
  t.teardown(() => client.close());
  const verified = await client.send({ device: DEVICE, door: "setpoint", op: "write.target", args: 21, deviceKey: publicKey(f.deviceKey) });
  t.like(verified, { ok: true, verified: true, device: DEVICE, sender: toHex(OPERATOR.kid) });
  t.is(verified.value, undefined);
  const unverified = await client.send({ device: DEVICE, door: "setpoint", op: "read.target" });
  t.like(unverified, { ok: true, value: 21, verified: false });
  t.true(unverified.seq > verified.seq);
  const refused = await client.send({ device: DEVICE, door: "setpoint", op: "write.target", args: 99, deviceKey: publicKey(f.deviceKey) });
  t.like(refused, { ok: false, code: "invalid-args", verified: true });
  // The wrong device key: the genuine result fails verification, and the timeout says so.
  const wrong = publicKey(nodeCrypto.generateKey("ES256", utf8(DEVICE)));
  const error = await t.throwsAsync(client.send({ device: DEVICE, door: "setpoint", op: "read.target", deviceKey: wrong, timeoutMs: 500 }));
  t.is((error as { code?: string }).code, "no-result");
  t.regex(error?.message ?? "", /failed verification \(bad-signature/);
});

test("aedes: the same server works against an in-process broker", async (t) => {
  const f = await setup(t, { broker: "aedes" });
  f.startDevice();
  await until("online", () => f.server.devices().find((d) => d.online));
  const reply = await f.api("POST", "/api/commands", { ...signed("write.target", 18), device: DEVICE, door: "setpoint" });
  t.like(reply.json, { ok: true, verified: true });
  t.is(f.state.target, 18);
  f.device.stop(false);
  await until("offline", () => f.server.devices().find((d) => !d.online));
});

test("a birth with a new session is reported as online even when the database still had the device online", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-server-db-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const dbPath = join(dir, "fleet.db");
  const f = await setup(t, { dbPath });
  const w = await watcher(f.brokerUrl, "gh/none");
  t.teardown(() => void w.client.end(true));
  const birth = (session: number, seq: number) =>
    Buffer.from(signPublication(nodeCrypto, f.deviceKey, "birth", { device: DEVICE, seq, session, firmware: "1", patch: 0, epoch: 0, doors: [], dropped: {}, droppedRanges: [], stream: 5, next: 0 }));
  await w.client.publishAsync(`gh/${DEVICE}/birth`, birth(5, 6), { qos: 1 });
  await until("online", () => f.activity.some((a) => a.type === "online"));
  // The server stops while the device is online, and never sees its death. A new server, on the same
  // database but a new broker session, then receives the device's next birth.
  await f.server.stop();
  const activity: Activity[] = [];
  const again = await FleetServer.start({ brokerUrl: f.brokerUrl, dbPath, clientId: `${f.clientId}-2`, onActivity: (a) => activity.push(a) });
  t.teardown(() => again.stop());
  t.true(again.devices()[0].online, "the database still says online");
  await w.client.publishAsync(`gh/${DEVICE}/birth`, birth(9, 10), { qos: 1 });
  const online = await until("online again", () => activity.find((a) => a.type === "online"));
  t.like(online, { device: DEVICE, session: 9 });
});
