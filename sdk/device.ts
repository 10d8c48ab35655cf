// A Gatehouse device: doors, the command receiver, security events and the MQTT session, wired
// together over the platform's ports. The same class runs on the ESP32 (Moddable ports), in the host
// simulator (Node ports) and in the XS conformance run.
//
//   const device = new Device({ id, key, trust, ports: { crypto, clock, timers, storage, transport }, firmware: { version: "1.0.0" } });
//   const door = device.register(setpointDoor, { read: { target: () => target }, write: { target: (v) => { target = v; } } });
//   device.start();
//
// What the device publishes, it publishes only this way: a result for each command, its doors' events
// as telemetry, its security events, and the birth and death of each connection; all signed with its
// key, in the shapes of sdk/session/publications.ts. Its parts (runtime, receiver, session, event log)
// stay inside. Built-in services that need their own topics and publication kinds (the OTA update agent)
// join through attach(): see DeviceService.

import { decode } from "./cbor/decode";
import { encode } from "./cbor/encode";
import type { CborValue } from "./cbor/types";
import type { CoseKey } from "./cose/key";
import { errorCode, fail } from "./errors";
import type { ErrorCode } from "./error-codes";
import { CommandReceiver, type CommandResult, type CommandSettings } from "./command/receiver";
import { ReplayWindow } from "./command/replay";
import { describeDoor } from "./doors/describe";
import { DeviceRuntime, type LocalDoor } from "./doors/runtime";
import type { DoorImplementation, DoorSchema } from "./doors/schema";
import { SecurityEventLog, type SecurityEvent, type SecurityEventSettings } from "./events";
import type { ClockPort } from "./ports/clock";
import type { CryptoPort } from "./ports/crypto";
import { BoundedStorage, type StoragePort } from "./ports/storage";
import type { TimerPort } from "./ports/timer";
import type { TransportPort } from "./ports/transport";
import {
  PUBLICATION_FIELD_LIMITS,
  PUBLICATION_KINDS,
  signPublication,
  PUBLICATIONS,
  type BirthBody,
  type PublicationBodies,
  type PublicationFields,
  type PublicationKind,
} from "./session/publications";
import { PersistentSequence } from "./session/sequence";
import type { PatchLink, Patches } from "./patch/patches";
import { DeviceSession, type SessionSettings, type SessionState } from "./session/session";
import type { TrustList } from "./trust";

/** What the device runs on: each platform gives its own (ports/node, ports/moddable). */
export interface DevicePorts {
  crypto: CryptoPort;
  clock: ClockPort;
  timers: TimerPort;
  /** The device's own state: publication sequence ceiling, replay windows. */
  storage: StoragePort;
  transport: TransportPort;
}

/** What every birth reports of the firmware. */
export interface FirmwareInfo {
  /** The firmware's name and version, 1 to 64 characters. */
  version: string;
  /** The patch level applied to it (default 0). */
  patch?: number;
  /** Security epoch: the minimum build generation this device accepts (anti-downgrade; default 0). */
  epoch?: number;
}

export interface DeviceOptions {
  id: string;
  /** The device's private key: it signs everything the device publishes. */
  key: CoseKey;
  /** The operators this device accepts commands from, and the role of each. */
  trust: TrustList;
  ports: DevicePorts;
  firmware: FirmwareInfo;
  /** The MQTT session: topic prefix, keep-alive, backoff, queue and in-flight limits, credentials, state callback. */
  session?: SessionSettings;
  /** Security events: rate limit, and whether allowed attempts are reported too. */
  events?: SecurityEventSettings;
  /** Command freshness: maximum age, clock skew, whether an expiry is required. */
  commands?: CommandSettings;
  /**
   * Signed JavaScript patches of door logic: off unless given, `(link) => new Patches(settings, link)`
   * (sdk/patch). A factory, so that a device without patches carries none of their code.
   */
  patches?: (link: PatchLink) => Patches;
}

/**
 * A built-in service of the device with its own topics and publication kinds (the OTA update agent is
 * the first). attach() gives it a ServiceLink; the device keeps signing, numbering and queueing, so a
 * service's publications are in the device's stream like every other, and nothing else can publish.
 */
