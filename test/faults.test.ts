// Faults against a real mosquitto: the broker restarted (SIGTERM: it saves its database and comes back
// with retained messages, persistent sessions and queued QoS 1 messages) in the middle of a command flow
// and in the middle of a telemetry stream, and a device process killed with SIGKILL and started again on
// the same state folder. The device is the real one (sdk/device.ts over the Node ports); the other side is
// MQTT.js (an operator signing commands with the SDK's signCommand, a watcher verifying every publication
// with verifyPublication) and the fleet server. No timing assertions: every wait is bounded and waits for
// an outcome.
//
// The operator here is MQTT.js with a persistent session (clean false, fixed client id), not
// CommandClient, which does not survive a broker restart: it connects with a clean session, so the broker
// keeps nothing for it while it reconnects; and after the reconnect MQTT.js first sends the commands it
// held and only then subscribes again (resubscribe runs on "connect", emitted once its outgoing store is
// flushed), so the results of those commands come back before the subscription exists and are lost. The
// commands do run; their send() calls end in "no-result".
import test from "ava";
import { connect, type MqttClient } from "mqtt";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { toHex } from "../sdk/bytes";
import { utf8 } from "../sdk/cbor/encode";
import type { CborMap, CborValue } from "../sdk/cbor/types";
import { signCommand } from "../sdk/command/sender";
import { publicKey, type CoseKey } from "../sdk/cose/key";
import { Device } from "../sdk/device";
import { verifyPublication, type PublicationKind } from "../sdk/session/publications";
import { TrustList } from "../sdk/trust";
import { nodeCrypto } from "../ports/node/crypto";
import { CommandClient } from "../host/client/command-client";
import { nextSequence } from "../host/client/sequence";
import { generateDeviceKey, writeIdentity } from "../host/identity-files";
import { FleetServer } from "../host/server/index";
import { startMosquitto } from "./support/brokers";
import { installCounter, nodeDeviceOptions, sleep, until, type NodeDeviceOverrides } from "./support/devices";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = join(repoRoot, "bin", "gatehouse.js");
const OPERATOR = nodeCrypto.generateKey("EdDSA", utf8("fault-operator"));
const KINDS: Record<string, PublicationKind> = { birth: "birth", death: "death", result: "result", telemetry: "telemetry", events: "event" };

const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString("hex")}`;


const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const plain = (body: CborMap) => Object.fromEntries(body as Map<string, unknown>);


function counterDevice(brokerUrl: string, id: string, key: CoseKey, onHit: (index: number) => void, options: NodeDeviceOverrides = {}) {
  const device = new Device(nodeDeviceOptions(brokerUrl, id, key, OPERATOR, { firmware: "faults 1", ...options }));
  return { device, door: installCounter(device, onHit) };
}

interface Sent {
  message: Uint8Array;
  seq: number;
  /** SHA-256(message)[0..8] in hex: what the device's result names. */
  ref: string;
}

/**
 * An operator on plain MQTT.js: signs commands with the SDK, publishes them at QoS 1, and collects the
 * device's results (each verified with the device key) by ref, in arrival order.
 */
class Operator {
  readonly results = new Map<string, CborMap[]>();
  readonly failures: string[] = [];
  connects = 0;

  private constructor(
    readonly client: MqttClient,
    readonly device: string,
    private readonly deviceKey: CoseKey,
  ) {}

  /** `persistent`: clean session false with this client id, so results published while it is away wait for it. */
  static async connect(url: string, device: string, deviceKey: CoseKey, options: { clientId: string; persistent: boolean }): Promise<Operator> {
    const client = connect(url, { protocolVersion: 4, clean: !options.persistent, clientId: options.clientId, reconnectPeriod: 100, connectTimeout: 5000 });
    const operator = new Operator(client, device, deviceKey);
    client.on("connect", () => {
      operator.connects++;
      (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    });
    client.on("error", () => {}); // refused reconnects while the broker is down
    client.on("message", (topic, payload) => operator.message(topic, new Uint8Array(payload)));
    await until("the operator's connection", () => client.connected, 10_000);
    await client.subscribeAsync(`gh/${device}/result`, { qos: 1 });
    return operator;
  }

  sign(door: string, op: string, args?: CborValue): Sent {
    const seq = nextSequence();
    const message = signCommand(nodeCrypto, OPERATOR, { device: this.device, door, op, args, seq, issuedAt: Math.floor(Date.now() / 1000), expiresAt: Math.floor(Date.now() / 1000) + 60 });
    return { message, seq, ref: toHex(nodeCrypto.sha256(message).subarray(0, 8)) };
  }

  /** Publishes at QoS 1 without waiting: while disconnected, MQTT.js keeps it and sends it after the reconnect. */
  publish(door: string, message: Uint8Array): void {
    this.client.publish(`gh/${this.device}/cmd/${door}`, Buffer.from(message), { qos: 1 }, () => {});
  }

  send(door: string, op: string, args?: CborValue): Sent {
    const sent = this.sign(door, op, args);
    this.publish(door, sent.message);
    return sent;
  }

  /** The `nth` result (1-based) for a ref, waiting for it. */
  result(ref: string, nth = 1, ms = 15_000): Promise<CborMap> {
    return until(`result #${nth} for ${ref}`, () => this.results.get(ref)?.[nth - 1], ms);
  }

  close(): void {
    this.client.end(true);
  }

  private message(topic: string, payload: Uint8Array): void {
    try {
      const body = verifyPublication(nodeCrypto, payload, this.deviceKey, "result", this.device);
      const ref = toHex(body.get("ref") as Uint8Array);
      const list = this.results.get(ref) ?? [];
      list.push(body);
      this.results.set(ref, list);
    } catch (e) {
      this.failures.push(`${topic}: ${(e as Error).message}`);
    }
  }
}

