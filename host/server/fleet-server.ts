// The fleet server: listens to every device's publications through the broker, verifies each with the
// device's registered key (the SDK's verifyPublication: the same code the device signs with), drops
// duplicates with a replay window per device and kind, and keeps the fleet's state in SQLite. It also
// relays signed commands (it never signs any: operators sign, the server only carries). It knows no
// HTTP: it implements FleetApi (api.ts), which the JSON API (http-api.ts) is built on, and the CLI
// (`gatehouse server`) serves that over HTTP (http-serve.ts).
//
// Anything that fails (an unregistered device, a bad signature, a malformed body, a sequence number
// below the window) becomes a security event with source "server" and is otherwise ignored. Those
// events go through the SDK's rate limiter, one per device (one more for every unregistered name), so a
// flood of garbage costs a counter, not disk, and noise on one device's topics never silences another's.
//
// Ingestion is off the MQTT hot path (issue 11): the message handler only sorts a message into a
// bounded per-device queue (ingest-queue.ts); batches are verified, then stored in one transaction, then
// the next batch waits for I/O. What the queue cannot hold is counted and recorded as an event.
//
// Nothing is lost without a record: every result, telemetry and event a device publishes is numbered in
// its boot's stream (protocol §4), and indices that do not arrive are recorded as
// publications-missing (or publications-dropped, the part the device's own offline queue dropped, as it
// reported) by gaps.ts. Messages larger than any publication can be are refused by size: with an MQTT 5
// broker the server announces a Maximum Packet Size, so the broker drops them before they are sent;
// with a 3.1.1 broker they arrive and are refused without being verified (message-too-large).
//
// Sessions taken over: a device's client id used by another client shows as a new connection of the
// same boot whose previous connection ended without its will (mosquitto sends no will on a takeover),
// or as repeated connects in a short time; both are recorded as session-takeover.
//
// MQTT: a persistent session (clean session false, a fixed client id), QoS 1 subscriptions: what devices
// publish while the server is down waits at the broker (up to its queue limits: README). A message is
// acknowledged when it is queued here, and stored within a batch; a crash in between loses the batch,
// and the gaps in the device's stream are then recorded when the server is back. Only one server may use
// a client id at a time: a second one would take the session over, and the two would disconnect each
// other in turn.

import type { MqttClient } from "mqtt";
import { toHex } from "../../sdk/bytes";
import { parseSign1 } from "../../sdk/cose/sign1";
import { decodeCommand, COMMAND_LIMITS } from "../../sdk/command/envelope";
import { ReplayWindow, type ReplayState } from "../../sdk/command/replay";
import type { CborMap, CborValue } from "../../sdk/cbor/types";
import type { CoseKey } from "../../sdk/cose/key";
import { GatehouseError, errorCode, fail } from "../../sdk/errors";
import type { ErrorCode } from "../../sdk/error-codes";
import { SecurityEventLog } from "../../sdk/events";
import { decodePublication, PUBLICATION_KINDS, PUBLICATIONS, verifyPublication, type PublicationBodies, type PublicationKind } from "../../sdk/session/publications";
import { nodeCrypto } from "../../ports/node/crypto";
import { nodeClock } from "../../ports/node/platform";
import { checkDeviceIdInput, checkDeviceKey, loadDeviceKeys } from "../client/device-keys";
import { toJson } from "../client/json-view";
import type { BrokerCredentials } from "../broker/identities";
import { checkTopicLevel, connectMqtt, endMqtt, kindOfTopic, PUBLICATION_PACKET_BYTES, speaksMqtt5 } from "../client/mqtt";
import { awaitResult, ResultRouter, type CommandReply, type SilenceFacts } from "../client/results";
import { describeRanges, isStreamState, PublicationGaps, type GapReport } from "./gaps";
import { IngestQueue, type Incoming, type IngestQueueOptions } from "./ingest-queue";
import { EventSignal } from "./export/event-signal";
import { WebhookDelivery, type WebhookDeliveryOptions } from "./export/webhooks";
import { Store, type DeviceRow, type DeviceUpdateState, type EventFilter, type EventRow, type KeyChange, type NewEvent } from "./store";
import type { DeviceDetail, FleetApi, RelayRequest, TrustUpdateRequest, UpdateOfferRequest } from "./api";
import { UpdateSignal, UpdateTransfer, type UpdateTransferOptions } from "./update-transfer";
import { uuidText } from "../../sdk/suit/processor";
import { countEvents, type EventCountQuery, type EventCounts } from "./event-counts";
import { Rollouts, type Rollout, type RolloutOptions, type RolloutRequest, type RolloutSummary } from "./rollouts";

export type { DeviceDetail, FleetApi, RelayRequest } from "./api";
export type { DeviceRow, EventFilter, EventRow, KeyChange, ResultRow, TelemetryRow } from "./store";