export interface DeviceService {
  /** Its topic level: it receives messages on <prefix>/<device>/<name>/<subscription>. a-z, 0-9, "-"; at most 16. */
  readonly name: string;
  /** Topic filters under <prefix>/<device>/<name>/ to subscribe to on every connect ("manifest", "image/+"). */
  readonly subscriptions?: readonly string[];
  /** The publication kinds it publishes: numbered kinds of the codec's table that no one else publishes. */
  readonly kinds?: readonly PublicationKind[];
  /**
   * A message on one of its topics; `topic` follows <prefix>/<device>/<name>/. Nothing is verified for
   * it: the service verifies what it receives (and reports refusals through its link).
   */
  onMessage?(topic: string, message: Uint8Array): void;
  /** The session's state changed: "online" once the birth is out and its subscriptions made. */
  onSessionState?(state: SessionState): void;
  /** What the service adds to every birth (the update agent: the installed update state). */
  birth?(): ServiceBirthFields;
}

/** The birth fields a service may fill. */
export type ServiceBirthFields = Partial<Pick<BirthBody, "update">>;

/** A door self-test that failed: the read and its refusal code. */
export interface SelfTestFailure {
  readonly door: string;
  readonly op: string;
  readonly code: string;
}

/** What an attached service may do. */
export interface ServiceLink {
  readonly deviceId: string;
  /** Signs, numbers and queues a publication of one of the service's kinds (as results and events are). */
  publish<K extends PublicationKind>(kind: K, fields: PublicationFields<K>): void;
  /** Reports a refusal as a security event (rate-limited); true when the event left. */
  refuse(code: ErrorCode, principal?: string): boolean;
  /**
   * Sends an unsigned QoS 0 message on <prefix>/<device>/<name>/`topic` when online (false: offline, not
   * sent, not kept): for requests whose answers the service checks otherwise (the update agent's block
   * requests: the signed digest covers the blocks). Never a publication: those are signed (publish).
   */
  send(topic: string, payload: Uint8Array): boolean;
  /** The session's state now. */
  readonly state: SessionState;
  /** Publications not yet acknowledged by the broker (0: all of them reached it). */
  readonly pending: number;
  /** Runs the doors' self-tests (selfTest on Device); the failures, none when all pass. */
  selfTest(): SelfTestFailure[];
}

const KEY_PUBLICATION_SEQ = "pubseq";
const KEY_REPLAY = "replay";
/** The topic level of commands: <prefix>/<device>/cmd/<door>. */
const COMMAND_LEVEL = "cmd";
/** What the device publishes itself; services publish kinds of their own. */
const DEVICE_KINDS: readonly PublicationKind[] = ["birth", "death", "result", "telemetry", "event"];
const SERVICE_NAME_PATTERN = /^[a-z][a-z0-9-]{0,15}$/;

function checkUint(value: number | undefined, what: string): void {
  if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) fail("invalid-options", `${what} must be an unsigned integer`);
}

export class Device {
  readonly id: string;
  /**
   * This boot's publication stream (protocol §4): the first `seq` of the boot, which no other boot
   * starts with. Results, telemetry and events are numbered in it by `index`, 0, 1, 2, ..., with no
   * number skipped, so a receiver can tell a lost publication from a restart's skip in `seq`.
   */
  readonly stream: number;
  private readonly options: DeviceOptions;
  private readonly runtime: DeviceRuntime;
  private readonly receiver: CommandReceiver;
  private readonly session: DeviceSession;
  private readonly events: SecurityEventLog;
  private readonly storage: StoragePort;
  private readonly sequence: PersistentSequence;
  private readonly services = new Map<string, DeviceService>();
  /** Patches of door logic, when the options enable them: apply() is what the OTA agent calls. */
  readonly patches?: Patches;
  /** Kinds attached services publish, and whose they are. */
  private readonly serviceKinds = new Map<PublicationKind, string>();
  private nextIndex = 0;
  private readonly droppedCounts: Record<string, number> = {};
  /**
   * The dropped indices in this boot's stream, as [first, last] ranges (the queue drops its oldest, so
   * they ascend); at most PUBLICATION_FIELD_LIMITS.droppedRanges, the oldest two merged when there would be more. In the
   * birth, so a receiver can tell what the device dropped itself from what was lost on the way.
   */
  private readonly droppedIndices: [number, number][] = [];
  private droppedUnreported = 0;
  private reportingDrops = false;