test("broker restarted twice in the middle of 40 commands: each runs exactly once and each gets its result", async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const id = "fault-cmd";
  const key = generateDeviceKey(id);
  const K = 40;
  const executions = new Array<number>(K).fill(0);
  const { device } = counterDevice(broker.url, id, key, (index) => executions[index]++);
  device.start();
  t.teardown(() => device.stop(false));
  await until("the device online", () => device.state === "online");
  const operator = await Operator.connect(broker.url, id, publicKey(key), { clientId: unique("fault-operator"), persistent: true });
  t.teardown(() => operator.close());

  // The restarts run alongside the sends (chained, so they never overlap): commands keep being signed
  // and published while the broker is down, and MQTT.js holds them until it is back.
  let restarts = Promise.resolve();
  const sent: Sent[] = [];
  for (let i = 0; i < K; i++) {
    if (i === 12 || i === 27) restarts = restarts.then(() => broker.restart());
    sent.push(operator.send("counter", "invoke.hit", i));
    await sleep(40);
  }
  await restarts;

  const first = await Promise.all(sent.map((s) => operator.result(s.ref, 1, 20_000)));
  await sleep(300); // late redeliveries, if any, would show up here
  t.log(`device connects ${device.connects}, operator connects ${operator.connects}`);
  t.true(device.connects >= 3, "the device saw both restarts and reconnected after each");
  t.true(operator.connects >= 3, "so did the operator");

  t.deepEqual(executions, new Array<number>(K).fill(1), "every command executed exactly once");
  t.deepEqual(
    first.map((r) => [r.get("ok"), r.get("value"), r.get("cmdSeq")]),
    sent.map((s, i) => [true, i, s.seq]),
    "every command got its own result, ok, with its value",
  );
  t.deepEqual(operator.failures, [], "every result verified with the device key");

  // More than one result for a ref: a QoS 1 redelivery (of the command, answered from the device's
  // recent outcomes, or of the result itself). Every one must repeat the first, never contradict it.
  const contradicting = sent.flatMap((s, i) =>
    (operator.results.get(s.ref) ?? []).slice(1).filter((r) => r.get("ok") !== true || r.get("value") !== i).map((r) => `#${i}: ok ${r.get("ok")} ${r.get("code") ?? ""}`),
  );
  t.deepEqual(contradicting, [], "redelivered results agree with the first");
  t.deepEqual(device.dropped, {}, "nothing dropped by the offline queue");
});

test("CommandClient across a broker restart: every send() gets its verified result, each command runs once", async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const id = "fault-client";
  const key = generateDeviceKey(id);
  const K = 20;
  const executions = new Array<number>(K).fill(0);
  const { device } = counterDevice(broker.url, id, key, (index) => executions[index]++);
  device.start();
  t.teardown(() => device.stop(false));
  await until("the device online", () => device.state === "online");
  const client = await CommandClient.connect({ brokerUrl: broker.url, key: OPERATOR });
  t.teardown(() => client.close());
  const replies: Promise<unknown>[] = [];
  let restart = Promise.resolve();
  for (let i = 0; i < K; i++) {
    if (i === 8) restart = broker.restart();
    replies.push(client.send({ device: id, door: "counter", op: "invoke.hit", args: i, deviceKey: publicKey(key), timeoutMs: 20_000 }));
    await sleep(30);
  }
  await restart;
  const settled = await Promise.allSettled(replies);
  t.deepEqual(
    settled.map((r, i) => (r.status === "fulfilled" ? [(r.value as { ok: boolean }).ok, (r.value as { value: unknown }).value, (r.value as { verified: boolean }).verified] : [`rejected: ${(r.reason as Error).message}`, i])),
    Array.from({ length: K }, (_, i) => [true, i, true]),
  );
  t.deepEqual(executions, new Array<number>(K).fill(1), "each command executed exactly once");
});

