// A Gatehouse device: doors, the command receiver, security events and the MQTT session, wired
// together over the platform's ports. The same class runs on the ESP32 (Moddable ports), in the host
// simulator (Node ports) and in the XS conformance run.

import { decode } from "./cbor/decode";
import { encode } from "./cbor/encode";
import type { CborObject, CborValue } from "./cbor/types";
import type { CoseKey } from "./cose/key";
import { CommandReceiver, type CommandResult } from "./command/receiver";
import { ReplayWindow } from "./command/replay";
import { describeDoor } from "./doors/describe";
import { DeviceRuntime, type LocalDoor } from "./doors/runtime";
import type { DoorImplementation, DoorSchema } from "./doors/schema";
import { SecurityEventLog, type SecurityEvent } from "./events";
import type { ClockPort } from "./ports/clock";
import type { CryptoPort } from "./ports/crypto";
import { BoundedStorage, type StoragePort } from "./ports/storage";
import type { TimerPort } from "./ports/timer";
import type { TransportPort } from "./ports/transport";
import { signPublication, type PublicationBody, type PublicationKind } from "./session/messages";
import { PersistentSequence } from "./session/sequence";
import { DeviceSession, type SessionState } from "./session/session";
import type { TrustList } from "./trust";

export interface DeviceOptions {
  id: string;
  /** The device's private key (signs everything it publishes). */
  key: CoseKey;
  /** The operators this device accepts commands from. */
  trust: TrustList;
  crypto: CryptoPort;
  clock: ClockPort;
  timers: TimerPort;
  storage: StoragePort;
  transport: TransportPort;
  firmware: string;
  patch?: number;
  /** Security epoch: the minimum build generation this device accepts (anti-downgrade). */
  epoch?: number;
  topicPrefix?: string;
  queueLimit?: number;
  keepAlive?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Report allowed attempts as security events too. */
  recordAllowed?: boolean;
  /** Refuse commands without an expiry claim while the clock is trusted (default true; CommandReceiverOptions.requireExpiry). */
  requireCommandExpiry?: boolean;
  eventsPerSecond?: number;
  eventBurst?: number;
  username?: string;
  password?: Uint8Array;
  onStateChange?(state: SessionState, detail: string): void;
}

const KEY_PUBLICATION_SEQ = "pubseq";
/** Ranges of dropped indices a birth lists (Device.droppedRanges). */
const MAX_DROPPED_RANGES = 16;
const KEY_REPLAY = "replay";

export class Device {
  readonly id: string;
  readonly runtime: DeviceRuntime;
  readonly receiver: CommandReceiver;
  readonly session: DeviceSession;
  readonly events: SecurityEventLog;
  /** Publications dropped by the offline queue since boot, per kind. */
  readonly dropped: Record<string, number> = {};
  /**
   * Their indices in this boot's stream, as [first, last] ranges (the queue drops its oldest, so they
   * ascend); at most MAX_DROPPED_RANGES, the oldest two merged when there would be more. In the birth,
   * so a receiver can tell what the device dropped itself from what was lost on the way.
   */
  readonly droppedRanges: [number, number][] = [];
  private droppedUnreported = 0;
  private reportingDrops = false;
  private readonly options: DeviceOptions;
  private readonly storage: StoragePort;
  private readonly sequence: PersistentSequence;
  /**
   * This boot's publication stream (protocol §4): the first `seq` of the boot, which no other boot
   * starts with. Results, telemetry and events are numbered in it by `index`, 0, 1, 2, ..., with no
   * number skipped, so a receiver can tell a lost publication from a restart's skip in `seq`.
   */
  readonly stream: number;
  private nextIndex = 0;

  constructor(options: DeviceOptions) {
    this.options = options;
    this.id = options.id;
    this.storage = new BoundedStorage(options.storage);
    this.sequence = new PersistentSequence(this.storage, KEY_PUBLICATION_SEQ);
    this.stream = this.sequence.peek();
    this.events = new SecurityEventLog({
      clock: options.clock,
      sink: (event) => this.publishEvent(event),
      recordAllowed: options.recordAllowed,
      ratePerSecond: options.eventsPerSecond,
      burst: options.eventBurst,
    });
    this.runtime = new DeviceRuntime({
      events: this.events,
      onDoorEvent: (door, event, data) => this.publish("telemetry", { door, event, data: data as CborValue, time: options.clock.wallTime() ?? null }),
    });
    const replay = new ReplayWindow();
    const saved = this.storage.read(KEY_REPLAY);
    if (saved) replay.restore(decode(saved));
    this.receiver = new CommandReceiver({
      deviceId: options.id,
      crypto: options.crypto,
      clock: options.clock,
      trust: options.trust,
      runtime: this.runtime,
      replay,
      requireExpiry: options.requireCommandExpiry,
      // Persist the window before the command runs: a crash right after cannot make it acceptable again.
      onAccepted: () => this.storage.write(KEY_REPLAY, encode(replay.snapshot())),
    });
    this.session = new DeviceSession({
      deviceId: options.id,
      transport: options.transport,
      timers: options.timers,
      topicPrefix: options.topicPrefix,
      queueLimit: options.queueLimit,
      keepAlive: options.keepAlive,
      backoffInitialMs: options.backoffInitialMs,
      backoffMaxMs: options.backoffMaxMs,
      username: options.username,
      password: options.password,
      prepareConnection: () => this.prepareConnection(),
      onCommand: (door, message) => this.handleCommand(door, message),
      onOversizedCommand: (door) => {
        this.runtime.refuse("message-too-large", "unknown", door);
      },
      onDropped: (kind, index) => {
        this.dropped[kind] = (this.dropped[kind] ?? 0) + 1;
        this.noteDropped(index);
        // A drop the report itself causes is counted (the birth carries it) but not reported again, or
        // every connect attempt while offline would push out one more real publication.
        if (!this.reportingDrops) this.droppedUnreported++;
      },
      onStateChange: options.onStateChange,
    });
  }

