// The device end to end, shared by every device that runs against mosquitto in the suite: the test app
// (e2e.test.ts) and the three examples (thermostat, smart-lock, sensor-node, on an ESP32's memory). A device on
// XS 17 with the Moddable ports, a real mosquitto, the fleet server, and an operator on MQTT.js that signs
// commands with the SDK and verifies every publication with the device's public key. deviceScenario
// registers the checks every device must pass; each test file adds its own. Every wait is bounded and
// waits for an outcome; nothing is timed.

import test, { type ExecutionContext } from "ava";
import { connect, type MqttClient } from "mqtt";
import { randomBytes } from "node:crypto";
import { toHex } from "../../../sdk/bytes";
import { encode, utf8 } from "../../../sdk/cbor/encode";
import { CborTag, type CborMap, type CborValue } from "../../../sdk/cbor/types";
import { signCommand } from "../../../sdk/command/sender";
import { encodeKey, publicKey, type CoseKey } from "../../../sdk/cose/key";
import { decodePublication, verifyPublication, type PublicationKind } from "../../../sdk/session/publications";
import { encodeTrust, TrustList } from "../../../sdk/trust";
import { nodeCrypto } from "../../../ports/node/crypto";
import { nextSequence } from "../../../host/client/sequence";
import { generateDeviceKey } from "../../../host/identity-files";
import { FleetServer } from "../../../host/server/index";
import { startMosquitto, type MosquittoBroker } from "../../support/brokers";
import { until } from "../../support/devices";
import { appEnv, buildApp, deviceFolder, RunningApp, SLOT_BYTES } from "./moddable";

const KINDS: Record<string, PublicationKind> = { birth: "birth", death: "death", result: "result", events: "event", telemetry: "telemetry" };

/** A device's identity as `gatehouse provision` makes one, with two operators: an administrator and an operator. */
export interface Identity {
  readonly id: string;
  /** The device's private key (device.key). */
  readonly key: CoseKey;
  /** Its public key (device.pub). */
  readonly deviceKey: CoseKey;
  /** Operator keys (private), with the roles administer and operate in the trust list. */
  readonly admin: CoseKey;
  readonly operator: CoseKey;
  /** trust.cbor */
  readonly trust: Uint8Array;
}

export function newIdentity(name: string): Identity {
  const id = `${name}-${randomBytes(3).toString("hex")}`;
  const key = generateDeviceKey(id);
  const admin = nodeCrypto.generateKey("ES256", utf8(`${id}-admin`));
  const operator = nodeCrypto.generateKey("ES256", utf8(`${id}-operator`));
  const trust = new TrustList([
    { key: publicKey(admin), role: "administer" },
    { key: publicKey(operator), role: "operate" },
  ]);
  return { id, key, deviceKey: publicKey(key), admin, operator, trust: encodeTrust(trust) };
}

/** An operator on MQTT.js with a persistent session, so results published while the broker restarts wait for it. */
export class Operator {
  /** Every verified publication of the device, by kind, in arrival order. */
  readonly seen = new Map<PublicationKind, CborMap[]>();
  readonly failures: string[] = [];
  private readonly sentAt = new Map<string, number>();
  readonly roundTrips: number[] = [];

  private constructor(
    private readonly client: MqttClient,
    readonly device: string,
    private deviceKey: CoseKey,
    private readonly key: CoseKey,
  ) {}

  static async connect(url: string, device: string, deviceKey: CoseKey, key: CoseKey): Promise<Operator> {
    const client = connect(url, { protocolVersion: 4, clean: false, clientId: `gh-operator-${randomBytes(4).toString("hex")}`, reconnectPeriod: 100, connectTimeout: 5000 });
    const operator = new Operator(client, device, deviceKey, key);
    client.on("connect", () => (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true));
    client.on("error", () => {}); // refused reconnects while the broker is down
    client.on("message", (topic, payload) => operator.message(topic, new Uint8Array(payload)));
    await until("the operator's connection", () => client.connected, 10_000);
    await client.subscribeAsync(`gh/${device}/+`, { qos: 1 });
    return operator;
  }

  /** Signs a command, by default with the operator's own key. */
  sign(door: string, op: string, args?: CborValue, key = this.key): { message: Uint8Array; ref: string } {
    const issuedAt = Math.floor(Date.now() / 1000);
    // A device with trusted time (lin has it) refuses a command without an expiry (protocol section 3).
    const message = signCommand(nodeCrypto, key, { device: this.device, door, op, args, seq: nextSequence(), issuedAt, expiresAt: issuedAt + 60 });
    return { message, ref: toHex(nodeCrypto.sha256(message).subarray(0, 8)) };
  }

