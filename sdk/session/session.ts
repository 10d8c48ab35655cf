// The device's MQTT session (docs/protocol.md section 6): connect with the death message as will,
// subscribe to commands, publish the birth, then deliver queued publications at QoS 1 until the broker
// acknowledges each. While offline, publications wait in a bounded queue; the oldest is dropped and
// counted when it is full. Reconnects back off exponentially with full jitter.

import { PUBLICATIONS, type PublicationKind } from "./publications";
import type { TimerHandle, TimerPort } from "../ports/timer";
import type { TransportPort } from "../ports/transport";

export type SessionState = "stopped" | "connecting" | "online" | "waiting";

/** What a device may tune of its session (DeviceOptions.session): every setting has a default. */
export interface SessionSettings {
  /** The first topic level (default "gh"). */
  topicPrefix?: string;
  /** Seconds (default 30). */
  keepAlive?: number;
  /** First retry delay bound in ms (default 500); doubles per attempt up to backoffMaxMs (default 30 s). */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** How long a connection must last before the backoff starts again from its first step (default 10 s). */
  stableAfterMs?: number;
  /** Publications kept while offline or unacknowledged (default 64). */
  queueLimit?: number;
  /** QoS 1 publications on the wire at once (default 16). */
  maxInFlight?: number;
  /** A number in [0, 1) for jitter (default Math.random; not security-relevant). */
  random?: () => number;
  /** MQTT credentials, if the broker wants them. */
  username?: string;
  password?: Uint8Array;
  /** Told of every state change ("online", "waiting", ...), with a line saying why. */
  onStateChange?(state: SessionState, detail: string): void;
}

export interface SessionOptions extends SessionSettings {
  deviceId: string;
  transport: TransportPort;
  timers: TimerPort;
  /** The topic filters to subscribe to on each connect, under <prefix>/<device>/ (e.g. "cmd/+"). */
  subscriptions(): readonly string[];
  /** Builds the signed death (the will) and birth of a new connection. */
  prepareConnection(): { death: Uint8Array; birth: Uint8Array };
  /** A message on a subscribed topic; `topic` is the part after <prefix>/<device>/ ("cmd/setpoint"). */
  onMessage(topic: string, message: Uint8Array): void;
  /** A message too large for the transport was skipped (and acknowledged, so it is not redelivered). */
  onOversized?(topic: string, size: number): void;
  /** The queue dropped its oldest publication; `tag` is what publish() was given with it. */
  onDropped?(kind: PublicationKind, tag: number): void;
}

interface Queued {
  readonly kind: PublicationKind;
  readonly payload: Uint8Array;
  /** The caller's number for it (the device's publication index), handed back when it is dropped. */
  readonly tag: number;
  /** 0 until first sent; then kept, so a resend after reconnect reuses it with DUP set. */
  packetId: number;
  sentOnThisConnection: boolean;
}

export class DeviceSession {
  state: SessionState = "stopped";
  /** Connections made since start. */
  connects = 0;
  private readonly o: Required<Omit<SessionOptions, "username" | "password" | "onDropped" | "onStateChange" | "onOversized">> & SessionOptions;
  private readonly queue: Queued[] = [];
  private attempt = 0;
  private nextPacketId = 1;
  private retryTimer: TimerHandle | undefined;
  private stableTimer: TimerHandle | undefined;
  private death: Uint8Array | undefined;
  private readonly topicBase: string;

  constructor(options: SessionOptions) {
    this.o = {
      ...options,
      topicPrefix: options.topicPrefix ?? "gh",
      keepAlive: options.keepAlive ?? 30,
      backoffInitialMs: options.backoffInitialMs ?? 500,
      backoffMaxMs: options.backoffMaxMs ?? 30000,
      stableAfterMs: options.stableAfterMs ?? 10000,
      queueLimit: options.queueLimit ?? 64,
      maxInFlight: options.maxInFlight ?? 16,
      random: options.random ?? Math.random,
    };
    this.topicBase = `${this.o.topicPrefix}/${options.deviceId}/`;
  }

  topic(kind: PublicationKind): string {
    return this.topicBase + PUBLICATIONS[kind].topic;
  }

  start(): void {
    if (this.state !== "stopped") return;
    this.connect();
  }

  /** Stops the session. `graceful`: publish the death and DISCONNECT; otherwise drop the link (the broker sends the will). */
  stop(graceful = true): void {
    const wasOnline = this.state === "online";
    this.setState("stopped", "stopped by the device");
    if (this.retryTimer !== undefined) this.o.timers.clear(this.retryTimer);
    this.retryTimer = undefined;
    if (this.stableTimer !== undefined) this.o.timers.clear(this.stableTimer);
    this.stableTimer = undefined;
    if (wasOnline && graceful && this.death) this.o.transport.publish(this.topic("death"), this.death, 1, true, this.allocatePacketId(), false);
    this.o.transport.close(graceful);
  }