  register<const S extends DoorSchema>(schema: S, implementation: DoorImplementation<S>): LocalDoor<S> {
    return this.runtime.register(schema, implementation);
  }

  start(): void {
    this.session.start();
  }

  stop(graceful = true): void {
    this.session.stop(graceful);
  }

  /** Runs one command message (as the session delivers it) and publishes its result. */
  handleCommand(door: string, message: Uint8Array): CommandResult {
    const result = this.receiver.receive(message, door);
    // A refusal or duplicate whose event the rate limit dropped gets no result either: floods stay cheap.
    if (result.reported !== false) this.publishResult(message, result);
    return result;
  }

  private publishResult(message: Uint8Array, result: CommandResult): void {
    const body: CborObject = { ref: this.options.crypto.sha256(message).subarray(0, 8), ok: result.outcome.ok };
    if (result.sender !== undefined) body.sender = result.sender;
    if (result.command) {
      body.cmdSeq = result.command.seq;
      body.door = result.command.door;
      body.op = result.command.op;
    }
    if (result.outcome.ok) {
      if (result.outcome.value !== undefined) body.value = result.outcome.value as CborValue;
    } else {
      body.code = result.outcome.code;
      body.message = result.outcome.message;
    }
    this.publish("result", body);
  }

  private publishEvent(event: SecurityEvent): void {
    this.publish("event", {
      code: event.code,
      allowed: event.allowed,
      principal: event.principal,
      door: event.door ?? null,
      op: event.op ?? null,
      time: event.time,
      uptime: event.uptime,
      suppressed: event.suppressed,
    });
  }

  /** Signs and queues a publication of `kind` (result, telemetry or event) with the common fields. */
  publish(kind: PublicationKind, fields: CborObject): void {
    const index = this.nextIndex++;
    const body: PublicationBody = { ...fields, device: this.id, seq: this.sequence.next(), stream: this.stream, index };
    this.session.publish(kind, signPublication(this.options.crypto, this.options.key, kind, body), index);
  }

  private noteDropped(index: number): void {
    const last = this.droppedRanges[this.droppedRanges.length - 1];
    if (last && index === last[1] + 1) {
      last[1] = index;
      return;
    }
    this.droppedRanges.push([index, index]);
    if (this.droppedRanges.length > MAX_DROPPED_RANGES) {
      // One range over the two oldest: it covers indices that did go out too, which a receiver has
      // (and so never counts); the newest drops, the ones a receiver still waits for, stay exact.
      const [first, second] = this.droppedRanges.splice(0, 2);
      this.droppedRanges.unshift([first[0], second[1]]);
    }
  }

  private reportDrops(): void {
    if (this.droppedUnreported === 0) return;
    this.droppedUnreported = 0;
    this.reportingDrops = true;
    try {
      this.runtime.refuse("queue-dropped", "local");
    } finally {
      this.reportingDrops = false;
    }
  }

  private prepareConnection(): { death: Uint8Array; birth: Uint8Array } {
    const o = this.options;
    // Drops are reported before the birth is signed: when the report takes a place in a full queue and
    // pushes one more publication out, the birth's `dropped` counts that one too, so a receiver can
    // account for every index it misses.
    this.reportDrops();
    const session = this.sequence.next();
    const sign = (kind: PublicationKind, fields: CborObject, seq: number) =>
      signPublication(o.crypto, o.key, kind, { ...fields, device: this.id, seq });
    const death = sign("death", { session }, session);
    const birth = sign(
      "birth",
      {
        session,
        firmware: o.firmware,
        patch: o.patch ?? 0,
        epoch: o.epoch ?? 0,
        doors: this.runtime.schemas().map(describeDoor),
        dropped: { ...this.dropped },
        droppedRanges: this.droppedRanges.map(([first, last]) => [first, last]),
        stream: this.stream,
        // Everything numbered before this connect; what follows gets `next` and above.
        next: this.nextIndex,
      },
      this.sequence.next(),
    );
    return { death, birth };
  }
}