  publish(door: string, message: Uint8Array): string {
    const ref = toHex(nodeCrypto.sha256(message).subarray(0, 8));
    this.sentAt.set(ref, performance.now());
    this.client.publish(`gh/${this.device}/cmd/${door}`, Buffer.from(message), { qos: 1 });
    return ref;
  }

  /** Signs, sends and waits for the verified result. */
  async command(door: string, op: string, args?: CborValue, options: { key?: CoseKey; ms?: number } = {}): Promise<CborMap> {
    const { message } = this.sign(door, op, args, options.key);
    return this.result(this.publish(door, message), 1, options.ms ?? 20_000);
  }

  results(ref: string): CborMap[] {
    return (this.seen.get("result") ?? []).filter((r) => toHex(r.get("ref") as Uint8Array) === ref);
  }

  /** The `nth` verified result naming `ref`. */
  result(ref: string, nth = 1, ms = 20_000): Promise<CborMap> {
    return until(`result #${nth} for ${ref}`, () => this.results(ref)[nth - 1], ms);
  }

  count(kind: PublicationKind): number {
    return this.seen.get(kind)?.length ?? 0;
  }

  /** From now on, publications verify with this key (a re-provisioned device signs with its new one). */
  trustDeviceKey(deviceKey: CoseKey): void {
    this.deviceKey = deviceKey;
  }

  close(): void {
    this.client.end(true);
  }

  private message(topic: string, payload: Uint8Array): void {
    const kind = KINDS[topic.split("/")[2] ?? ""];
    if (!kind) return; // our own commands
    try {
      const body = verifyPublication(nodeCrypto, payload, this.deviceKey, kind, this.device);
      decodePublication(kind, body); // every field as the codec wants it, or it is a failure
      const list = this.seen.get(kind) ?? [];
      list.push(body);
      this.seen.set(kind, list);
      if (kind === "result") {
        const sent = this.sentAt.get(toHex(body.get("ref") as Uint8Array));
        if (sent !== undefined) this.roundTrips.push(performance.now() - sent);
      }
    } catch (e) {
      this.failures.push(`${topic}: ${(e as Error).message}`);
    }
  }
}

/** Starts the device app against the world's broker, with the world's identity. */
export type Launch = (broker: MosquittoBroker, identity: Identity) => Promise<RunningApp>;

export interface World {
  readonly broker: MosquittoBroker;
  readonly server: FleetServer;
  readonly operator: Operator;
  readonly identity: Identity;
  readonly id: string;
  /** The running device app (a test may end it and start another). */
  app: RunningApp;
  close(): Promise<void>;
}

/** mosquitto, the fleet server knowing the device, the operator (the administrator key), and the device app. */
export async function startWorld(name: string, launch: Launch): Promise<World> {
  const identity = newIdentity(name);
  const broker = await startMosquitto({ extraConfig: ["set_tcp_nodelay true"] });
  const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", clientId: `gh-server-${identity.id}` });
  server.registerDevice(identity.id, identity.deviceKey);
  const operator = await Operator.connect(broker.url, identity.id, identity.deviceKey, identity.admin);
  const world: World = {
    broker,
    server,
    operator,
    identity,
    id: identity.id,
    app: await launch(broker, identity),
    async close() {
      world.app.kill();
      await world.app.exited;
      operator.close();
      await server.stop();
      await broker.stop();
    },
  };
  return world;
}

/** Launches the suite's test app (test/device/app's e2e mode) from a build: identity and broker through the environment. */
export function testAppLaunch(mcso: string, name: string, options: { mode?: string; timeoutMs?: number } = {}): Launch {
  return async (broker, identity) =>
    new RunningApp(
      mcso,
      appEnv({
        GATEHOUSE_MODE: options.mode ?? "e2e",
        GATEHOUSE_BROKER_PORT: String(broker.port),
        GATEHOUSE_DEVICE_KEY: toHex(encodeKey(identity.key, true)),
        GATEHOUSE_TRUST: toHex(identity.trust),
      }),
      { cwd: deviceFolder(name, { fresh: true }), timeoutMs: options.timeoutMs ?? 240_000 },
    );
}