// Protocol §3: a command delivered twice by QoS 1 executes once and the second delivery gets the first
// result again, also in the order a broker resends after lost PUBACKs (A, B, then A again), when A has
// fallen below the replay window (the reference tools number commands by the microsecond).
test("a QoS 1 redelivery of command A after command B was accepted gets A's first result again (protocol §3)", (t) => {
  const id = "fault-redeliver";
  const key = generateDeviceKey(id);
  const executions: number[] = [];
  const { device } = counterDevice("mqtt://127.0.0.1:1", id, key, (index) => executions.push(index));
  const seq = nextSequence();
  const sign = (index: number, s: number) =>
    signCommand(nodeCrypto, OPERATOR, { device: id, door: "counter", op: "invoke.hit", args: index, seq: s, issuedAt: Math.floor(Date.now() / 1000), expiresAt: Math.floor(Date.now() / 1000) + 60 });
  const a = sign(1, seq);
  const b = sign(2, seq + 1000); // 1 ms later, as nextSequence() would number it
  t.like(device.handleCommand("counter", a).outcome, { ok: true, value: 1 });
  t.like(device.handleCommand("counter", b).outcome, { ok: true, value: 2 });
  const again = device.handleCommand("counter", a); // the broker resends A, then B
  t.deepEqual(executions, [1, 2], "A was not executed again");
  t.like(again, { duplicate: true, outcome: { ok: true, value: 1 } });
});

test("broker restarted twice in the middle of 200 telemetry events: the fleet server stores each seq exactly once", async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const id = "fault-telemetry";
  const key = generateDeviceKey(id);
  const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", clientId: unique("fault-server") });
  t.teardown(() => server.stop());
  server.registerDevice(id, publicKey(key));
  // Every write of a telemetry row (insert or update of the latest value), logged by the database itself
  // in the same transaction as the write.
  server.store.db.exec(`
    CREATE TEMP TABLE telemetry_log (seq INTEGER NOT NULL, data TEXT NOT NULL);
    CREATE TEMP TRIGGER telemetry_log_insert AFTER INSERT ON main.telemetry BEGIN INSERT INTO telemetry_log VALUES (new.seq, new.data); END;
    CREATE TEMP TRIGGER telemetry_log_update AFTER UPDATE ON main.telemetry BEGIN INSERT INTO telemetry_log VALUES (new.seq, new.data); END;
  `);
  const logged = () => server.store.db.prepare("SELECT seq, data FROM telemetry_log ORDER BY rowid").all() as { seq: number; data: string }[];

  // The queue must hold what is emitted while the broker is away (up to about 1.5 s at 15 ms a tick).
  const { device, door } = counterDevice(broker.url, id, key, () => {}, { session: { queueLimit: 500 } });
  device.start();
  t.teardown(() => device.stop(false));
  await until("the device online at the server", () => server.devices().find((d) => d.id === id && d.online));

  const N = 200;
  let restarts = Promise.resolve();
  for (let i = 0; i < N; i++) {
    if (i === 50 || i === 130) restarts = restarts.then(() => broker.restart());
    door.emit("tick", i);
    await sleep(15);
  }
  await restarts;
  const rows = await until("200 telemetry rows stored", () => logged().length >= N && logged(), 20_000);
  await sleep(300); // a late duplicate would be logged here
  const all = logged();
  t.log(`device connects ${device.connects}; duplicates dropped by the server ${server.duplicates}`);
  t.true(device.connects >= 3, "the device saw both restarts");

  t.is(all.length, N, "no telemetry stored twice");
  t.deepEqual(
    all.map((r) => JSON.parse(r.data)),
    range(N),
    "every tick stored once, in order: no gap, no duplicate",
  );
  const seqs = rows.map((r) => r.seq);
  t.true(
    seqs.every((s, i) => i === 0 || s > seqs[i - 1]),
    "publication seqs strictly increase",
  );
  t.deepEqual(
    server.events({ limit: 1000 }).map((e) => `${e.source} ${e.code} ${e.detail ?? ""}`),
    [],
    "no publication refused by the server (a redelivery is dropped silently, never too-old)",
  );
  t.like(server.device(id)?.telemetry[0], { door: "counter", event: "tick", data: N - 1 });
  t.deepEqual(device.dropped, {}, "nothing dropped by the offline queue");
});