export const DEFAULT_SERVER_CLIENT_ID = "gatehouse-server";
export const DEFAULT_RELAY_TIMEOUT_MS = 10_000;
export const MAX_RELAY_TIMEOUT_MS = 120_000;
/**
 * The largest message taken for verification: a publication's payload is at most PUBLICATION_LIMITS
 * (32 KiB) inside a COSE_Sign1 of a few hundred bytes more. Larger ones are refused unread.
 */
export const MAX_PUBLICATION_BYTES = 64 * 1024;
/** Relayed commands waiting for their result at once (each holds an HTTP request open). */
export const MAX_PENDING_RELAYS = 1000;
/** A batch ends after this many messages or this much time, so the event loop gets back to I/O. */
const BATCH_MESSAGES = 512;
const BATCH_MS = 25;

export interface FleetServerOptions {
  brokerUrl: string;
  /** SQLite file, or ":memory:". */
  dbPath: string;
  /** Register every DIR/<id>/device.pub at start (replacing a different stored key for that id). */
  identitiesDir?: string;
  topicPrefix?: string;
  /** MQTT client id of the persistent session (default "gatehouse-server"). */
  clientId?: string;
  /** The server's broker identity (docs/broker.md): its login, and the CA that verifies the broker over mqtts. */
  brokerCredentials?: BrokerCredentials;
  /** Diagnostic lines (broker connection, skipped identities, ...). */
  log?: (line: string) => void;
  /** Devices coming online or going offline, and every security event stored. */
  onActivity?: (activity: Activity) => void;
  /** Rate limit of server-side security events, per device (default 20 per second, bursts of 100). */
  serverEventsPerSecond?: number;
  serverEventBurst?: number;
  connectTimeoutMs?: number;
  /** How long a publication may be overdue before it is recorded as missing (default 10 s). */
  gapGraceMs?: number;
  /** How often overdue publications, ingest drops and suppressed counts are looked at (default 1 s). */
  sweepIntervalMs?: number;
  /** Bounds of the ingest queue (ingest-queue.ts). */
  ingest?: IngestQueueOptions;
  /** Connects of one device's boot within this window that make a session-takeover event (default 3 in 60 s). */
  takeoverConnects?: number;
  takeoverWindowMs?: number;
  /** Retry and timeout settings of webhook delivery (export/webhooks.ts); webhooks live in the database. */
  webhooks?: WebhookDeliveryOptions;
  /** Bounds of the update transfer (update-transfer.ts): block requests per device and second, reads in flight. */
  updates?: Pick<UpdateTransferOptions, "requestsPerSecond" | "requestBurst" | "maxReadsInFlight" | "stopResendMs">;
  /** Rollouts (rollouts.ts): how long a device in flight may say nothing before it fails. */
  rollouts?: Pick<RolloutOptions, "deviceTimeoutMs" | "sweepMs">;
}

export type Activity =
  | { type: "online"; device: string; session: number | null; firmware: string | null }
  | { type: "offline"; device: string }
  | { type: "event"; event: EventRow }
  | { type: "registered"; device: string; change: KeyChange }
  | { type: "update"; device: string; state: DeviceUpdateState };


/** Longest device id taken from a topic into the database (ids are at most 64 bytes as kids). */
const MAX_TOPIC_DEVICE = 64;

/** A message from the ingest queue after verification, ready to be stored. */
type Prepared =
  | { type: "refused"; device: string; code: string; detail: string }
  | { type: "publication"; device: string; seq: number; payload: Uint8Array; receivedAt: number; body: Body }
  /** Verified and in sequence, but a field of its kind is wrong (protocol §4). */
  | { type: "malformed"; device: string; kind: PublicationKind; seq: number; problem: string; receivedAt: number };

/** A publication's kind with its typed body. */
type Body = { [K in PublicationKind]: { kind: K; fields: PublicationBodies[K] } }[PublicationKind];

/** What the server knows of a device's current connection, for takeover detection (memory only). */
interface Connection {
  stream: number;
  session: number;
  /** When its birth arrived. */
  at: number;
  /** Its death (the will, or a clean stop) arrived. */
  ended: boolean;
  /** Arrival times of the births of this boot within the takeover window. */
  connects: number[];
}

