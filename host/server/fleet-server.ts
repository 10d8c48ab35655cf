// The fleet server: listens to every device's publications through the broker, verifies each with the
// device's registered key (the SDK's verifyPublication: the same code the device signs with), drops
// duplicates with a replay window per device and kind, and keeps the fleet's state in SQLite. It also
// relays signed commands (it never signs any: operators sign, the server only carries) and serves a small
// JSON API (http.ts).
//
// Anything that fails (an unregistered device, a bad signature, a malformed body, a sequence number
// below the window) becomes a security event with source "server" and is otherwise ignored. Those
// events go through the SDK's rate limiter, so a flood of garbage costs a counter, not disk.
//
// MQTT: a persistent session (clean session false, a fixed client id), QoS 1 subscriptions: what devices
// publish while the server is down waits at the broker. Each message is stored in one SQLite transaction
// before MQTT.js acknowledges it. Only one server may use a client id at a time: a second one would take
// the session over, and the two would disconnect each other in turn.

import type { MqttClient } from "mqtt";
import type { Server } from "node:http";
import { toHex } from "../../sdk/bytes";
import { parseSign1 } from "../../sdk/cose/sign1";
import { decodeCommand, COMMAND_LIMITS } from "../../sdk/command/envelope";
import { ReplayWindow } from "../../sdk/command/replay";
import type { CborMap, CborValue } from "../../sdk/cbor/types";
import type { CoseKey } from "../../sdk/cose/key";
import { GatehouseError, errorCode, fail } from "../../sdk/errors";
import { SecurityEventLog } from "../../sdk/events";
import { PUBLICATION_KINDS, TOPIC_OF_KIND, verifyPublication, type PublicationKind } from "../../sdk/session/messages";
import { nodeCrypto } from "../../ports/node/crypto";
import { nodeClock } from "../../ports/node/platform";
import { checkDeviceIdInput, checkDeviceKey, loadIdentities } from "../client/identities";
import { toJson } from "../client/json";
import { checkTopicLevel, connectMqtt, endMqtt } from "../client/mqtt";
import { awaitResult, ResultRouter, type CommandReply } from "../client/results";
import { startHttp } from "./http";
import { Store, type DeviceRow, type EventFilter, type EventRow, type KeyChange, type NewEvent, type ResultRow, type TelemetryRow } from "./store";

export type { DeviceRow, EventFilter, EventRow, KeyChange, ResultRow, TelemetryRow } from "./store";

export const DEFAULT_SERVER_CLIENT_ID = "gatehouse-server";
export const DEFAULT_RELAY_TIMEOUT_MS = 10_000;
export const MAX_RELAY_TIMEOUT_MS = 120_000;

export interface FleetServerOptions {
  brokerUrl: string;
  /** SQLite file, or ":memory:". */
  dbPath: string;
  /** Serve the JSON API here (port 0: any free port; see httpUrl). */
  http?: { host: string; port: number };
  /** Register every DIR/<id>/device.pub at start (replacing a different stored key for that id). */
  identitiesDir?: string;
  topicPrefix?: string;
  /** MQTT client id of the persistent session (default "gatehouse-server"). */
  clientId?: string;
  /** Diagnostic lines (broker connection, skipped identities, ...). */
  log?: (line: string) => void;
  /** Devices coming online or going offline, and every security event stored. */
  onActivity?: (activity: Activity) => void;
  /** Rate limit of server-side security events (default 20 per second, bursts of 100). */
  serverEventsPerSecond?: number;
  serverEventBurst?: number;
  connectTimeoutMs?: number;
}

export type Activity =
  | { type: "online"; device: string; session: number | null; firmware: string | null }
  | { type: "offline"; device: string }
  | { type: "event"; event: EventRow }
  | { type: "registered"; device: string; change: KeyChange };

export interface DeviceDetail extends DeviceRow {
  telemetry: TelemetryRow[];
  /** The latest results received from the device, newest first (at most 10). */
  results: ResultRow[];
}