test("a device process killed with SIGKILL and restarted on its state folder: seqs go on increasing, old commands are refused", async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-faults-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const id = "proc-1";
  const key = generateDeviceKey(id);
  const identities = join(dir, "identities");
  const state = join(dir, "state");
  writeIdentity(identities, { id, key, trust: new TrustList([{ key: publicKey(OPERATOR), role: "operate" }]) });

  // The watcher verifies every publication of the device; `phase` says which process it came from.
  let phase = 1;
  const seen: { kind: PublicationKind; seq: number; phase: number; body: CborMap }[] = [];
  const failures: string[] = [];
  const watcher = connect(broker.url, { protocolVersion: 4, clean: true, reconnectPeriod: 100 });
  watcher.on("error", () => {});
  watcher.on("message", (topic, payload) => {
    const kind = KINDS[topic.split("/")[2]];
    if (!kind) return;
    try {
      const body = verifyPublication(nodeCrypto, new Uint8Array(payload), publicKey(key), kind, id);
      seen.push({ kind, seq: body.get("seq") as number, phase, body });
    } catch (e) {
      failures.push(`${topic}: ${(e as Error).message}`);
    }
  });
  t.teardown(() => void watcher.end(true));
  await until("the watcher", () => watcher.connected);
  await watcher.subscribeAsync(`gh/${id}/#`, { qos: 1 });
  const operator = await Operator.connect(broker.url, id, publicKey(key), { clientId: unique("proc-operator"), persistent: false });
  t.teardown(() => operator.close());

  const children: ChildProcess[] = [];
  t.teardown(() => {
    for (const c of children) c.kill("SIGKILL");
  });
  let output = "";
  const startSim = () => {
    const child = spawn(process.execPath, [BIN, "sim", "--broker", broker.url, "--devices", "1", "--example", "thermostat", "--identities", identities, "--state", state], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    child.stdout.setEncoding("utf8").on("data", (text: string) => (output += text));
    child.stderr.setEncoding("utf8").on("data", (text: string) => (output += text));
    children.push(child);
    return child;
  };
  const births = (p: number) => seen.filter((s) => s.kind === "birth" && s.phase === p);

  const first = startSim();
  await until("the first birth", () => births(1).length > 0, 30_000).catch((e) => {
    throw new Error(`${(e as Error).message}\n${output}`);
  });
  const session1 = births(1)[0].body.get("session") as number;

  // Two commands handled by the first process; both captured.
  const older = operator.send("setpoint", "write.target", 21);
  t.like(plain(await operator.result(older.ref)), { ok: true, cmdSeq: older.seq });
  const latest = operator.send("setpoint", "write.target", 22);
  t.like(plain(await operator.result(latest.ref)), { ok: true, cmdSeq: latest.seq });

  // kill -9: no death of its own; the broker publishes the will (the death signed at connect).
  const exited = new Promise((done) => first.once("exit", done));
  first.kill("SIGKILL");
  await exited;
  await until("the will (death of the first session)", () => seen.some((s) => s.kind === "death" && s.body.get("session") === session1));
  const before = Math.max(...seen.map((s) => s.seq));
  const countBefore = seen.length;

  phase = 2;
  startSim();
  const birth2 = await until("the second birth", () => births(2)[0], 30_000).catch((e) => {
    throw new Error(`${(e as Error).message}\n${output}`);
  });
  t.true((birth2.body.get("session") as number) > before, "the new session starts above every number used before");

  // The captured commands again: the replay window was persisted before they ran, and the recent
  // outcomes were in memory only, so after the restart both are refusals.
  operator.publish("setpoint", latest.message);
  operator.publish("setpoint", older.message);
  const replayedLatest = await operator.result(latest.ref, 2);
  const replayedOlder = await operator.result(older.ref, 2);
  for (const [what, r] of [
    ["the latest command", replayedLatest],
    ["the older command", replayedOlder],
  ] as const) {
    t.is(r.get("ok"), false, `${what} replayed after the restart is refused`);
    t.true(["replayed", "too-old"].includes(r.get("code") as string), `${what}: ${String(r.get("code"))}`);
  }
  t.log(`replays refused as: latest ${String(replayedLatest.get("code"))}, older ${String(replayedOlder.get("code"))}`);

  // A fresh command works, and shows the replays changed nothing: the target is the thermostat's
  // default again after the restart (it is not persisted), 20; the replays would have set 22 and 21.
  const fresh = operator.send("setpoint", "read.target");
  t.like(plain(await operator.result(fresh.ref)), { ok: true, value: 20, cmdSeq: fresh.seq });

  const after = seen.slice(countBefore).map((s) => s.seq);
  t.true(after.length >= 4, "birth and three results at least");
  t.true(Math.min(...after) > before, `every seq after the restart (from ${Math.min(...after)}) is above every seq before (${before})`);
  t.deepEqual(failures, [], "every publication verified with the device key");
  t.deepEqual(operator.failures, []);
});