  /** Queues a signed publication; it is sent now when online, else when the session comes back. */
  publish(kind: PublicationKind, payload: Uint8Array, tag = 0): void {
    if (this.queue.length >= this.o.queueLimit) {
      const dropped = this.queue.shift() as Queued;
      this.o.onDropped?.(dropped.kind, dropped.tag);
    }
    this.queue.push({ kind, payload, tag, packetId: 0, sentOnThisConnection: false });
    if (this.state === "online") this.flush();
  }

  /** Publications waiting for the broker's acknowledgement or for a connection. */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Sends a message that is not a publication (unsigned, QoS 0, not queued) on <prefix>/<device>/`topic`,
   * when online: a device service's request whose answer is checked otherwise (protocol section 8).
   * False when offline: nothing is sent, nothing kept.
   */
  send(topic: string, payload: Uint8Array): boolean {
    if (this.state !== "online") return false;
    this.o.transport.publish(this.topicBase + topic, payload, 0, false, 0, false);
    return true;
  }

  private setState(state: SessionState, detail: string): void {
    this.state = state;
    this.o.onStateChange?.(state, detail);
  }

  private connect(): void {
    this.retryTimer = undefined;
    this.setState("connecting", `attempt ${this.attempt + 1}`);
    const { death, birth } = this.o.prepareConnection();
    this.death = death;
    this.o.transport.open(
      {
        clientId: this.o.deviceId,
        keepAlive: this.o.keepAlive,
        cleanSession: false,
        will: { topic: this.topic("death"), payload: death, qos: 1, retain: true },
        username: this.o.username,
        password: this.o.password,
      },
      {
        onConnected: () => this.connected(birth),
        onMessage: (topic, payload) => this.message(topic, payload),
        onOversized: (topic, size) => {
          const own = this.ownTopic(topic);
          if (own !== undefined) this.o.onOversized?.(own, size);
        },
        onAcknowledged: (packetId) => this.acknowledged(packetId),
        onClosed: (reason) => this.closed(reason),
      },
    );
  }

  private connected(birth: Uint8Array): void {
    if (this.state !== "connecting") return;
    // The backoff restarts only once the connection proves stable: a broker that accepts and then drops
    // the device at once (a poisoned message, an ACL) must not make it reconnect in a tight loop.
    this.stableTimer = this.o.timers.set(() => {
      this.stableTimer = undefined;
      this.attempt = 0;
    }, this.o.stableAfterMs);
    this.connects++;
    // The birth goes first; then everything queued, in order (a publish made from the state callback
    // below joins the queue behind them).
    const t = this.o.transport;
    t.subscribe(
      this.o.subscriptions().map((filter) => this.topicBase + filter),
      1,
      this.allocatePacketId(),
    );
    t.publish(this.topic("birth"), birth, 1, true, this.allocatePacketId(), false);
    for (const item of this.queue) item.sentOnThisConnection = false;
    this.setState("online", "connected");
    this.flush();
  }

  private flush(): void {
    let inFlight = 0;
    for (const item of this.queue) {
      if (inFlight >= this.o.maxInFlight) return;
      if (!item.sentOnThisConnection) {
        const duplicate = item.packetId !== 0;
        if (!duplicate) item.packetId = this.allocatePacketId();
        item.sentOnThisConnection = true;
        this.o.transport.publish(this.topic(item.kind), item.payload, 1, false, item.packetId, duplicate);
      }
      inFlight++;
    }
  }

  private acknowledged(packetId: number): void {
    for (let i = 0; i < this.queue.length; i++) {
      if (this.queue[i].packetId === packetId && this.queue[i].sentOnThisConnection) {
        this.queue.splice(i, 1);
        this.flush();
        return;
      }
    }
  }

  private message(topic: string, payload: Uint8Array): void {
    const own = this.ownTopic(topic);
    if (own !== undefined) this.o.onMessage(own, payload);
  }

  /** The part of `topic` after <prefix>/<device>/, or undefined for a topic that is not the device's. */
  private ownTopic(topic: string): string | undefined {
    return topic.startsWith(this.topicBase) ? topic.slice(this.topicBase.length) : undefined;
  }

  private closed(reason: string): void {
    if (this.stableTimer !== undefined) this.o.timers.clear(this.stableTimer);
    this.stableTimer = undefined;
    if (this.state === "stopped") return;
    const bound = Math.min(this.o.backoffMaxMs, this.o.backoffInitialMs * 2 ** Math.min(this.attempt, 16));
    const delay = Math.floor(this.o.random() * bound);
    this.attempt++;
    this.setState("waiting", `${reason}; retry in ${delay} ms`);
    this.retryTimer = this.o.timers.set(() => this.connect(), delay);
  }

  private allocatePacketId(): number {
    for (;;) {
      const id = this.nextPacketId;
      this.nextPacketId = id === 65535 ? 1 : id + 1;
      if (!this.queue.some((q) => q.packetId === id)) return id;
    }
  }
}
