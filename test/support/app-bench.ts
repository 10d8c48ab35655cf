// A bench for the example apps: a real sdk Device (Node crypto, in-memory storage) on a loopback transport
// the test plays the broker for, with time under the test's control (a manual clock and timers) and a
// simulated board on that clock. Commands are signed by real operator keys and arrive through the
// session like any broker delivery; every publication is verified with the device's key before a test
// sees it. No sockets and no sleeps: each step is deterministic.

import { utf8 } from "../../sdk/cbor/encode";
import type { CborMap, CborValue } from "../../sdk/cbor/types";
import { signCommand } from "../../sdk/command/sender";
import { publicKey, type CoseKey } from "../../sdk/cose/key";
import { Device, type DeviceOptions } from "../../sdk/device";
import type { ClockPort } from "../../sdk/ports/clock";
import type { StoragePort } from "../../sdk/ports/storage";
import type { TimerHandle, TimerPort } from "../../sdk/ports/timer";
import type { MqttConnectOptions, QoS, TransportHandlers, TransportPort } from "../../sdk/ports/transport";
import { decodePublication, verifyPublication, type PublicationKind } from "../../sdk/session/publications";
import { TrustList } from "../../sdk/trust";
import type { Role } from "../../sdk/doors/access";
import { nodeCrypto } from "../../ports/node/crypto";
import { MemoryStorage } from "../../ports/node/storage";
import { createSimulatedProvider, type SimulatedProvider, type SimulatedProviderOptions } from "../../boards/simulated/provider";

/** Wall time at the bench's zero: 2026-01-01. */
const EPOCH = Date.UTC(2026, 0, 1);

/** A clock that moves only when told. */
export class ManualClock implements ClockPort {
  now = 0;
  wallTime(): number {
    return EPOCH + this.now;
  }
  monotonic(): number {
    return this.now;
  }
}

/** Timers that fire when the clock is advanced past them, in order. */
export class ManualTimers implements TimerPort {
  private pending: { at: number; order: number; callback: () => void }[] = [];
  private order = 0;
  constructor(private readonly clock: ManualClock) {}

  set(callback: () => void, ms: number): TimerHandle {
    const entry = { at: this.clock.now + Math.max(0, ms), order: this.order++, callback };
    this.pending.push(entry);
    return entry;
  }

  clear(handle: TimerHandle): void {
    this.pending = this.pending.filter((p) => p !== handle);
  }

  /** Moves the clock forward by `ms`, firing every timer that falls due (also ones set meanwhile). */
  advance(ms: number): void {
    const end = this.clock.now + ms;
    for (;;) {
      const due = this.pending.filter((p) => p.at <= end).sort((a, b) => a.at - b.at || a.order - b.order)[0];
      if (!due) break;
      this.pending = this.pending.filter((p) => p !== due);
      this.clock.now = Math.max(this.clock.now, due.at);
      due.callback();
    }
    this.clock.now = end;
  }
}

interface Sent {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  packetId: number;
}

/** The broker side, played by the test: records publications, acknowledges them on settle(). */
class LoopbackTransport implements TransportPort {
  handlers: TransportHandlers | undefined;
  sent: Sent[] = [];
  private unacknowledged: number[] = [];

  open(_options: MqttConnectOptions, handlers: TransportHandlers): void {
    this.handlers = handlers;
  }
  publish(topic: string, payload: Uint8Array, qos: QoS, _retain: boolean, packetId: number): void {
    this.sent.push({ topic, payload, qos, packetId });
    if (qos === 1) this.unacknowledged.push(packetId);
  }
  subscribe(): void {}
  close(): void {
    this.handlers = undefined;
  }
  settle(): void {
    while (this.unacknowledged.length > 0) this.handlers?.onAcknowledged(this.unacknowledged.shift() as number);
  }
}

const KIND_OF_TOPIC: Record<string, PublicationKind> = { birth: "birth", death: "death", result: "result", telemetry: "telemetry", events: "event" };

export interface Published {
  kind: PublicationKind;
  body: CborMap;
  /** The signed message's size in bytes. */
  bytes: number;
}

/** A command's result as the device signed it. */
export interface Result {
  ok: boolean;
  code?: string;
  message?: string;
  value?: CborValue;
}

export type Operator = "viewer" | "operator" | "admin";
const ROLE_OF: Record<Operator, Role> = { viewer: "view", operator: "operate", admin: "administer" };