export class FleetServer implements FleetApi {
  readonly store: Store;
  private readonly options: FleetServerOptions;
  private readonly prefix: string;
  private readonly keys = new Map<string, CoseKey>();
  /** `${device}\n${kind}` -> its replay window (one sender, ""). */
  private readonly windows = new Map<string, ReplayWindow>();
  private readonly router = new ResultRouter();
  /** Server-event rate limiters: one per registered device, "" for every unregistered name. */
  private readonly limiters = new Map<string, SecurityEventLog>();
  /** Set just before a limiter's record(), read by its sink (which runs synchronously inside). */
  private eventContext: { device: string; detail: string } | undefined;
  private readonly queue: IngestQueue;
  private readonly gaps: PublicationGaps;
  private readonly connections = new Map<string, Connection>();
  /** Per device: when a session takeover or missing publications were last recorded (for timeout messages). */
  private readonly lastTakeover = new Map<string, number>();
  private readonly lastMissing = new Map<string, number>();
  /** When the server's own broker connection last went down (a device reconnecting then is explained). */
  private lastBrokerDrop = 0;
  private drainScheduled = false;
  /** Set once the broker connection is closed on stop(): nothing more is taken in. */
  private ingestClosed = false;
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  private mqtt: MqttClient | undefined;
  private stopped = false;
  /** Activities of the transaction in progress. */
  private queued: Activity[] | undefined;
  /** Duplicates dropped (QoS 1 redeliveries, retained messages seen again). */
  duplicates = 0;
  /** Raised after security events were stored (and committed): the exports read them then. */
  readonly newEvents = new EventSignal();
  /** Raised (with the device) after a device's update state was stored: a status, or a birth's installed state. */
  readonly updateChanges = new UpdateSignal();
  /** The server's side of the update transfer: offers, and serving block requests. */
  readonly transfer: UpdateTransfer;
  /** Rollouts of updates to many devices, in waves (resumed at start). */
  private readonly rolloutsOf: Rollouts;
  private webhooks: WebhookDelivery | undefined;

  private constructor(options: FleetServerOptions) {
    this.options = options;
    this.prefix = options.topicPrefix ?? "gh";
    checkTopicLevel(this.prefix, "topic prefix");
    this.store = new Store(options.dbPath);
    this.queue = new IngestQueue(options.ingest);
    this.gaps = new PublicationGaps({ graceMs: options.gapGraceMs });
    this.transfer = new UpdateTransfer({
      ...options.updates,
      topicPrefix: this.prefix,
      onRefused: (device, code, detail) => this.inTransaction(() => this.serverEvent(device, code, detail)),
      log: (line) => this.log(line),
    });
    this.rolloutsOf = new Rollouts(this.store.db, this, { ...options.rollouts, log: (line) => this.log(line) });
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
    const now = Date.now();
    for (const { device, state } of this.store.streamStates()) if (isStreamState(state)) this.gaps.restore(device, state, now);
    if (this.options.identitiesDir !== undefined) {
      const scan = loadDeviceKeys(this.options.identitiesDir);
      for (const line of scan.skipped) this.log(`identities: skipped ${line}`);
      for (const [id, key] of scan.keys) this.registerDevice(id, key, { replace: true });
      this.log(`identities: ${scan.keys.size} device key(s) from ${this.options.identitiesDir}`);
    }

    this.mqtt = await connectMqtt(this.options.brokerUrl, {
      clean: false,
      clientId: this.options.clientId ?? DEFAULT_SERVER_CLIENT_ID,
      credentials: this.options.brokerCredentials,
      connectTimeoutMs: this.options.connectTimeoutMs,
      maxPacketBytes: PUBLICATION_PACKET_BYTES,
      onMessage: (topic, payload, retain) => this.receive(topic, payload, retain),
      onStatus: (status) => this.log(`broker: ${status}`),
      onConnection: (up) => {
        if (!up) this.lastBrokerDrop = Date.now();
        // Whatever was overdue may be waiting for us at the broker: the grace period starts again.
        else this.gaps.restartGrace(Date.now());
      },
    });
    const topics = PUBLICATION_KINDS.map((kind) => `${this.prefix}/+/${PUBLICATIONS[kind].topic}`);
    await this.mqtt.subscribeAsync(topics, { qos: 1 });
    // Block requests: QoS 0 both ways (a lost one is asked again); served at once, not through the ingest queue.
    this.transfer.attach(this.mqtt);
    await this.mqtt.subscribeAsync(this.transfer.requestFilter, { qos: 0 });
    const version = speaksMqtt5(this.mqtt) ? `MQTT 5, maximum packet ${PUBLICATION_PACKET_BYTES} bytes` : "MQTT 3.1.1: larger messages are refused after they arrive";
    this.log(`broker: connected to ${this.options.brokerUrl} (${version}), subscribed to ${topics.join(", ")}`);
    this.sweepTimer = setInterval(() => this.sweep(), this.options.sweepIntervalMs ?? 1000);
    this.sweepTimer.unref();
    this.webhooks = new WebhookDelivery(this.store, this.newEvents, { log: (line) => this.log(line), ...this.options.webhooks });
    await this.rolloutsOf.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.sweepTimer);
    this.rolloutsOf.stop();
    this.router.cancelAll(new GatehouseError("server-stopped", "the server is stopping"));
    await this.webhooks?.stop();
    // Messages keep arriving into the queue until the connection is closed: MQTT.js acknowledges each as
    // the handler returns, so each must be stored.
    if (this.mqtt) await endMqtt(this.mqtt);
    this.ingestClosed = true;
    // What the broker handed over is stored before the database closes.
    if (this.store.db.open) {
      while (this.queue.size > 0) this.drainBatch();
      this.recordDrops();
    }
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
    if (change === "replaced") {
      for (const kind of PUBLICATION_KINDS) this.windows.delete(`${id}\n${kind}`);
      this.gaps.forget(id);
      this.connections.delete(id);
    }
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