/**
 * An example's mcconfig config: the broker and the identity, as a user provisions a build, and a 5 s MQTT
 * keep-alive (on lin the ECMA-419 client notices a broker that went away only by its keep-alive: with the
 * default 30 s a broker restart would take the device 45 s to notice).
 */
export function exampleConfig(broker: MosquittoBroker, identity: Identity, extra: Record<string, string> = {}): Record<string, string> {
  return { broker: "127.0.0.1", brokerport: String(broker.port), keepalive: "5", devicekey: toHex(encodeKey(identity.key, true)), trust: toHex(identity.trust), ...extra };
}

/**
 * Launches an example as the suite builds it (test/device/examples/<name>: the example's own manifest,
 * with the ESP32's memory and a memory watch), built for lin with `config`; in a fresh device folder
 * (its Preference file) unless `fresh` is false.
 */
export async function launchExample(name: string, config: Record<string, string>, options: { fresh?: boolean; timeoutMs?: number } = {}): Promise<RunningApp> {
  const built = await buildApp(`test/device/examples/${name}`, config);
  return new RunningApp(built.mcso, appEnv({}), { cwd: deviceFolder(name, { fresh: options.fresh ?? true }), timeoutMs: options.timeoutMs ?? 300_000 });
}

/** XS reports its own failures as text: none of these may appear. */
export function xsFailures(output: readonly string[]): string[] {
  return output.filter((line) => /memory full|stack overflow|XS abort|unhandled exception|dead strip/i.test(line));
}

export const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

export type Context = ExecutionContext<unknown>;

/** A command: where it goes, what it does, its input. */
export interface CommandSpec {
  readonly door: string;
  readonly op: string;
  readonly args?: CborValue;
}

/** What deviceScenario needs to know of a device. */
export interface ScenarioSpec {
  /** The firmware its birth reports. */
  readonly firmware: string;
  /** The doors its birth describes, by name. */
  readonly doors: readonly string[];
  /**
   * The i-th command that changes the device's state (i counts from 0), signed by the administrator.
   * Consecutive ones must leave different states, so that a command executed twice, or an old one
   * executed again after a newer one, shows in the state.
   */
  change(i: number): CommandSpec;
  /** The read that shows the state, and what it gives after the first `changes` changes, each executed once. */
  readonly state: CommandSpec & { after(changes: number): CborValue };
}

/**
 * Registers the checks every device passes, as serial tests: the signed birth, signed commands answered
 * (each result verified with the device's public key), a forged command and a replayed one refused with
 * their security events at the fleet server, and a mosquitto restart survived with nothing executed twice.
 * `world` gives the running world (it throws the setup's failure).
 */