  constructor(options: DeviceOptions) {
    const { ports, firmware } = options;
    const maxFirmware = PUBLICATION_FIELD_LIMITS.firmware;
    if (typeof firmware?.version !== "string" || firmware.version.length === 0 || firmware.version.length > maxFirmware) {
      fail("invalid-options", `firmware.version must be text of 1 to ${maxFirmware} characters`);
    }
    checkUint(firmware.patch, "firmware.patch");
    checkUint(firmware.epoch, "firmware.epoch");
    this.options = options;
    this.id = options.id;
    this.storage = new BoundedStorage(ports.storage);
    this.sequence = new PersistentSequence(this.storage, KEY_PUBLICATION_SEQ);
    this.stream = this.sequence.peek();
    this.events = new SecurityEventLog({ ...options.events, clock: ports.clock, sink: (event) => this.publishEvent(event) });
    this.runtime = new DeviceRuntime({
      events: this.events,
      onDoorEvent: (door, event, data) => this.publishNumbered("telemetry", { door, event, data: data as CborValue, time: this.wallTime() }),
    });
    if (options.patches) {
      this.patches = options.patches({
        crypto: ports.crypto,
        storage: this.storage,
        dispatch: (request) => this.runtime.dispatch(request),
        schemaOf: (door) => this.runtime.schemas().find((schema) => schema.name === door),
        refuse: (code, principal) => void this.runtime.refuse(code, principal),
      });
    }
    const replay = new ReplayWindow();
    const saved = this.storage.read(KEY_REPLAY);
    if (saved) replay.restore(decode(saved));
    this.receiver = new CommandReceiver({
      ...options.commands,
      deviceId: options.id,
      crypto: ports.crypto,
      clock: ports.clock,
      trust: options.trust,
      runtime: this.runtime,
      replay,
      // Persist the window before the command runs: a crash right after cannot make it acceptable again.
      onAccepted: () => this.storage.write(KEY_REPLAY, encode(replay.snapshot())),
    });
    this.session = new DeviceSession({
      ...options.session,
      onStateChange: (state, detail) => {
        // Services first: an app's callback may stop the device.
        this.services.forEach((service) => service.onSessionState?.(state));
        options.session?.onStateChange?.(state, detail);
      },
      deviceId: options.id,
      transport: ports.transport,
      timers: ports.timers,
      subscriptions: () => this.subscriptions(),
      prepareConnection: () => this.prepareConnection(),
      onMessage: (topic, message) => this.route(topic, message),
      onOversized: (topic) => {
        this.runtime.refuse("message-too-large", "unknown", this.commandDoor(topic));
      },
      onDropped: (kind, index) => {
        this.droppedCounts[kind] = (this.droppedCounts[kind] ?? 0) + 1;
        this.noteDropped(index);
        // A drop the report itself causes is counted (the birth carries it) but not reported again, or
        // every connect attempt while offline would push out one more real publication.
        if (!this.reportingDrops) this.droppedUnreported++;
      },
    });
  }

  /** Adds a door: the only way in, for remote commands and for the app's own code (the returned handle). */
  register<const S extends DoorSchema>(schema: S, implementation: DoorImplementation<S>): LocalDoor<S> {
    return this.runtime.register(schema, this.patches ? this.patches.wrap(schema, implementation) : implementation);
  }

  /** Connects, and keeps reconnecting until stop(). */
  start(): void {
    // The stored patch loads once the app has registered its doors, before the first birth names it.
    this.patches?.restore();
    this.session.start();
  }

  /** Stops the session. `graceful`: publish the death and DISCONNECT; otherwise drop the link (the broker sends the will). */
  stop(graceful = true): void {
    this.session.stop(graceful);
  }

  /**
   * Runs one command message as if it had arrived on <prefix>/<id>/cmd/<door>, and publishes its result:
   * for commands that reach the device another way (a serial console, a local link), and for tests.
   */
  handleCommand(door: string, message: Uint8Array): CommandResult {
    const result = this.receiver.receive(message, door);
    // A refusal or duplicate whose event the rate limit dropped gets no result either: floods stay cheap.
    if (result.reported !== false) this.publishResult(message, result);
    return result;
  }