export interface RelayRequest {
  /** A signed command (COSE_Sign1, as `gatehouse sign` or signCommand makes it). */
  message: Uint8Array;
  device: string;
  door: string;
  timeoutMs?: number;
}

const KIND_OF_SUFFIX = new Map<string, PublicationKind>(PUBLICATION_KINDS.map((kind) => [TOPIC_OF_KIND[kind], kind]));

/** Longest device id taken from a topic into the database (ids are at most 64 bytes as kids). */
const MAX_TOPIC_DEVICE = 64;

function isUint(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function isText(value: unknown, max = 256): value is string {
  return typeof value === "string" && value.length <= max;
}

function optionalText(value: unknown, max = 256): value is string | null {
  return value === null || value === undefined || isText(value, max);
}

/** Wall time in ms as stored: an integer, or null. */
function millis(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? Math.round(value) : null;
}

/** Why a verified body does not have the fields of its kind (protocol §4), or undefined. */
function malformed(kind: PublicationKind, body: CborMap): string | undefined {
  const get = (k: string): CborValue => body.get(k);
  switch (kind) {
    case "birth": {
      if (!isUint(get("session"))) return "birth session is not an unsigned integer";
      if (!isText(get("firmware"), 64)) return "birth firmware is not text";
      if (!isUint(get("patch")) || !isUint(get("epoch"))) return "birth patch or epoch is not an unsigned integer";
      if (!Array.isArray(get("doors"))) return "birth doors is not an array";
      const dropped = get("dropped");
      if (!(dropped instanceof Map) || [...dropped].some(([k, v]) => typeof k !== "string" || !isUint(v))) return "birth dropped is not a map of counts";
      return undefined;
    }
    case "death":
      return isUint(get("session")) ? undefined : "death session is not an unsigned integer";
    case "telemetry":
      if (!isText(get("door"), 64) || !isText(get("event"), 64)) return "telemetry door or event is not text";
      if (get("time") !== null && get("time") !== undefined && millis(get("time")) === null) return "telemetry time is not a number or null";
      return undefined;
    case "event":
      if (!isText(get("code"), 64) || get("code") === "") return "event code is not text";
      if (typeof get("allowed") !== "boolean") return "event allowed is not a boolean";
      if (!isText(get("principal"), 130)) return "event principal is not text";
      if (!optionalText(get("door"), 64) || !optionalText(get("op"), 64)) return "event door or op is not text or null";
      if (!isUint(get("suppressed"))) return "event suppressed is not an unsigned integer";
      return undefined;
    case "result": {
      const ref = get("ref");
      if (!(ref instanceof Uint8Array) || ref.length !== 8) return "result ref is not 8 bytes";
      if (typeof get("ok") !== "boolean") return "result ok is not a boolean";
      if (!optionalText(get("sender"), 130) || !optionalText(get("door"), 64) || !optionalText(get("op"), 64)) return "result sender, door or op is not text";
      if (get("ok") === false && !isText(get("code"), 64)) return "refused result has no code";
      return undefined;
    }
  }
}

export class FleetServer {
  /** Where the HTTP API listens, e.g. "http://127.0.0.1:8080" (undefined without `http`). */
  httpUrl?: string;
  readonly store: Store;
  private readonly options: FleetServerOptions;
  private readonly prefix: string;
  private readonly keys = new Map<string, CoseKey>();
  /** `${device}\n${kind}` -> its replay window (one sender, ""). */
  private readonly windows = new Map<string, ReplayWindow>();
  private readonly router = new ResultRouter();
  private readonly serverEvents: SecurityEventLog;
  /** Set just before serverEvents.record(), read by its sink (which runs synchronously inside). */
  private eventContext: { device: string; detail: string } | undefined;
  private mqtt: MqttClient | undefined;
  private http: Server | undefined;
  private stopped = false;
  /** Activities of the transaction in progress. */
  private queued: Activity[] | undefined;
  /** Duplicates dropped (QoS 1 redeliveries, retained messages seen again). */
  duplicates = 0;

  private constructor(options: FleetServerOptions) {
    this.options = options;
    this.prefix = options.topicPrefix ?? "gh";
    checkTopicLevel(this.prefix, "topic prefix");
    this.store = new Store(options.dbPath);
    this.serverEvents = new SecurityEventLog({
      clock: nodeClock,
      ratePerSecond: options.serverEventsPerSecond ?? 20,
      burst: options.serverEventBurst ?? 100,
      sink: (event) => {
        const context = this.eventContext ?? { device: "", detail: "" };
        this.appendEvent({
          receivedAt: Date.now(),
          device: context.device,
          source: "server",
          code: event.code,
          allowed: false,
          principal: event.principal,
          door: event.door ?? null,
          op: event.op ?? null,
          deviceTime: null,
          uptime: null,
          suppressed: event.suppressed,
          seq: null,
          detail: context.detail,
        });
      },
    });
  }

  static async start(options: FleetServerOptions): Promise<FleetServer> {
    const server = new FleetServer(options);
    try {
      await server.begin();
    } catch (e) {
      await server.stop();
      throw e;
    }
    return server;
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  private async begin(): Promise<void> {
    for (const [id, key] of this.store.keys()) this.keys.set(id, key);
    for (const row of this.store.replayStates()) {
      const window = this.window(row.device, row.kind);
      window.restore(new Map([["", [row.highest, row.seen]]]));
    }
    if (this.options.identitiesDir !== undefined) {
      const scan = loadIdentities(this.options.identitiesDir);
      for (const line of scan.skipped) this.log(`identities: skipped ${line}`);
      for (const [id, key] of scan.keys) this.registerDevice(id, key, { replace: true });
      this.log(`identities: ${scan.keys.size} device key(s) from ${this.options.identitiesDir}`);
    }

    this.mqtt = await connectMqtt(this.options.brokerUrl, {
      clean: false,
      clientId: this.options.clientId ?? DEFAULT_SERVER_CLIENT_ID,
      connectTimeoutMs: this.options.connectTimeoutMs,
      onMessage: (topic, payload) => this.receive(topic, payload),
      onStatus: (status) => this.log(`broker: ${status}`),
    });
    const topics = PUBLICATION_KINDS.map((kind) => `${this.prefix}/+/${TOPIC_OF_KIND[kind]}`);
    await this.mqtt.subscribeAsync(topics, { qos: 1 });
    this.log(`broker: connected to ${this.options.brokerUrl}, subscribed to ${topics.join(", ")}`);

    if (this.options.http) {
      const { server, url } = await startHttp(this, this.options.http, (line) => this.log(line));
      this.http = server;
      this.httpUrl = url;
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.router.cancelAll(new GatehouseError("server-stopped", "the server is stopping"));
    if (this.http) {
      const http = this.http;
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
    }
    if (this.mqtt) await endMqtt(this.mqtt);
    this.store.close();
  }

  // ---- registry ----

  /**
   * Registers a device's public key (kid must be the UTF-8 of `id`). A different key for a known id is
   * refused ("device-conflict") unless `replace` is given; a replaced key starts with fresh replay windows.
   */
  registerDevice(id: string, publicKey: CoseKey, options: { replace?: boolean } = {}): KeyChange {
    checkDeviceIdInput(id);
    const key = checkDeviceKey(id, publicKey);
    const change = this.store.setKey(id, key, options.replace === true, Date.now());
    if (change === "conflict") fail("device-conflict", `device ${id} is registered with another key`);
    if (change === "replaced") for (const kind of PUBLICATION_KINDS) this.windows.delete(`${id}\n${kind}`);
    this.keys.set(id, key);
    if (change !== "unchanged") this.notify({ type: "registered", device: id, change });
    return change;
  }

  devices(): DeviceRow[] {
    return this.store.devices();
  }

  device(id: string): DeviceDetail | undefined {
    const row = this.store.device(id);
    return row && { ...row, telemetry: this.store.telemetry(id), results: this.store.results(id, 10) };
  }

  events(filter: EventFilter = {}): EventRow[] {
    return this.store.events(filter);
  }

  // ---- commands ----

  /**
   * Publishes a command signed elsewhere and waits for its result, verified with the registered key. The
   * claims are read (without verification: the device does that) only to check that they name the same
   * device and door as the request, so the command is not delivered where it will be refused.
   */
  async relayCommand(request: RelayRequest): Promise<CommandReply> {
    if (this.stopped || !this.mqtt) fail("server-stopped", "the server is stopping");
    const device = checkTopicLevel(request.device, "device");
    const door = checkTopicLevel(request.door, "door");
    const timeoutMs = request.timeoutMs ?? DEFAULT_RELAY_TIMEOUT_MS;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_RELAY_TIMEOUT_MS) fail("usage", `timeoutMs must be an integer from 1 to ${MAX_RELAY_TIMEOUT_MS}`);
    if (!this.keys.has(device)) fail("unknown-device", `device ${device} is not registered`);
    const parts = parseSign1(request.message, { tag: "required", limits: COMMAND_LIMITS });
    if (parts.payload === null) fail("cose-detached-payload", "the command has no payload");
    const command = decodeCommand(parts.payload);
    if (command.device !== device) fail("command-mismatch", `the command is for device ${command.device}, not ${device}`);
    if (command.door !== door) fail("command-mismatch", `the command is for door ${command.door}, not ${door}`);
    return awaitResult({
      client: this.mqtt,
      router: this.router,
      topicPrefix: this.prefix,
      device,
      door,
      message: request.message,
      seq: command.seq,
      timeoutMs,
      // Results reach the router through receive(), verified with the registered key.
    });
  }

  // ---- ingestion ----

  private window(device: string, kind: string): ReplayWindow {
    const k = `${device}\n${kind}`;
    let window = this.windows.get(k);
    if (!window) this.windows.set(k, (window = new ReplayWindow()));
    return window;
  }

  private serverEvent(device: string, code: string, detail: string): void {
    this.eventContext = { device: device.slice(0, MAX_TOPIC_DEVICE), detail: detail.slice(0, 512) };
    try {
      this.serverEvents.record({ code, allowed: false, principal: "unknown" });
    } finally {
      this.eventContext = undefined;
    }
  }

  private appendEvent(event: NewEvent): void {
    const row = this.store.appendEvent(event);
    this.notify({ type: "event", event: row });
  }

  /** Reports an activity; inside an ingestion transaction, once it has committed. */
  private notify(activity: Activity): void {
    if (this.queued) {
      this.queued.push(activity);
      return;
    }
    try {
      this.options.onActivity?.(activity);
    } catch (e) {
      this.log(`onActivity failed: ${(e as Error).message}`);
    }
  }

  /** One message from the broker. Never throws (a throw would leave it unacknowledged, forever redelivered). */
  private receive(topic: string, payload: Uint8Array): void {
    if (this.stopped) return;
    try {
      this.ingest(topic, payload);
    } catch (e) {
      this.log(`ingest ${topic}: ${errorCode(e)}: ${(e as Error).message}`);
    }
  }

  private ingest(topic: string, payload: Uint8Array): void {
    const levels = topic.split("/");
    if (levels.length !== 3 || levels[0] !== this.prefix) return;
    const device = levels[1];
    const kind = KIND_OF_SUFFIX.get(levels[2]);
    if (kind === undefined || device.length === 0) return;
    if (payload.length === 0) return; // a retained message being cleared
    const key = this.keys.get(device);
    if (!key) {
      this.serverEvent(device, "unknown-device", `${kind} on ${topic} from a device that is not registered`);
      return;
    }
    let body: CborMap;
    try {
      body = verifyPublication(nodeCrypto, payload, key, kind, device);
    } catch (e) {
      this.serverEvent(device, errorCode(e), `${kind} refused: ${(e as Error).message}`);
      return;
    }
    const seq = body.get("seq") as number;
    const window = this.window(device, kind);
    try {
      window.check("", seq);
    } catch (e) {
      if (errorCode(e) === "replayed") {
        this.duplicates++;
        return; // QoS 1 redelivery or a retained message seen again: silently dropped (protocol §4)
      }
      this.serverEvent(device, errorCode(e), `${kind} seq ${seq}: ${(e as Error).message}`);
      return;
    }
    const problem = malformed(kind, body);
    const now = Date.now();
    const wasOnline = this.store.isOnline(device);
    const queued: Activity[] = [];
    const before = window.snapshot();
    this.queued = queued;
    try {
      this.store.transaction(() => {
        window.accept("", seq);
        const [highest, seen] = window.snapshot().get("") as [number, number];
        this.store.saveReplay(device, kind, highest, seen);
        this.store.seen(device, now);
        if (problem) this.serverEvent(device, "publication-malformed", `${kind} seq ${seq}: ${problem}`);
        else this.apply(device, kind, body, seq, now);
      });
    } catch (e) {
      window.restore(before); // the database rolled back; so does the window
      throw e;
    } finally {
      this.queued = undefined;
    }
    const online = this.store.isOnline(device);
    // A birth is a new session even when the store still had the device online (its last death may
    // never have reached this server), so it is reported as coming online.
    if (online !== wasOnline || (online && kind === "birth" && !problem)) {
      const row = this.store.device(device);
      queued.push(online ? { type: "online", device, session: row?.session ?? null, firmware: row?.firmware ?? null } : { type: "offline", device });
    }
    for (const activity of queued) this.notify(activity);
    if (kind === "result" && !problem) this.router.deliverVerified(device, body, payload);
  }

  private apply(device: string, kind: PublicationKind, body: CborMap, seq: number, now: number): void {
    const get = (k: string): CborValue => body.get(k);
    const text = (k: string): string | null => (typeof get(k) === "string" ? (get(k) as string) : null);
    switch (kind) {
      case "birth":
        this.store.applyBirth(device, {
          seq,
          session: get("session") as number,
          firmware: get("firmware") as string,
          patch: get("patch") as number,
          epoch: get("epoch") as number,
          doors: toJson(get("doors")),
          dropped: toJson(get("dropped")),
        });
        return;
      case "death":
        this.store.applyDeath(device, get("session") as number);
        return;
      case "telemetry":
        this.store.putTelemetry({
          device,
          door: get("door") as string,
          event: get("event") as string,
          data: toJson(get("data")),
          time: millis(get("time")),
          receivedAt: now,
          seq,
        });
        return;
      case "event": {
        const uptime = get("uptime");
        this.appendEvent({
          receivedAt: now,
          device,
          source: "device",
          code: get("code") as string,
          allowed: get("allowed") === true,
          principal: text("principal"),
          door: text("door"),
          op: text("op"),
          deviceTime: millis(get("time")),
          uptime: typeof uptime === "number" && Number.isFinite(uptime) ? uptime : null,
          suppressed: get("suppressed") as number,
          seq,
          detail: null,
        });
        return;
      }
      case "result": {
        const cmdSeq = get("cmdSeq");
        this.store.addResult({
          receivedAt: now,
          device,
          ref: toHex(get("ref") as Uint8Array),
          sender: text("sender"),
          cmdSeq: isUint(cmdSeq) ? cmdSeq : null,
          door: text("door"),
          op: text("op"),
          ok: get("ok") === true,
          value: body.has("value") ? toJson(get("value")) : null,
          code: text("code"),
          message: text("message"),
          seq,
        });
        return;
      }
    }
  }
}