  eventCounts(query: EventCountQuery): EventCounts {
    return countEvents(this.store.db, query);
  }

  // ---- commands ----

  /**
   * Publishes a command signed elsewhere and waits for its result, verified with the registered key. The
   * claims are read (without verification: the device does that) only to check that they name the same
   * device and door as the request, so the command is not delivered where it will be refused. A command
   * that gets no result is recorded as a server event (command-unanswered), and the error says what the
   * server knows of the device.
   */
  async relayCommand(request: RelayRequest): Promise<CommandReply> {
    if (this.stopped || !this.mqtt) fail("server-stopped", "the server is stopping");
    const device = checkTopicLevel(request.device, "device");
    const door = checkTopicLevel(request.door, "door");
    const timeoutMs = request.timeoutMs ?? DEFAULT_RELAY_TIMEOUT_MS;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_RELAY_TIMEOUT_MS) fail("usage", `timeoutMs must be an integer from 1 to ${MAX_RELAY_TIMEOUT_MS}`);
    if (!this.keys.has(device)) fail("unknown-device", `device ${device} is not registered`);
    if (this.router.pending >= MAX_PENDING_RELAYS) fail("server-busy", `${MAX_PENDING_RELAYS} commands are already waiting for their results`);
    const parts = parseSign1(request.message, { tag: "required", limits: COMMAND_LIMITS });
    if (parts.payload === null) fail("cose-detached-payload", "the command has no payload");
    const command = decodeCommand(parts.payload);
    if (command.device !== device) fail("command-mismatch", `the command is for device ${command.device}, not ${device}`);
    if (command.door !== door) fail("command-mismatch", `the command is for door ${command.door}, not ${door}`);
    try {
      return await awaitResult({
        client: this.mqtt,
        router: this.router,
        topicPrefix: this.prefix,
        device,
        door,
        message: request.message,
        seq: command.seq,
        timeoutMs,
        expiresAt: command.expiresAt,
        silence: () => this.silence(device),
        // Results reach the router through the ingest, verified with the registered key.
      });
    } catch (e) {
      if (errorCode(e) === "no-result" && !this.stopped) {
        this.inTransaction(() => this.serverEvent(device, "command-unanswered", `command seq ${command.seq} (${command.op} on ${door}) relayed, no result within ${timeoutMs} ms`));
      }
      throw e;
    }
  }

  /** What the server knows of a device when a relayed command got no result. */
  private silence(device: string): Omit<SilenceFacts, "acknowledged" | "expiresAt"> {
    const row = this.store.device(device);
    const notes: string[] = [];
    const takeover = this.lastTakeover.get(device);
    if (takeover !== undefined) notes.push(`The server recorded a suspected session takeover of this device at ${new Date(takeover).toISOString()} (another client using its client id can take its commands).`);
    const missing = this.lastMissing.get(device);
    if (missing !== undefined) notes.push(`The server recorded publications of this device as missing at ${new Date(missing).toISOString()} (lost on the way: a broker queue limit).`);
    const known = row !== undefined && (row.session !== null || row.deathSession !== null);
    return {
      device: known
        ? { online: row.online, session: (row.online ? row.session : row.deathSession) ?? undefined, source: "the server's record of the device's verified births and deaths" }
        : { online: undefined, source: "the server has received no birth or death of it" },
      notes,
    };
  }

  // ---- updates ----

  async offerUpdate(request: UpdateOfferRequest): Promise<void> {
    if (this.stopped) fail("server-stopped", "the server is stopping");
    if (!this.keys.has(request.device)) fail("unknown-device", `device ${request.device} is not registered`);
    await this.transfer.offer({ device: request.device, rollout: request.rollout, envelope: request.update.envelope, image: request.update.source, blockSize: request.blockSize });
  }

  withdrawUpdate(device: string): void {
    this.transfer.withdraw(device);
  }

  async stopUpdate(device: string, rollout: string): Promise<void> {
    if (this.stopped) fail("server-stopped", "the server is stopping");
    if (!this.keys.has(device)) fail("unknown-device", `device ${device} is not registered`);
    await this.transfer.stop(device, rollout);
  }

  async sendTrustUpdate(request: TrustUpdateRequest): Promise<void> {
    if (this.stopped) fail("server-stopped", "the server is stopping");
    if (!this.keys.has(request.device)) fail("unknown-device", `device ${request.device} is not registered`);
    await this.transfer.sendTrust(request.device, request.rollout, request.trust);
  }

  updateState(device: string): DeviceUpdateState | undefined {
    return this.store.updateState(device);
  }

  updateStates(): DeviceUpdateState[] {
    return this.store.updateStates();
  }

  // ---- rollouts ----

  createRollout(request: RolloutRequest): Promise<Rollout> {
    return this.rolloutsOf.create(request);
  }

  rollouts(): RolloutSummary[] {
    return this.rolloutsOf.list();
  }

  rollout(id: string): Rollout | undefined {
    return this.rolloutsOf.get(id);
  }

  abortRollout(id: string, by?: string): Rollout {
    return this.rolloutsOf.abort(id, by);
  }

  get rolloutChanges(): UpdateSignal {
    return this.rolloutsOf.changes;
  }

  // ---- ingestion ----

  private window(device: string, kind: string): ReplayWindow {
    const k = `${device}\n${kind}`;
    let window = this.windows.get(k);
    if (!window) this.windows.set(k, (window = new ReplayWindow()));
    return window;
  }

  /** The rate limiter for events about `device`: its own when registered, the shared one otherwise. */
  private limiter(device: string): SecurityEventLog {
    const key = this.keys.has(device) ? device : "";
    let limiter = this.limiters.get(key);
    if (!limiter) {
      limiter = new SecurityEventLog({
        clock: nodeClock,
        ratePerSecond: this.options.serverEventsPerSecond ?? 20,
        burst: this.options.serverEventBurst ?? 100,
        sink: (event) => {
          const context = this.eventContext ?? { device: key, detail: "" };
          this.appendEvent(serverEventRow(context.device, event.code, context.detail, event.suppressed, event.door ?? null, event.op ?? null, event.principal));
        },
      });
      this.limiters.set(key, limiter);
    }
    return limiter;
  }

  /** A server refusal, through the device's rate limiter. */
  private serverEvent(device: string, code: string, detail: string): void {
    const name = device.slice(0, MAX_TOPIC_DEVICE);
    this.eventContext = { device: name, detail: detail.slice(0, 512) };
    try {
      this.limiter(name).record({ code, allowed: false, principal: "unknown" });
    } finally {
      this.eventContext = undefined;
    }
  }

  /** A server event that is not rate-limited: derived from verified publications or counted losses. */
  private directEvent(device: string, code: ErrorCode, detail: string): void {
    this.appendEvent(serverEventRow(device, code, detail.slice(0, 1024), 0, null, null, null));
  }

  private appendEvent(event: NewEvent): void {
    const row = this.store.appendEvent(event);
    this.notify({ type: "event", event: row });
  }

  private updateChanged(device: string): void {
    const state = this.store.updateState(device);
    if (state) this.notify({ type: "update", device, state });
  }

  /** Reports an activity; inside an ingestion transaction, once it has committed. */
  private notify(activity: Activity): void {
    if (this.queued) {
      this.queued.push(activity);
      return;
    }
    try {
      if (activity.type === "event") this.newEvents.raise();
      if (activity.type === "update") this.updateChanges.raise(activity.device);
      this.options.onActivity?.(activity);
    } catch (e) {
      this.log(`onActivity failed: ${(e as Error).message}`);
    }
  }

  /** Runs `work` in one transaction; activities are reported after it committed. Never throws. */
  private inTransaction(work: () => void): boolean {
    if (!this.store.db.open) return false;
    const activities: Activity[] = [];
    this.queued = activities;
    try {
      this.store.transaction(work);
    } catch (e) {
      this.log(`database: ${errorCode(e)}: ${(e as Error).message}`);
      return false;
    } finally {
      this.queued = undefined;
    }
    for (const activity of activities) this.notify(activity);
    return true;
  }

  /** One message from the broker: sorted into the ingest queue, nothing more (MQTT.js acknowledges it on return). */
  private receive(topic: string, payload: Uint8Array, retain: boolean): void {
    if (this.ingestClosed) return;
    // <prefix>/<device>/<the kind's topic>
    const first = topic.indexOf("/");
    const second = topic.indexOf("/", first + 1);
    if (first < 0 || second <= first + 1 || topic.slice(0, first) !== this.prefix) return;
    const rest = topic.slice(second + 1);
    const device = topic.slice(first + 1, second);
    if (rest === "update/get") {
      // A block request of a registered device: answered at once (unsigned, QoS 0; update-transfer.ts).
      if (this.keys.has(device) && !this.stopped) this.transfer.onRequest(device, payload);
      return;
    }
    const kind = kindOfTopic(rest);
    if (kind === undefined) return;
    const item: Incoming = { topic, device, kind, payload, retain, receivedAt: Date.now() };
    // Larger than any publication (an MQTT 3.1.1 broker sends what an MQTT 5 one would drop): the bytes
    // are not kept, only their count.
    if (payload.length > MAX_PUBLICATION_BYTES) {
      item.oversize = payload.length;
      item.payload = new Uint8Array(0);
    }
    this.queue.push(this.keys.has(device) ? device : "", item);
    if (!this.drainScheduled && !this.stopped) {
      this.drainScheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    this.drainScheduled = false;
    if (this.stopped) return;
    this.drainBatch();
    if (this.queue.size > 0 && !this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(() => this.drain());
    }
  }

  /** Verifies a batch from the queue, then stores it in one transaction. Never throws. */
  private drainBatch(): void {
    const started = performance.now();
    const batch: Prepared[] = [];
    /** Windows changed by this batch, with their state before it (restored if the batch rolls back). */
    const touched = new Map<string, { device: string; kind: PublicationKind; window: ReplayWindow; before: ReplayState }>();
    let taken = 0;
    while (taken < BATCH_MESSAGES && performance.now() - started < BATCH_MS) {
      const item = this.queue.take();
      if (!item) break;
      taken++;
      try {
        const prepared = this.prepare(item, touched);
        if (prepared) batch.push(prepared);
      } catch (e) {
        this.log(`ingest ${item.topic}: ${errorCode(e)}: ${(e as Error).message}`);
      }
    }
    if (batch.length === 0 && touched.size === 0) return;
    const delivered: Prepared[] = [];
    const committed = this.inTransaction(() => {
      const online = new Map<string, boolean>();
      for (const p of batch) {
        if (p.type === "refused") {
          this.serverEvent(p.device, p.code, p.detail);
          continue;
        }
        this.store.seen(p.device, p.receivedAt);
        if (p.type === "malformed") {
          this.serverEvent(p.device, "publication-malformed", `${p.kind} seq ${p.seq}: ${p.problem}`);
          continue;
        }
        const was = online.get(p.device) ?? this.store.isOnline(p.device);
        const { kind } = p.body;
        this.apply(p.device, p.body, p.receivedAt);
        if (kind === "birth" || kind === "death") {
          const now = this.store.isOnline(p.device);
          // A birth is a new session even when the store still had the device online (its last death
          // may never have reached this server), so it is reported as coming online.
          if (now !== was || (now && kind === "birth")) {
            const row = this.store.device(p.device);
            this.notify(now ? { type: "online", device: p.device, session: row?.session ?? null, firmware: row?.firmware ?? null } : { type: "offline", device: p.device });
          }
          online.set(p.device, now);
        }
        if (kind === "result") delivered.push(p);
      }
      for (const { device, kind, window } of touched.values()) {
        const [highest, seen] = window.snapshot().get("") as [number, number];
        this.store.saveReplay(device, kind, highest, seen);
      }
      this.saveStreams();
    });
    if (!committed) {
      for (const { window, before } of touched.values()) window.restore(before); // the database rolled back; so do the windows
      this.reloadStreams();
      this.directEventOutside("", "ingest-failed", `a batch of ${taken} messages could not be stored (see the server log); their publications will show as missing`);
      return;
    }
    for (const p of delivered) if (p.type === "publication" && p.body.kind === "result") this.router.deliverVerified(p.device, p.body.fields, p.payload);
  }

  /** Verifies one message and moves its replay window. Undefined: a duplicate, dropped silently. */
  private prepare(item: Incoming, touched: Map<string, { device: string; kind: PublicationKind; window: ReplayWindow; before: ReplayState }>): Prepared | undefined {
    const { topic, device, kind, payload } = item;
    if (item.oversize !== undefined) {
      return { type: "refused", device, code: "message-too-large", detail: `${kind} on ${topic}: ${item.oversize} bytes, more than a publication can be (${MAX_PUBLICATION_BYTES}); refused unread` };
    }
    if (payload.length === 0) {
      // An empty message on a retained topic deletes the retained message at the broker: anyone allowed
      // to publish there can make a server that starts later think the device never came online.
      if (kind === "birth" || kind === "death") return { type: "refused", device, code: "retained-cleared", detail: `an empty ${kind} on ${topic} cleared the retained ${kind} at the broker` };
      return { type: "refused", device, code: "publication-malformed", detail: `an empty ${kind} on ${topic}` };
    }
    const key = this.keys.get(device);
    if (!key) return { type: "refused", device, code: "unknown-device", detail: `${kind} on ${topic} from a device that is not registered` };
    const retained = item.retain ? " (retained)" : "";
    let map: CborMap;
    try {
      map = verifyPublication(nodeCrypto, payload, key, kind, device);
    } catch (e) {
      return { type: "refused", device, code: errorCode(e), detail: `${kind}${retained} refused: ${(e as Error).message}` };
    }
    const seq = map.get("seq") as number;
    const window = this.window(device, kind);
    try {
      window.check("", seq);
    } catch (e) {
      if (errorCode(e) === "replayed") {
        this.duplicates++;
        return undefined; // QoS 1 redelivery or a retained message seen again: silently dropped (protocol §4)
      }
      return { type: "refused", device, code: errorCode(e), detail: `${kind}${retained} seq ${seq}: ${(e as Error).message}` };
    }
    const k = `${device}\n${kind}`;
    if (!touched.has(k)) touched.set(k, { device, kind, window, before: window.snapshot() });
    window.accept("", seq);
    // Judged after the window moved: a malformed publication was still signed by the device, and its seq
    // is used.
    try {
      const body = { kind, fields: decodePublication(kind, map) } as Body;
      return { type: "publication", device, seq, payload, receivedAt: item.receivedAt, body };
    } catch (e) {
      if (errorCode(e) !== "publication-malformed") throw e;
      return { type: "malformed", device, kind, seq, problem: (e as Error).message, receivedAt: item.receivedAt };
    }
  }

  private apply(device: string, body: Body, now: number): void {
    switch (body.kind) {
      case "birth": {
        const b = body.fields;
        const newer = this.store.applyBirth(device, {
          seq: b.seq,
          session: b.session,
          firmware: b.firmware,
          patch: b.patch,
          epoch: b.epoch,
          doors: toJson(b.doors),
          dropped: toJson(b.dropped),
        });
        this.recordGaps(this.gaps.birth(device, b.stream, b.next, b.droppedRanges.map(([first, last]) => [first, last]), now));
        if (newer) this.watchConnect(device, b.stream, b.session, now);
        if (newer && b.update !== undefined) {
          const u = b.update;
          this.store.putInstalledUpdate(device, { vendorId: uuidText(u.vendorId), classId: uuidText(u.classId), seq: u.seq, epoch: u.epoch, minEpoch: u.minEpoch, trustSeq: u.trustSeq, state: u.state }, now);
          this.updateChanged(device);
        }
        return;
      }
      case "death": {
        const { session } = body.fields;
        this.store.applyDeath(device, session);
        const connection = this.connections.get(device);
        if (connection && connection.session === session) connection.ended = true;
        else if (connection && session < connection.session && this.lastBrokerDrop < connection.at) {
          // A death the server did not expect: an older connection under the device's client id ended
          // after a newer one had begun, so two were up at once.
          this.takeover(device, `the death of session ${session} arrived while session ${connection.session} was current: two connections used the device's client id at the same time.`);
        }
        return;
      }
      case "telemetry": {
        const b = body.fields;
        this.store.putTelemetry({ device, door: b.door, event: b.event, data: toJson(b.data), time: b.time, receivedAt: now, seq: b.seq });
        break;
      }
      case "event": {
        const b = body.fields;
        this.appendEvent({
          receivedAt: now,
          device,
          source: "device",
          code: b.code,
          allowed: b.allowed,
          principal: b.principal,
          door: b.door,
          op: b.op,
          deviceTime: b.time,
          uptime: b.uptime,
          suppressed: b.suppressed,
          seq: b.seq,
          detail: null,
        });
        break;
      }
      case "update": {
        const b = body.fields;
        const newer = this.store.putUpdateStatus(device, {
          rollout: b.rollout,
          manifest: b.manifest ?? null,
          trust: b.trust ?? null,
          state: b.state,
          progress: b.progress,
          code: b.code ?? null,
          seq: b.seq,
          receivedAt: now,
        });
        if (newer) this.updateChanged(device);
        break;
      }
      case "result": {
        const b = body.fields;
        this.store.addResult({
          receivedAt: now,
          device,
          ref: toHex(b.ref),
          sender: b.sender ?? null,
          cmdSeq: b.cmdSeq ?? null,
          door: b.door ?? null,
          op: b.op ?? null,
          ok: b.ok,
          value: b.value !== undefined ? toJson(b.value) : null,
          code: b.code ?? null,
          message: b.message ?? null,
          seq: b.seq,
        });
        break;
      }
    }
    this.recordGaps(this.gaps.publication(device, body.fields.stream, body.fields.index, now));
  }

  /**
   * A new connection of a device (a newer birth). Within one boot (the same stream), a connection that
   * replaced the previous one without its will being published, or many connections in a short time,
   * mean the device's client id was used by another client too (a takeover) — or that the device lost its
   * link and came back before the broker noticed. Both are recorded as session-takeover, unless the
   * server's own connection dropped meanwhile (a broker restart makes every device reconnect). A death
   * of an older session arriving after a newer birth is one too (apply, "death"). A broker that publishes
   * the will on a takeover makes a single one look like a short disconnect: only repeated connects show.
   */
  private watchConnect(device: string, stream: number, session: number, now: number): void {
    const previous = this.connections.get(device);
    const window = this.options.takeoverWindowMs ?? 60_000;
    const connects = previous && previous.stream === stream ? previous.connects.filter((at) => now - at < window) : [];
    connects.push(now);
    this.connections.set(device, { stream, session, at: now, ended: false, connects });
    if (!previous || previous.stream !== stream || session <= previous.session) return;
    const explained = this.lastBrokerDrop >= previous.at;
    if (!previous.ended && !explained) {
      this.takeover(
        device,
        `session ${session} replaced session ${previous.session} of the same boot, whose connection ended without its will: the broker handed the device's client id to a new connection. Another client connected with it (and the device took it back), or the device lost its link and reconnected before the broker noticed.`,
      );
    }
    const limit = this.options.takeoverConnects ?? 3;
    if (connects.length >= limit && !explained) {
      this.takeover(device, `${connects.length} connects of the same boot within ${Math.round(window / 1000)} s (now session ${session}): clients are taking the device's client id from each other.`);
      connects.length = 0;
    }
  }

  private takeover(device: string, detail: string): void {
    this.lastTakeover.set(device, Date.now());
    this.directEvent(device, "session-takeover", detail);
  }

  private recordGaps(reports: GapReport[]): void {
    for (const r of reports) {
      const total = r.missing.count + r.dropped.count;
      if (r.dropped.count > 0) {
        const what =
          r.reason === "reported-late"
            ? `${r.dropped.count} publication(s) recorded as missing before (stream ${r.stream}, index ${describeRanges(r.dropped.ranges, r.dropped.count)})`
            : `${r.dropped.count} of ${total} publication(s) not received (stream ${r.stream}, index ${describeRanges(r.dropped.ranges, r.dropped.count)})`;
        this.directEvent(r.device, "publications-dropped", `${what} were dropped by the device's own offline queue, as its birth reports`);
      }
      if (r.missing.count > 0) {
        this.lastMissing.set(r.device, Date.now());
        const why = r.reason === "restarted" ? "the device restarted before they arrived" : `overdue by more than ${this.options.gapGraceMs ?? 10_000} ms`;
        this.directEvent(
          r.device,
          "publications-missing",
          `${r.missing.count} of ${total} publication(s) never arrived (stream ${r.stream}, index ${describeRanges(r.missing.ranges, r.missing.count)}; ${why}): lost between the device and this server (a broker queue or size limit, or this server's ingest queue)`,
        );
      }
    }
  }

  private saveStreams(): void {
    for (const device of this.gaps.takeChanged()) {
      const state = this.gaps.state(device);
      if (state) this.store.saveStream(device, state);
      else this.store.deleteStream(device);
    }
  }

  private reloadStreams(): void {
    this.gaps.takeChanged();
    const now = Date.now();
    for (const { device, state } of this.store.streamStates()) if (isStreamState(state)) this.gaps.restore(device, state, now);
  }

  private directEventOutside(device: string, code: ErrorCode, detail: string): void {
    this.inTransaction(() => this.directEvent(device, code, detail));
  }

  /** What the ingest queue could not hold, as one event per device since the last time. */
  private recordDrops(): void {
    const drops = this.queue.takeDrops();
    if (drops.size === 0) return;
    this.inTransaction(() => {
      for (const [key, d] of drops) {
        const whose = key === "" ? "for unregistered devices" : `for ${key}`;
        this.directEvent(key, "ingest-dropped", `${d.count} message(s) ${whose} (${d.bytes} bytes, e.g. on ${d.topic}) dropped: the server's ingest queue was full`);
      }
    });
  }

  /** Every second: overdue publications, ingest drops, suppressed event counts. */
  private sweep(): void {
    if (this.stopped) return;
    this.recordDrops();
    const reports = this.gaps.sweep(Date.now());
    this.inTransaction(() => {
      this.recordGaps(reports);
      for (const [key, limiter] of this.limiters) {
        this.eventContext = { device: key, detail: "server events suppressed by the rate limit since the last one (count in suppressed)" };
        try {
          limiter.flushSuppressed({ code: "events-suppressed", allowed: false, principal: "unknown" });
        } finally {
          this.eventContext = undefined;
        }
      }
      this.saveStreams();
    });
  }
}

function serverEventRow(device: string, code: string, detail: string, suppressed: number, door: string | null, op: string | null, principal: string | null): NewEvent {
  return {
    receivedAt: Date.now(),
    device,
    source: "server",
    code,
    allowed: false,
    principal,
    door,
    op,
    deviceTime: null,
    uptime: null,
    suppressed,
    seq: null,
    detail,
  };
}
