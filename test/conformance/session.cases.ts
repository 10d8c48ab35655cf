// The device's MQTT session and publications, driven through a scripted transport and manual timers:
// births and wills, signed results, QoS 1 redelivery, the bounded offline queue, backoff, and state that
// survives a restart. Runs on Node and inside XS.

import { Device, type DeviceOptions } from "../../sdk/device";
import { GatehouseError } from "../../sdk/errors";
import { signCommand } from "../../sdk/command/sender";
import { decodePublication, PUBLICATION_KINDS, PUBLICATIONS, verifyPublication, type PublicationKind } from "../../sdk/session/publications";
import { publicKey, type CoseKey } from "../../sdk/cose/key";
import { utf8 } from "../../sdk/cbor/encode";
import type { CborMap, CborValue } from "../../sdk/cbor/types";
import { toHex } from "../../sdk/bytes";
import { TrustList } from "../../sdk/trust";
import type { StoragePort } from "../../sdk/ports/storage";
import type { TimerPort } from "../../sdk/ports/timer";
import type { MqttConnectOptions, QoS, TransportHandlers, TransportPort } from "../../sdk/ports/transport";
import type { ConformanceCase, ConformanceEnv } from "./case";
import { check, checkBytes, checkEqual, checkRefused } from "./check";
import { FakeClock, newSetpointState, registerSetpoint } from "./doors.cases";
import { keyFromVector } from "./vectors";
import ecdsa01 from "../fixtures/cose/ecdsa-examples/ecdsa-sig-01.json" with { type: "json" };
import eddsa01 from "../fixtures/cose/eddsa-examples/eddsa-sig-01.json" with { type: "json" };

const OPERATOR = keyFromVector(eddsa01.input.sign0.key, "operator");
const DEVICE_KEY: CoseKey = { ...keyFromVector(ecdsa01.input.sign0.key), kid: utf8("dev-1") };
const NOW_S = 1_790_000_000;

interface Sent {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  packetId: number;
  duplicate: boolean;
}

/** A transport whose broker side the test plays by hand. */
class ScriptedTransport implements TransportPort {
  opens: MqttConnectOptions[] = [];
  handlers: TransportHandlers | undefined;
  sent: Sent[] = [];
  subscriptions: string[] = [];
  closes: boolean[] = [];

  open(options: MqttConnectOptions, handlers: TransportHandlers): void {
    this.opens.push(options);
    this.handlers = handlers;
  }
  publish(topic: string, payload: Uint8Array, qos: QoS, retain: boolean, packetId: number, duplicate: boolean): void {
    this.sent.push({ topic, payload, qos, retain, packetId, duplicate });
  }
  subscribe(filters: readonly string[]): void {
    this.subscriptions.push(...filters);
  }
  close(graceful: boolean): void {
    this.closes.push(graceful);
  }
  /** Acknowledges every QoS 1 publish sent so far. */
  ackAll(): void {
    for (const s of this.sent.splice(0)) if (s.qos === 1) this.handlers?.onAcknowledged(s.packetId);
  }
  ofKind(topicEnd: string): Sent[] {
    return this.sent.filter((s) => s.topic.endsWith(`/${topicEnd}`));
  }
}

class ManualTimers implements TimerPort {
  pending: { callback: () => void; ms: number }[] = [];
  set(callback: () => void, ms: number) {
    const entry = { callback, ms };
    this.pending.push(entry);
    return entry;
  }
  clear(handle: unknown) {
    this.pending = this.pending.filter((p) => p !== handle);
  }
  fireAll(): number[] {
    const due = this.pending.splice(0);
    for (const p of due) p.callback();
    return due.map((p) => p.ms);
  }
}

class MemoryStore implements StoragePort {
  readonly data = new Map<string, Uint8Array>();
  writes = 0;
  read(key: string) {
    return this.data.get(key);
  }
  write(key: string, value: Uint8Array) {
    this.writes++;
    this.data.set(key, value.slice());
  }
  remove(key: string) {
    this.data.delete(key);
  }
}

