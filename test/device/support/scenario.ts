// The device end to end, shared by e2e.test.ts (the suite's app) and memory.test.ts (the same device with an
// ESP32's fixed heap): a Device on XS 17 with the Moddable ports, a real mosquitto, the fleet server, and an
// operator on MQTT.js that signs commands with the SDK and verifies every publication with the device's
// public key. Every wait is bounded and waits for an outcome; nothing is timed.

import type { ExecutionContext } from "ava";
import { connect, type MqttClient } from "mqtt";
import { randomBytes } from "node:crypto";
import { toHex } from "../../../sdk/bytes";
import { utf8 } from "../../../sdk/cbor/encode";
import type { CborMap, CborValue } from "../../../sdk/cbor/types";
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
import { appEnv, deviceFolder, RunningApp } from "./moddable";

const KINDS: Record<string, PublicationKind> = { birth: "birth", death: "death", result: "result", events: "event", telemetry: "telemetry" };

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
    private readonly deviceKey: CoseKey,
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

  sign(door: string, op: string, args?: CborValue): { message: Uint8Array; ref: string } {
    const issuedAt = Math.floor(Date.now() / 1000);
    // A device with trusted time (lin has it) refuses a command without an expiry (protocol section 3).
    const message = signCommand(nodeCrypto, this.key, { device: this.device, door, op, args, seq: nextSequence(), issuedAt, expiresAt: issuedAt + 60 });
    return { message, ref: toHex(nodeCrypto.sha256(message).subarray(0, 8)) };
  }

  publish(door: string, message: Uint8Array): string {
    const ref = toHex(nodeCrypto.sha256(message).subarray(0, 8));
    this.sentAt.set(ref, performance.now());
    this.client.publish(`gh/${this.device}/cmd/${door}`, Buffer.from(message), { qos: 1 });
    return ref;
  }

  /** Signs, sends and waits for the verified result. */
  async command(door: string, op: string, args?: CborValue, ms = 20_000): Promise<CborMap> {
    const { message } = this.sign(door, op, args);
    return this.result(this.publish(door, message), 1, ms);
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

export interface World {
  readonly broker: MosquittoBroker;
  readonly server: FleetServer;
  readonly operator: Operator;
  readonly app: RunningApp;
  readonly id: string;
  readonly deviceKey: CoseKey;
  close(): Promise<void>;
}

/** mosquitto, the fleet server knowing the device, the operator, and the device app started on a fresh store. */
export async function startWorld(mcso: string, name: string, options: { mode?: string; timeoutMs?: number } = {}): Promise<World> {
  const id = `${name}-${randomBytes(3).toString("hex")}`;
  const key = generateDeviceKey(id);
  const operatorKey = nodeCrypto.generateKey("ES256", utf8(`${name}-admin`));
  const trust = new TrustList([{ key: publicKey(operatorKey), role: "administer" }]);
  const broker = await startMosquitto({ extraConfig: ["set_tcp_nodelay true"] });
  const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", clientId: `gh-server-${id}` });
  server.registerDevice(id, publicKey(key));
  const operator = await Operator.connect(broker.url, id, publicKey(key), operatorKey);
  const env = appEnv({
    GATEHOUSE_MODE: options.mode ?? "e2e",
    GATEHOUSE_BROKER_PORT: String(broker.port),
    GATEHOUSE_DEVICE_KEY: toHex(encodeKey(key, true)),
    GATEHOUSE_TRUST: toHex(encodeTrust(trust)),
  });
  const app = new RunningApp(mcso, env, { cwd: deviceFolder(name, { fresh: true }), timeoutMs: options.timeoutMs ?? 240_000 });
  return {
    broker,
    server,
    operator,
    app,
    id,
    deviceKey: publicKey(key),
    async close() {
      app.kill();
      await app.exited;
      operator.close();
      await server.stop();
      await broker.stop();
    },
  };
}

/** XS reports its own failures as text: none of these may appear. */
export function xsFailures(output: readonly string[]): string[] {
  return output.filter((line) => /memory full|stack overflow|XS abort|unhandled exception|dead strip/i.test(line));
}

export const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

export type Context = ExecutionContext<unknown>;