export interface AppBenchOptions {
  id?: string;
  device?: Pick<DeviceOptions, "events" | "session">;
  world?: Omit<SimulatedProviderOptions, "clock">;
  /** The app's storage (default: a fresh MemoryStorage); pass one back in to simulate a reboot. */
  appStorage?: StoragePort;
}

export class AppBench {
  readonly id: string;
  readonly clock = new ManualClock();
  readonly timers = new ManualTimers(this.clock);
  readonly transport = new LoopbackTransport();
  readonly crypto = nodeCrypto;
  readonly appStorage: StoragePort;
  readonly provider: SimulatedProvider;
  readonly device: Device;
  readonly deviceKey: CoseKey;
  private readonly operators: Record<Operator, CoseKey>;
  private readonly seqs: Record<Operator, number> = { viewer: 0, operator: 0, admin: 0 };

  constructor(options: AppBenchOptions = {}) {
    this.id = options.id ?? "bench-1";
    this.deviceKey = nodeCrypto.generateKey("ES256", utf8(this.id));
    this.operators = {
      viewer: nodeCrypto.generateKey("EdDSA", utf8("viewer")),
      operator: nodeCrypto.generateKey("EdDSA", utf8("operator")),
      admin: nodeCrypto.generateKey("EdDSA", utf8("admin")),
    };
    const trust = new TrustList((Object.keys(ROLE_OF) as Operator[]).map((who) => ({ key: publicKey(this.operators[who]), role: ROLE_OF[who] })));
    this.appStorage = options.appStorage ?? new MemoryStorage();
    this.provider = createSimulatedProvider({ ...options.world, clock: this.clock });
    this.device = new Device({
      id: this.id,
      key: this.deviceKey,
      trust,
      ports: { crypto: nodeCrypto, clock: this.clock, timers: this.timers, storage: new MemoryStorage(), transport: this.transport },
      firmware: { version: "bench 1" },
      ...options.device,
    });
  }

  /** Starts the device and plays a broker that accepts it. */
  online(): void {
    this.device.start();
    this.transport.handlers?.onConnected(false);
    this.transport.settle();
  }

  advance(ms: number): void {
    this.timers.advance(ms);
    this.transport.settle();
  }

  /** Every publication so far, verified with the device's key (a failure throws). */
  published(kind?: PublicationKind): Published[] {
    const out: Published[] = [];
    for (const s of this.transport.sent) {
      const suffix = s.topic.split("/")[2];
      const found = KIND_OF_TOPIC[suffix];
      if (!found || (kind && found !== kind)) continue;
      const body = verifyPublication(nodeCrypto, s.payload, publicKey(this.deviceKey), found, this.id);
      decodePublication(found, body); // every field as the codec wants it, or this throws
      out.push({ kind: found, body, bytes: s.payload.length });
    }
    return out;
  }

  /** Security events published so far, as {code, allowed, principal, door, op}. */
  events(): { code: string; allowed: boolean; principal: string; door: unknown; op: unknown }[] {
    return this.published("event").map(({ body }) => ({
      code: body.get("code") as string,
      allowed: body.get("allowed") as boolean,
      principal: body.get("principal") as string,
      door: body.get("door"),
      op: body.get("op"),
    }));
  }

  /** The kid (hex) a security event names for an operator. */
  principal(who: Operator): string {
    return Buffer.from(this.operators[who].kid).toString("hex");
  }

  /** Sends a command signed by `who` through the session, as a broker delivers it; returns the signed result. */
  command(who: Operator, door: string, op: string, args?: CborValue): Result {
    const now = Math.floor(this.clock.wallTime() / 1000);
    const message = signCommand(nodeCrypto, this.operators[who], { device: this.id, door, op, args, seq: ++this.seqs[who], issuedAt: now, expiresAt: now + 60 });
    const before = this.transport.sent.length;
    const handlers = this.transport.handlers;
    if (!handlers) throw new Error("the device is not connected");
    handlers.onMessage(`gh/${this.id}/cmd/${door}`, message, 1, false);
    this.transport.settle();
    const fresh = this.transport.sent.slice(before).filter((s) => s.topic.endsWith("/result"));
    if (fresh.length !== 1) throw new Error(`expected one result, got ${fresh.length}`);
    const body = verifyPublication(nodeCrypto, fresh[0].payload, publicKey(this.deviceKey), "result", this.id);
    return {
      ok: body.get("ok") as boolean,
      code: body.get("code") as string | undefined,
      message: body.get("message") as string | undefined,
      value: body.get("value"),
    };
  }
}