  /**
   * Attaches a built-in service (before start(): its subscriptions are made on each connect). Refused
   * (invalid-options): a name that is taken or reserved, a kind that is not numbered or is already
   * someone's.
   */
  attach(service: DeviceService): ServiceLink {
    const reserved = [COMMAND_LEVEL, ...DEVICE_KINDS.map((kind) => PUBLICATIONS[kind].topic.split("/")[0])];
    if (!SERVICE_NAME_PATTERN.test(service.name) || reserved.indexOf(service.name) >= 0) fail("invalid-options", `service name "${service.name}" must match ${SERVICE_NAME_PATTERN} and not be one of ${reserved.join(", ")}`);
    if (this.services.has(service.name)) fail("invalid-options", `a service named "${service.name}" is attached already`);
    const session = this.session;
    const kinds = service.kinds ?? [];
    for (const kind of kinds) {
      if (PUBLICATION_KINDS.indexOf(kind) < 0 || !PUBLICATIONS[kind].numbered) fail("invalid-options", `service "${service.name}" cannot publish "${kind}": not a numbered publication kind`);
      const owner = DEVICE_KINDS.indexOf(kind) >= 0 ? "the device" : this.serviceKinds.get(kind);
      if (owner !== undefined) fail("invalid-options", `service "${service.name}" cannot publish "${kind}": ${owner} does`);
      // A service's publications go out under its own topic level, like its subscriptions.
      if (!PUBLICATIONS[kind].topic.startsWith(`${service.name}/`)) fail("invalid-options", `service "${service.name}" cannot publish "${kind}": its topic ${PUBLICATIONS[kind].topic} is not under ${service.name}/`);
    }
    this.services.set(service.name, service);
    for (const kind of kinds) this.serviceKinds.set(kind, service.name);
    return {
      deviceId: this.id,
      publish: (kind, fields) => {
        if (this.serviceKinds.get(kind) !== service.name) fail("invalid-options", `service "${service.name}" did not declare kind "${kind}"`);
        this.publishNumbered(kind, fields);
      },
      refuse: (code, principal = "unknown") => this.runtime.refuse(code, principal),
      send: (topic, payload) => this.session.send(`${service.name}/${topic}`, payload),
      get state() {
        return session.state;
      },
      get pending() {
        return session.pending;
      },
      selfTest: () => this.selfTest(),
    };
  }

  /**
   * The doors' self-tests: every readable property of every door is read as the device itself (through
   * the one dispatch path, so a failure is a security event like any other). The failures: a read that
   * throws (a sensor that cannot be read, a door whose state does not parse). The update agent's health
   * check runs this after a new build boots on trial.
   */
  selfTest(): SelfTestFailure[] {
    const failures: SelfTestFailure[] = [];
    for (const schema of this.runtime.schemas()) {
      for (const property of Object.keys(schema.properties ?? {})) {
        const op = `read.${property}`;
        const outcome = this.runtime.dispatch({ principal: this.runtime.localPrincipal, door: schema.name, op });
        if (!outcome.ok) failures.push({ door: schema.name, op, code: outcome.code });
      }
    }
    return failures;
  }

  /** The session's state: "stopped", "connecting", "online" or "waiting" (to reconnect). */
  get state(): SessionState {
    return this.session.state;
  }

  /** Connections made since start(). */
  get connects(): number {
    return this.session.connects;
  }

  /** Publications waiting for a connection or for the broker's acknowledgement. */
  get pending(): number {
    return this.session.pending;
  }

  /** Publications the offline queue dropped since boot, per kind (the next birth reports them). */
  get dropped(): Readonly<Record<string, number>> {
    return this.droppedCounts;
  }

  /** Security events since boot: published, and held back by the rate limit. */
  get securityEvents(): { readonly delivered: number; readonly suppressed: number } {
    return { delivered: this.events.delivered, suppressed: this.events.suppressed };
  }

  private wallTime(): number | null {
    const now = this.options.ports.clock.wallTime();
    return now === undefined ? null : Math.floor(now);
  }

  private subscriptions(): string[] {
    const filters = [`${COMMAND_LEVEL}/+`];
    this.services.forEach((service, name) => {
      for (const filter of service.subscriptions ?? []) filters.push(`${name}/${filter}`);
    });
    return filters;
  }

  /** The door of a command topic "cmd/<door>", or undefined. */
  private commandDoor(topic: string): string | undefined {
    if (!topic.startsWith(`${COMMAND_LEVEL}/`)) return undefined;
    const door = topic.slice(COMMAND_LEVEL.length + 1);
    return door.length === 0 || door.indexOf("/") >= 0 ? undefined : door;
  }