export function deviceScenario(world: () => World, spec: ScenarioSpec): void {
  /** Changes executed so far (each exactly once). */
  let changes = 0;
  /** The next change, signed (not sent). */
  const nextChange = (w: World) => {
    const c = spec.change(changes);
    return { door: c.door, ...w.operator.sign(c.door, c.op, c.args) };
  };
  const checkState = async (t: Context, w: World, what: string) => {
    const read = await w.operator.command(spec.state.door, spec.state.op, spec.state.args);
    t.is(read.get("ok"), true, String(read.get("code") ?? ""));
    t.is(toHex(encode(read.get("value") as CborValue)), toHex(encode(spec.state.after(changes))), `${what}: the state after ${changes} changes`);
  };

  test.serial("publishes its signed birth (verified with its public key) and comes online at the fleet server", async (t) => {
    const w = world();
    await until("a verified birth", () => w.operator.count("birth") > 0, 60_000);
    const body = w.operator.seen.get("birth")![0];
    t.is(body.get("firmware"), spec.firmware);
    const doors = (body.get("doors") as CborMap[]).map((d) => d.get("name"));
    t.deepEqual([...doors].sort(), [...spec.doors].sort());
    await until("the fleet server sees the device online", () => w.server.device(w.id)?.online === true, 20_000);
    t.deepEqual(w.operator.failures, []);
  });

  test.serial("answers signed commands; every result verifies with its public key; p50 round trip logged", async (t) => {
    const w = world();
    const before = w.operator.roundTrips.length;
    for (let i = 0; i < 8; i++) {
      const { door, message, ref } = nextChange(w);
      w.operator.publish(door, message);
      const result = await w.operator.result(ref);
      t.is(result.get("ok"), true, `${String(result.get("code") ?? "")} ${String(result.get("message") ?? "")}`);
      changes++;
    }
    await checkState(t, w, "after the commands");
    const trips = w.operator.roundTrips.slice(before);
    t.log(`command round trip (send -> verified result) on lin: p50 ${median(trips).toFixed(1)} ms over ${trips.length}`);
    t.deepEqual(w.operator.failures, []);
  });

  test.serial("refuses a forged command (signature altered) with bad-signature; its security event reaches the fleet server; nothing executed", async (t) => {
    const w = world();
    const { door, message } = nextChange(w);
    const forged = message.slice();
    forged[forged.length - 3] ^= 0x40; // inside the signature
    const result = await w.operator.result(w.operator.publish(door, forged));
    t.is(result.get("ok"), false);
    t.is(result.get("code"), "bad-signature");
    const event = await until("the bad-signature event at the fleet server", () => w.server.events({ device: w.id, limit: 1000 }).find((e) => e.code === "bad-signature" && e.source === "device"), 20_000);
    t.false(event.allowed);
    await checkState(t, w, "after the forged command");
  });

  test.serial("an unsigned envelope nested as deep as the decode limit allows is refused before any signature check, and the device goes on", async (t) => {
    const w = world();
    for (const [levels, code] of [
      [5, "alg-missing"], // the deepest the command limits take (depth 8, counting the tag, the array and the header map)
      [6, "cbor-too-deep"],
    ] as const) {
      let nested: CborValue = 0;
      for (let i = 0; i < levels; i++) nested = [nested];
      const envelope = encode(new CborTag(18, [new Uint8Array(0), new Map([[4, nested]]), new Uint8Array(8), new Uint8Array(64)]));
      const result = await w.operator.result(w.operator.publish(spec.state.door, envelope));
      t.is(result.get("code"), code, `${levels} nested arrays`);
    }
    await checkState(t, w, "after the unsigned envelopes");
  });

  test.serial("a replayed command, recorded and sent again after a newer one, gets its first result and is not executed again; a duplicate event reaches the fleet server", async (t) => {
    const w = world();
    const recorded = nextChange(w);
    w.operator.publish(recorded.door, recorded.message);
    const first = await w.operator.result(recorded.ref);
    t.is(first.get("ok"), true);
    changes++;
    const newer = nextChange(w);
    w.operator.publish(newer.door, newer.message);
    t.is((await w.operator.result(newer.ref)).get("ok"), true);
    changes++;
    w.operator.publish(recorded.door, recorded.message); // the same bytes again, as an attacker who recorded them would
    const again = await w.operator.result(recorded.ref, 2);
    t.is(toHex(encode(again.get("value") ?? null)), toHex(encode(first.get("value") ?? null)), "the first outcome, repeated");
    await until("the duplicate event at the fleet server", () => w.server.events({ device: w.id, limit: 1000 }).find((e) => e.code === "duplicate"), 20_000);
    await checkState(t, w, "after the replay");
  });

  test.serial("survives a mosquitto restart: reconnects (a new birth); commands sent meanwhile are each executed once", async (t) => {
    const w = world();
    const births = w.operator.count("birth");
    const sent: string[] = [];
    // Commands keep coming while the broker goes down and comes back; MQTT.js and the broker keep them.
    const restart = w.broker.restart();
    for (let i = 0; i < 5; i++) {
      const { door, message } = nextChange(w);
      sent.push(w.operator.publish(door, message));
      changes++;
    }
    await restart;
    await until("a new birth after the restart", () => w.operator.count("birth") > births, 90_000);
    const results = await Promise.all(sent.map((ref) => w.operator.result(ref, 1, 90_000)));
    t.deepEqual(results.map((r) => r.get("ok")), sent.map(() => true));
    await checkState(t, w, "after the restart");
    t.deepEqual(w.operator.failures, []);
  });
}

/** The memory figures of an instrumented app: peak live heaps (its memory watch) and the stack's peak. */
export function memoryFigures(app: RunningApp): { chunks: number; slots: number; stackSlots: number; text: string } {
  const last: Record<string, unknown> = app.reports.filter((r) => r.kind === "memory").at(-1) ?? {};
  const chunks = Number(last.chunks ?? 0);
  const slots = Number(last.slots ?? 0) / SLOT_BYTES;
  const stackSlots = app.stackPeakSlots();
  return {
    chunks,
    slots,
    stackSlots,
    text: `peak chunks ${chunks} of 78848 bytes, peak slots ${slots} of 4928 (sampled after a forced GC, ${String(last.samples ?? 0)} samples), stack peak ${stackSlots} of 512 slots`,
  };
}