function makeDevice(env: ConformanceEnv, storage = new MemoryStore(), queueLimit = 64, options: Partial<DeviceOptions> = {}) {
  const transport = new ScriptedTransport();
  const timers = new ManualTimers();
  const clock = new FakeClock();
  const device = new Device({
    id: "dev-1",
    key: DEVICE_KEY,
    trust: new TrustList([{ key: OPERATOR, role: "operate" }]),
    ports: { crypto: env.crypto, clock, timers, storage, transport },
    firmware: { version: "1.2.3", epoch: 2 },
    session: { queueLimit },
    events: { burst: 3 },
    ...options,
  });
  const state = newSetpointState();
  const door = registerSetpoint(device, state);
  return { device, transport, timers, clock, storage, state, door };
}

function kindOf(sent: Sent): PublicationKind {
  const topic = sent.topic.slice("gh/dev-1/".length);
  return PUBLICATION_KINDS.find((kind) => PUBLICATIONS[kind].topic === topic) as PublicationKind;
}

/** A publication the device sent, verified, and decoded by the codec (every field of its kind, or this throws). */
function open(env: ConformanceEnv, kind: PublicationKind, sent: Sent): CborMap {
  const body = verifyPublication(env.crypto, sent.payload, publicKey(DEVICE_KEY), kind, "dev-1");
  decodePublication(kind, body);
  return body;
}

function command(env: ConformanceEnv, seq: number, args: CborValue = 22, claims: { issuedAt?: number; expiresAt?: number | null } = {}): Uint8Array {
  const issuedAt = claims.issuedAt ?? NOW_S;
  const expiresAt = claims.expiresAt === null ? undefined : (claims.expiresAt ?? NOW_S + 60);
  return signCommand(env.crypto, OPERATOR, { device: "dev-1", door: "setpoint", op: "write.target", args, seq, issuedAt, expiresAt });
}