  /** A message on one of the device's topics: a command, or a service's. */
  private route(topic: string, message: Uint8Array): void {
    const door = this.commandDoor(topic);
    if (door !== undefined) {
      this.handleCommand(door, message);
      return;
    }
    const slash = topic.indexOf("/");
    const service = slash > 0 ? this.services.get(topic.slice(0, slash)) : undefined;
    if (!service?.onMessage) return;
    try {
      service.onMessage(topic.slice(slash + 1), message);
    } catch (e) {
      // Not to the transport: it would end the connection, and the broker would deliver the message
      // again on the next one, for ever. A service's failure is a security event instead.
      this.runtime.refuse(errorCode(e), "unknown");
    }
  }

  private publishResult(message: Uint8Array, result: CommandResult): void {
    const { outcome, command } = result;
    const ref = this.options.ports.crypto.sha256(message).subarray(0, 8);
    const fields: PublicationFields<"result"> = outcome.ok
      ? { ref, ok: true, value: outcome.value as CborValue }
      : {
          ref,
          ok: false,
          code: outcome.code,
          // For people, and may be cut: the code is what receivers act on.
          message: outcome.message.length > PUBLICATION_FIELD_LIMITS.message ? `${outcome.message.slice(0, PUBLICATION_FIELD_LIMITS.message - 1)}…` : outcome.message,
        };
    this.publishNumbered("result", { ...fields, sender: result.sender, cmdSeq: command?.seq, door: command?.door, op: command?.op });
  }

  private publishEvent(event: SecurityEvent): void {
    this.publishNumbered("event", {
      code: event.code,
      allowed: event.allowed,
      principal: event.principal,
      door: event.door ?? null,
      op: event.op ?? null,
      time: event.time === null ? null : Math.floor(event.time),
      uptime: event.uptime,
      suppressed: event.suppressed,
    });
  }

  /** Signs and queues a numbered publication (result, telemetry, event, or a service's kind). */
  private publishNumbered<K extends PublicationKind>(kind: K, fields: PublicationFields<K>): void {
    const index = this.nextIndex;
    const body = { ...fields, device: this.id, seq: this.sequence.next(), stream: this.stream, index } as unknown as PublicationBodies[K];
    const signed = signPublication(this.options.ports.crypto, this.options.key, kind, body);
    // Numbered only once signed: a publication that could not be made takes no index, so none is skipped.
    this.nextIndex++;
    this.session.publish(kind, signed, index);
  }

  private noteDropped(index: number): void {
    const last = this.droppedIndices[this.droppedIndices.length - 1];
    if (last && index === last[1] + 1) {
      last[1] = index;
      return;
    }
    this.droppedIndices.push([index, index]);
    if (this.droppedIndices.length > PUBLICATION_FIELD_LIMITS.droppedRanges) {
      // One range over the two oldest: it covers indices that did go out too, which a receiver has
      // (and so never counts); the newest drops, the ones a receiver still waits for, stay exact.
      const [first, second] = this.droppedIndices.splice(0, 2);
      this.droppedIndices.unshift([first[0], second[1]]);
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
    const { crypto } = this.options.ports;
    const { key, firmware } = this.options;
    // Drops are reported before the birth is signed: when the report takes a place in a full queue and
    // pushes one more publication out, the birth's `dropped` counts that one too, so a receiver can
    // account for every index it misses.
    this.reportDrops();
    const session = this.sequence.next();
    const death = signPublication(crypto, key, "death", { device: this.id, seq: session, session });
    let serviceFields: ServiceBirthFields = {};
    this.services.forEach((service) => {
      if (service.birth) serviceFields = { ...serviceFields, ...service.birth() };
    });
    const birth = signPublication(crypto, key, "birth", {
      ...serviceFields,
      device: this.id,
      seq: this.sequence.next(),
      session,
      firmware: firmware.version,
      patch: this.patches?.active?.sequenceNumber ?? firmware.patch ?? 0,
      epoch: firmware.epoch ?? 0,
      doors: this.runtime.schemas().map(describeDoor),
      dropped: { ...this.droppedCounts },
      droppedRanges: this.droppedIndices.map(([first, last]) => [first, last] as [number, number]),
      stream: this.stream,
      // Everything numbered before this connect; what follows gets `next` and above.
      next: this.nextIndex,
    });
    return { death, birth };
  }
}