export const sessionCases: ConformanceCase[] = [
  {
    name: "device: options are checked at construction: the firmware text must fit a birth (invalid-options)",
    run(env) {
      checkRefused(() => makeDevice(env, new MemoryStore(), 64, { firmware: { version: "f".repeat(65) } }), "invalid-options", "a firmware text of 65 characters");
      checkRefused(() => makeDevice(env, new MemoryStore(), 64, { firmware: { version: "" } }), "invalid-options", "an empty firmware text");
      checkRefused(() => makeDevice(env, new MemoryStore(), 64, { firmware: { version: "1", epoch: -1 } }), "invalid-options", "a negative epoch");
      const { device, transport } = makeDevice(env, new MemoryStore(), 64, { firmware: { version: "f".repeat(64), patch: 3 } });
      device.start();
      transport.handlers?.onConnected(false);
      const birth = open(env, "birth", transport.ofKind("birth")[0]);
      checkEqual(birth.get("patch"), 3, "patch in the birth");
    },
  },
  {
    name: "device: an attached service gets its own topics and publishes its own kinds through the device; names and kinds are checked",
    run(env) {
      const { device, transport } = makeDevice(env);
      const received: string[] = [];
      const link = device.attach({
        name: "update",
        subscriptions: ["manifest", "image/+"],
        onMessage: (topic, message) => {
          if (topic === "fail") throw new GatehouseError("suit-malformed", "not a manifest");
          received.push(`${topic}:${message.length}`);
        },
      });
      checkEqual(link.deviceId, "dev-1", "the link names the device");
      checkRefused(() => device.attach({ name: "update" }), "invalid-options", "a name taken");
      for (const name of ["cmd", "birth", "events", "Update", "a/b", ""]) checkRefused(() => device.attach({ name }), "invalid-options", `the name "${name}"`);
      for (const kind of ["telemetry", "birth", "result", "event"] as const) checkRefused(() => device.attach({ name: "other", kinds: [kind] }), "invalid-options", `the device's own kind ${kind}`);
      checkRefused(() => link.publish("telemetry", { door: "x", event: "y", data: 1, time: null }), "invalid-options", "a kind the service did not declare");
      device.start();
      transport.handlers?.onConnected(false);
      checkEqual(transport.subscriptions.join(" "), "gh/dev-1/cmd/+ gh/dev-1/update/manifest gh/dev-1/update/image/+", "subscribed on connect");
      transport.handlers?.onMessage("gh/dev-1/update/image/3", new Uint8Array(5), 1, false);
      transport.handlers?.onMessage("gh/dev-1/update/manifest", new Uint8Array(2), 1, false);
      transport.handlers?.onMessage("gh/dev-1/other/x", new Uint8Array(1), 1, false);
      checkEqual(received.join(" "), "image/3:5 manifest:2", "its messages, and no one else's");
      checkEqual(transport.ofKind("result").length, 0, "a service's message is no command");
      transport.ackAll();
      checkEqual(link.refuse("suit-unsigned"), true, "a refusal through the link");
      const event = open(env, "event", transport.ofKind("events")[0]);
      checkEqual(event.get("code"), "suit-unsigned", "is a signed security event of the device");
      checkEqual(event.get("principal"), "unknown", "by an unknown principal");
      // A service that throws does not reach the transport (which would drop the connection): an event.
      transport.handlers?.onMessage("gh/dev-1/update/fail", new Uint8Array(1), 1, false);
      checkEqual(open(env, "event", transport.ofKind("events")[1]).get("code"), "suit-malformed", "a service's failure is a security event");
      checkEqual(device.state, "online", "and the session stays up");
    },
  },
  {
    name: "session: connect with the death as will, subscribe, publish a signed birth",
    run(env) {
      const { device, transport } = makeDevice(env);
      device.start();
      const options = transport.opens[0];
      checkEqual(options.clientId, "dev-1", "client id");
      checkEqual(options.cleanSession, false, "persistent session");
      checkEqual(options.will?.topic, "gh/dev-1/death", "will topic");
      checkEqual(options.will?.retain, true, "will retained");
      transport.handlers?.onConnected(false);
      checkEqual(transport.subscriptions[0], "gh/dev-1/cmd/+", "command subscription");
      const births = transport.ofKind("birth");
      checkEqual(births.length, 1, "one birth");
      checkEqual(births[0].retain, true, "birth retained");
      const birth = open(env, "birth", births[0]);
      const death = verifyPublication(env.crypto, options.will!.payload, publicKey(DEVICE_KEY), "death", "dev-1");
      checkEqual(birth.get("session"), death.get("session"), "birth and death name the same session");
      checkEqual(birth.get("firmware"), "1.2.3", "firmware");
      checkEqual(birth.get("epoch"), 2, "security epoch");
      const doors = birth.get("doors") as CborMap[];
      checkEqual(doors[0].get("name"), "setpoint", "door described");
      const target = ((doors[0].get("properties") as CborMap).get("target") as CborMap);
      checkEqual(target.get("write"), "operate", "required role in the description");
      check((birth.get("seq") as number) > (death.get("seq") as number), "birth after death in sequence");
    },
  },
  {
    name: "session: a command gets one signed result; a QoS 1 redelivery executes once",
    run(env) {
      const { device, transport, state } = makeDevice(env);
      device.start();
      transport.handlers?.onConnected(false);
      transport.ackAll();
      const message = command(env, 5);
      transport.handlers?.onMessage("gh/dev-1/cmd/setpoint", message, 1, false);
      transport.handlers?.onMessage("gh/dev-1/cmd/setpoint", message, 1, true);
      checkEqual(state.writes, 1, "executed once");
      const results = transport.ofKind("result").map((s) => open(env, "result", s));
      checkEqual(results.length, 2, "both deliveries answered");
      for (const r of results) {
        checkEqual(r.get("ok"), true, "ok");
        checkEqual(r.get("cmdSeq"), 5, "correlated by sequence number");
        checkEqual(r.get("sender"), toHex(OPERATOR.kid), "sender");
        checkBytes(r.get("ref") as Uint8Array, env.crypto.sha256(message).subarray(0, 8), "ref is the message hash prefix");
      }
      const duplicateEvent = open(env, "event", transport.ofKind("events")[0]);
      checkEqual(duplicateEvent.get("code"), "duplicate", "a redelivery is visible as a security event");
      checkEqual(transport.ofKind("telemetry").length, 1, "the door's event went out as telemetry");
      const refused = command(env, 6, 99);
      transport.handlers?.onMessage("gh/dev-1/cmd/setpoint", refused, 1, false);
      const last = open(env, "result", transport.ofKind("result")[2]);
      checkEqual(last.get("code"), "invalid-args", "refusal code in the result");
      checkEqual(open(env, "event", transport.ofKind("events")[1]).get("code"), "invalid-args", "and a security event");
      transport.handlers?.onMessage("gh/dev-1/cmd/relay", command(env, 7), 1, false);
      checkEqual(open(env, "result", transport.ofKind("result")[3]).get("code"), "wrong-door", "topic door must match");
    },
  },
  {
    name: "session: offline queue is bounded, drops are counted and reported, resend keeps order",
    run(env) {
      const { device, transport, timers, door } = makeDevice(env, new MemoryStore(), 4);
      device.start();
      transport.handlers?.onConnected(false);
      transport.ackAll();
      door.write("target", 21); // sent, not acknowledged yet
      const unacked = transport.ofKind("telemetry")[0];
      transport.handlers?.onClosed("broker went away");
      checkEqual(device.state, "waiting", "waiting to reconnect");
      for (let v = 22; v <= 27; v++) door.write("target", v); // 1 in flight + 6 new > 4
      checkEqual(device.pending, 4, "queue bounded");
      checkEqual(device.dropped.telemetry, 3, "drops counted per kind");
      const delays = timers.fireAll();
      check(delays.length === 1 && delays[0] >= 0 && delays[0] <= 500, `first retry within 0.5 s, was ${delays[0]}`);
      transport.sent.length = 0;
      transport.handlers?.onConnected(true);
      checkEqual(kindOf(transport.sent[0]), "birth", "the birth goes first");
      const birth = open(env, "birth", transport.ofKind("birth")[0]);
      // The drop report itself takes a place in the full queue: the oldest telemetry makes room. The
      // report is made before the birth is signed, so the birth counts that drop too.
      checkEqual((birth.get("dropped") as CborMap).get("telemetry"), 4, "the birth reports every drop");
      checkEqual(JSON.stringify(birth.get("droppedRanges")), "[[0,3]]", "and which indices they were");
      const values = transport.ofKind("telemetry").map((s) => open(env, "telemetry", s).get("data"));
      checkEqual(values.join(","), "25,26,27", "the newest, in order");
      checkEqual(device.dropped.telemetry, 4, "that drop is counted too");
      // Further connect attempts report nothing new: the report's own drop is not reported again.
      transport.handlers?.onClosed("link lost");
      const before = device.dropped.telemetry;
      timers.fireAll();
      transport.handlers?.onConnected(true);
      checkEqual(device.dropped.telemetry, before, "no drop report feeding on itself");
      const resent = transport.sent.filter((s) => s.packetId === unacked.packetId && s.topic === unacked.topic);
      checkEqual(resent.length, 0, "the dropped unacknowledged message is not resent");
      const events = transport.ofKind("events").map((s) => open(env, "event", s));
      checkEqual(events[0]?.get("code"), "queue-dropped", "drops are reported as a security event");
    },
  },
  {
    name: "session: unacknowledged publications are resent with DUP after a reconnect; backoff grows",
    run(env) {
      const { device, transport, timers, door } = makeDevice(env);
      device.start();
      transport.handlers?.onClosed("refused");
      const bounds: number[] = [];
      for (let i = 0; i < 8; i++) {
        const [delay] = timers.fireAll();
        bounds.push(delay);
        transport.handlers?.onClosed("refused");
      }
      check(bounds.every((d, i) => d <= Math.min(30000, 500 * 2 ** i)), `backoff within bounds: ${bounds.join(",")}`);
      timers.fireAll();
      transport.handlers?.onConnected(false);
      transport.ackAll();
      door.write("target", 23);
      const first = transport.ofKind("telemetry")[0];
      checkEqual(first.duplicate, false, "first send");
      transport.handlers?.onClosed("link lost");
      timers.fireAll();
      transport.handlers?.onConnected(true);
      const again = transport.ofKind("telemetry").filter((s) => s.packetId === first.packetId);
      checkEqual(again.length, 2, "resent after reconnect");
      checkEqual(again[1].duplicate, true, "with DUP");
      checkBytes(again[1].payload, first.payload, "same bytes");
      transport.ackAll();
      checkEqual(device.pending, 0, "acknowledged and gone");
      device.stop(true);
      checkEqual(transport.ofKind("death").length, 1, "a clean stop publishes the death");
      checkEqual(transport.closes[transport.closes.length - 1], true, "and disconnects gracefully");
    },
  },
  {
    name: "session: a restart never reuses a sequence number and keeps the replay window",
    run(env) {
      const storage = new MemoryStore();
      const first = makeDevice(env, storage);
      first.device.start();
      first.transport.handlers?.onConnected(false);
      first.transport.handlers?.onMessage("gh/dev-1/cmd/setpoint", command(env, 9), 1, false);
      const before = first.transport.sent.map((s) => open(env, kindOf(s), s).get("seq") as number);
      // Power loss: a new device on the same storage.
      const second = makeDevice(env, storage);
      second.device.start();
      second.transport.handlers?.onConnected(false);
      const birth = open(env, "birth", second.transport.ofKind("birth")[0]);
      check((birth.get("seq") as number) > Math.max(...before), `seq ${birth.get("seq")} after ${before.join(",")}`);
      second.transport.handlers?.onMessage("gh/dev-1/cmd/setpoint", command(env, 9), 1, false);
      checkEqual(second.state.writes, 0, "the replay is not executed after the restart");
      const result = open(env, "result", second.transport.ofKind("result")[0]);
      checkEqual(result.get("code"), "replayed", "refused as replayed");
      check(storage.writes < 10, `sequence persisted in steps (${storage.writes} writes)`);
    },
  },
  {
    name: "session: garbage floods are rate-limited: no result once the event budget is spent",
    run(env) {
      const { device, transport, state } = makeDevice(env);
      device.start();
      transport.handlers?.onConnected(false);
      transport.ackAll();
      for (let i = 0; i < 50; i++) transport.handlers?.onMessage("gh/dev-1/cmd/setpoint", utf8(`garbage ${i}`), 1, false);
      checkEqual(transport.ofKind("events").length, 3, "events limited to the burst");
      checkEqual(transport.ofKind("result").length, 3, "results only for reported refusals");
      checkEqual(device.securityEvents.suppressed, 47, "the rest counted");
      transport.handlers?.onMessage("gh/dev-1/cmd/setpoint", command(env, 1), 1, false);
      checkEqual(state.target, 22, "good commands still served");
    },
  },
  {
    name: "session: replaying the latest command cannot make the device sign without bound",
    run(env) {
      const { device, transport, state } = makeDevice(env);
      device.start();
      transport.handlers?.onConnected(false);
      transport.ackAll();
      const message = command(env, 1);
      for (let i = 0; i < 50; i++) transport.handlers?.onMessage("gh/dev-1/cmd/setpoint", message, 1, i > 0);
      checkEqual(state.writes, 1, "executed once");
      checkEqual(transport.ofKind("result").length, 1 + 3, "the result, then answers only within the event budget");
      checkEqual(device.securityEvents.suppressed, 46, "the rest counted as suppressed duplicates");
    },
  },
  {
    name: "commands: with trusted time a command needs an expiry (expiry-missing); configurable; one held back past it is refused",
    run(env) {
      const { device, transport, state, clock } = makeDevice(env);
      device.start();
      transport.handlers?.onConnected(false);
      transport.ackAll();
      const results = () => transport.ofKind("result").map((s) => open(env, "result", s));
      transport.handlers?.onMessage("gh/dev-1/cmd/setpoint", command(env, 1, 21, { expiresAt: null }), 1, false);
      checkEqual(state.writes, 0, "a command without exp is not executed");
      checkEqual(results()[0].get("code"), "expiry-missing", "refused: expiry-missing");
      checkEqual(open(env, "event", transport.ofKind("events")[0]).get("code"), "expiry-missing", "and a security event");
      transport.handlers?.onMessage("gh/dev-1/cmd/setpoint", command(env, 2, 22), 1, false);
      checkEqual(state.target, 22, "with exp it runs");
      // Held back (a full broker queue, a client that took the session over) and delivered after its
      // expiry: refused.
      const held = command(env, 3, 23);
      clock.wall = (NOW_S + 61) * 1000;
      transport.handlers?.onMessage("gh/dev-1/cmd/setpoint", held, 1, false);
      checkEqual(results()[2].get("code"), "expired", "delivered after its expiry");
      checkEqual(state.target, 22, "not executed");
      // Without trusted time the device cannot tell expiry: the command without exp runs.
      clock.wall = undefined;
      transport.handlers?.onMessage("gh/dev-1/cmd/setpoint", command(env, 4, 24, { expiresAt: null }), 1, false);
      checkEqual(state.target, 24, "no trusted time: accepted");

      // A device configured not to require it (commands.requireExpiry false) accepts one without exp.
      const lenient = makeDevice(env, new MemoryStore(), 64, { commands: { requireExpiry: false } });
      lenient.device.start();
      lenient.transport.handlers?.onConnected(false);
      lenient.transport.handlers?.onMessage("gh/dev-1/cmd/setpoint", command(env, 1, 25, { expiresAt: null }), 1, false);
      checkEqual(lenient.state.target, 25, "requireExpiry false accepts a command without exp");
    },
  },
  {
    name: "session: results, telemetry and events are numbered per boot without a gap; births name the stream and the next index",
    run(env) {
      const storage = new MemoryStore();
      const { device, transport, timers, door } = makeDevice(env, storage);
      device.start();
      transport.handlers?.onConnected(false);
      const firstBirth = open(env, "birth", transport.ofKind("birth")[0]);
      const stream = firstBirth.get("stream") as number;
      checkEqual(firstBirth.get("next"), 0, "nothing numbered before the first connect");
      transport.handlers?.onMessage("gh/dev-1/cmd/setpoint", command(env, 1, 21), 1, false); // telemetry + result
      transport.handlers?.onMessage("gh/dev-1/cmd/setpoint", command(env, 2, 99), 1, false); // event + result
      door.write("target", 23); // telemetry
      transport.ackAll();
      transport.handlers?.onClosed("link lost");
      door.write("target", 24); // numbered while offline: queued
      door.write("target", 25);
      timers.fireAll();
      transport.handlers?.onConnected(false);
      const numbered = (sent: Sent[]) =>
        sent.filter((s) => kindOf(s) !== "birth" && kindOf(s) !== "death").map((s) => open(env, kindOf(s), s)).map((b) => [b.get("stream"), b.get("index")] as [number, number]);
      const secondBirth = open(env, "birth", transport.ofKind("birth")[0]);
      checkEqual(secondBirth.get("stream"), stream, "a reconnect keeps the stream");
      checkEqual(secondBirth.get("next"), 7, "the birth announces the 7 publications numbered so far");
      checkEqual(kindOf(transport.sent[0]), "birth", "the birth goes out before the queued ones");
      checkEqual(numbered(transport.sent).map(([, i]) => i).join(","), "5,6", "then the queued ones, in order, below next");
      check(numbered(transport.sent).every(([s]) => s === stream), "all in the same stream");
      check(stream === firstBirth.get("session"), `the stream is the boot's first seq (${stream})`);

      // A restart on the same storage: a new stream, numbered from 0 again.
      const again = makeDevice(env, storage);
      again.device.start();
      again.transport.handlers?.onConnected(false);
      const thirdBirth = open(env, "birth", again.transport.ofKind("birth")[0]);
      check((thirdBirth.get("stream") as number) > stream, `a new boot starts a new stream (${thirdBirth.get("stream")} > ${stream})`);
      checkEqual(thirdBirth.get("next"), 0, "from 0");
      again.door.write("target", 22);
      checkEqual(numbered(again.transport.sent).map(([s, i]) => `${s === thirdBirth.get("stream")}:${i}`).join(","), "true:0", "the first publication of the boot is index 0");
    },
  },
];
