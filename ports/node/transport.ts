// The transport port on Node: an MQTT 3.1.1 client connection built from mqtt-packet over a TCP socket
// (mqtt://, default port 1883) or a TLS socket (mqtts://, default port 8883). Host side only (simulator,
// server-side devices, tests); the device uses ports/moddable.
//
// Contract (sdk/ports/transport.ts), as this port keeps it:
// - open() never calls a handler before it returns. Exactly one onConnected or onClosed follows; after
//   onConnected, exactly one onClosed. Every way a connection ends (socket error, broker closing, connect
//   timeout, keep-alive timeout, refused TLS or CONNACK or SUBACK, protocol error, oversized packet, close()) goes
//   through one guarded path, so onClosed runs once per open. The reason says what happened in words: a
//   refused TLS connection is "tls-refused <why> (<code>)" (the broker's certificate expired, is for another
//   host, is not from the configured CA; or the broker refused ours), a refused login "connack-refused 4
//   (bad username or password)". close() calls onClosed("closed by device")
//   before it returns. An open() while a connection is still up ends that one first (its handlers get
//   onClosed("replaced by a new open")).
// - publish() and subscribe() never throw: while not connected they do nothing (the session layer resends
//   after the next CONNACK); a packet mqtt-packet cannot encode (e.g. a bad topic) ends the connection with
//   onClosed("encode-failed ..."), as a broker would on receiving it.
// - Socket errors never escape as exceptions. Exceptions thrown by the handlers are the caller's: one from
//   onConnected, onMessage or onAcknowledged ends the connection with onClosed("handler-failed ...") (an
//   incoming QoS 1 message whose handler threw is not acknowledged, so the broker delivers it again on a
//   persistent session); one from onClosed propagates. A graceful close() from inside onMessage still
//   acknowledges that message (PUBACK, then DISCONNECT).
// - Keep-alive: a PINGREQ every 0.75 x keepAlive whatever else is sent (so the broker always has
//   something to answer), and the connection is dropped with "keepalive-timeout" when nothing at all has
//   arrived for 1.5 x keepAlive. keepAlive 0 turns both off (MQTT's meaning of 0).
// - Memory: incoming bytes are framed here (fixed header + remaining length) before mqtt-packet's parser
//   sees them, and a packet over MAX_INCOMING_PACKET bytes (whole packet, header included) ends the
//   connection with "packet-too-large" as soon as its length is known, before its body is buffered.
// - Timers are Node's own, ref'd while a connection is up (the socket keeps the process alive anyway);
//   all are cleared when the connection ends.

import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect, type ConnectionOptions } from "node:tls";
import { generate, parser as createParser, type Packet, type Parser } from "mqtt-packet";
import type { MqttConnectOptions, QoS, TransportHandlers, TransportPort } from "../../sdk/ports/transport";
import { fail } from "../../sdk/errors";

/** The largest incoming MQTT packet accepted, in bytes (fixed header included). */
export const MAX_INCOMING_PACKET = 256 * 1024;
/** An oversized PUBLISH is skipped only when its topic is at most this long (ours are short). */
const MAX_SKIPPED_TOPIC = 1024;
/** Default time allowed from open() to CONNACK (TCP connect, TLS handshake and CONNECT/CONNACK). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** After a graceful close, the socket is destroyed if the broker has not closed its side by then. */
const GRACEFUL_END_MS = 2_000;

const PROTOCOL = { protocolVersion: 4 } as const;

export interface NodeMqttTransportOptions {
  /** The broker: mqtt://host[:port] (default port 1883) or mqtts://host[:port] (8883). */
  url: string;
  /** From open() to CONNACK, in ms (default 10 s). */
  connectTimeoutMs?: number;
  /** Extra options for mqtts:// (ca, cert, key, rejectUnauthorized, servername, ...). */
  tls?: ConnectionOptions;
}

interface Endpoint {
  readonly secure: boolean;
  readonly host: string;
  readonly port: number;
}

function parseUrl(url: string): Endpoint {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    fail("transport-url", `not a URL: "${url}"`);
  }
  const secure = parsed.protocol === "mqtts:";
  if (!secure && parsed.protocol !== "mqtt:") fail("transport-url", `unsupported scheme "${parsed.protocol}" in "${url}" (use mqtt:// or mqtts://)`);
  const host = parsed.hostname.startsWith("[") && parsed.hostname.endsWith("]") ? parsed.hostname.slice(1, -1) : parsed.hostname;
  if (host.length === 0) fail("transport-url", `no host in "${url}"`);
  const port = parsed.port === "" ? (secure ? 8883 : 1883) : Number(parsed.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail("transport-url", `bad port in "${url}"`);
  return { secure, host, port };
}

/** Why a TLS connection was refused, in words, for the certificate checks people meet most. */
const TLS_REASONS: Record<string, string> = {
  CERT_HAS_EXPIRED: "the broker's certificate has expired",
  CERT_NOT_YET_VALID: "the broker's certificate is not valid yet (or this machine's clock is wrong)",
  ERR_TLS_CERT_ALTNAME_INVALID: "the broker's certificate is not for this host name or address",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the broker's certificate is self-signed, not issued by the CA configured here",
  SELF_SIGNED_CERT_IN_CHAIN: "the broker's certificate chains to a CA other than the one configured here",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the broker's certificate is not issued by the CA configured here",
  UNABLE_TO_GET_ISSUER_CERT: "the broker's certificate is not issued by the CA configured here",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the broker's certificate is not issued by the CA configured here",
  CERT_SIGNATURE_FAILURE: "the broker's certificate signature does not verify",
  CERT_REVOKED: "the broker's certificate is revoked",
  CERT_UNTRUSTED: "the broker's certificate is not trusted",
};

/**
 * A refused TLS connection explained ("<why> (<code>)"), or undefined when `e` is no TLS refusal: a
 * certificate this side does not accept, or a handshake the broker refused (its alert: a client
 * certificate it does not accept, say).
 */
export function tlsRefusal(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== "string") return undefined;
  const why = TLS_REASONS[code];
  if (why !== undefined) return `${why} (${code})`;
  // The broker's alert is in the code itself (ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: "certificate
  // required"); OpenSSL's message around it names source files and differs between versions.
  const alert = /^ERR_SSL_[A-Z0-9]*_ALERT_([A-Z0-9_]+)$/.exec(code);
  if (alert) return `the broker refused the TLS handshake: ${alert[1].toLowerCase().replace(/_/g, " ")} (${code})`;
  if (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_")) return `TLS failed: ${String((e as Error).message).split("\n")[0]} (${code})`;
  return undefined;
}

/** MQTT 3.1.1 CONNACK refusals in words. */
export const CONNACK_REFUSALS: Readonly<Record<number, string>> = {
  1: "unacceptable protocol version",
  2: "client id refused",
  3: "server unavailable",
  4: "bad username or password",
  5: "not authorized",
};

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function describe(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    return code ? `${code} ${e.message}` : e.message;
  }
  return String(e);
}

/** One open(): its socket, parser, timers and handlers. Nothing of it is reused by the next open(). */
class Link {
  connected = false;
  closed = false;
  /** Undefined when the connection failed before a socket existed. */
  private socket: Socket | undefined;
  private readonly parser: Parser;
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Size of the packet being received, once its fixed header is complete; 0 before. */
  private frameSize = 0;
  private corked = false;
  /** Bytes of an oversized PUBLISH still to be read past, and what to do once they are. */
  private skip: { left: number; topic: string; packetId: number | undefined; size: number } | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private watchdog: ReturnType<typeof setTimeout> | undefined;
  private lastReceived = 0;
  private readonly keepAliveMs: number;
  /** The packet id of the QoS 1 message whose onMessage is running (a close from inside it still acknowledges it). */
  private ackDue: number | undefined;

  constructor(
    endpoint: Endpoint,
    options: NodeMqttTransportOptions,
    connectPacket: Buffer | string,
    private readonly handlers: TransportHandlers,
    keepAlive: number,
  ) {
    this.keepAliveMs = keepAlive * 1000;
    this.parser = createParser(PROTOCOL);
    this.parser.on("packet", (packet: Packet) => this.packet(packet));
    this.parser.on("error", (e: unknown) => this.closeWith(`protocol-error ${describe(e)}`));

    // A failure before any socket exists is reported once open() has returned (a string: the reason).
    if (typeof connectPacket === "string") {
      setImmediate(() => this.closeWith(connectPacket));
      return;
    }
    const timeout = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.connectTimer = setTimeout(() => this.closeWith(`connect-timeout after ${timeout} ms`), timeout);
    let socket: Socket;
    try {
      // Throws synchronously on some bad options (e.g. an unreadable TLS key).
      socket = endpoint.secure
        ? tlsConnect({
            host: endpoint.host,
            port: endpoint.port,
            ...(isIP(endpoint.host) === 0 ? { servername: endpoint.host } : {}),
            ...options.tls,
          })
        : netConnect({ host: endpoint.host, port: endpoint.port });
    } catch (e) {
      const reason = `socket-error ${describe(e)}`;
      setImmediate(() => this.closeWith(reason));
      return;
    }
    this.socket = socket;
    // The error listener stays for the socket's whole life: an error after the link is closed is swallowed.
    socket.on("error", (e) => {
      const refusal = tlsRefusal(e);
      this.closeWith(refusal ? `tls-refused ${refusal}` : `socket-error ${describe(e)}`);
    });
    socket.on("end", () => this.closeWith("closed by broker"));
    socket.on("close", () => this.closeWith("connection closed"));
    socket.on("data", (chunk: Buffer) => this.data(chunk));
    socket.setNoDelay(true);
    // Written before the connection is up: net and tls sockets hold writes until it is (TLS: until the
    // handshake completes), so CONNECT is the first thing on the wire.
    socket.write(connectPacket);
  }

  /** Sends a packet; a packet mqtt-packet refuses ends the connection. Never throws. */
  send(packet: Packet): void {
    if (this.closed) return;
    let bytes: Buffer;
    try {
      bytes = generate(packet, PROTOCOL);
    } catch (e) {
      this.closeWith(`encode-failed ${packet.cmd}: ${describe(e)}`);
      return;
    }
    this.write(bytes);
  }

  private write(bytes: Buffer): void {
    const socket = this.socket;
    if (this.closed || !socket || socket.destroyed || !socket.writable) return;
    // Packets written in the same tick (a command's PUBACK and its result, a burst of queued
    // publications) leave in one system call: the socket is corked until the tick ends.
    if (!this.corked) {
      this.corked = true;
      socket.cork();
      process.nextTick(() => {
        this.corked = false;
        socket.uncork();
      });
    }
    socket.write(bytes);
  }

  close(graceful: boolean): void {
    if (this.closed) return;
    if (graceful && this.connected) {
      if (this.ackDue !== undefined) this.write(generate({ cmd: "puback", messageId: this.ackDue }, PROTOCOL));
      this.write(generate({ cmd: "disconnect" }, PROTOCOL));
      this.closeWith("closed by device", true);
    } else {
      this.closeWith("closed by device");
    }
  }

  /** The one way a link ends. */
  closeWith(reason: string, graceful = false): void {
    if (this.closed) return;
    this.closed = true;
    this.connected = false;
    clearTimeout(this.connectTimer);
    clearInterval(this.pingTimer);
    clearTimeout(this.watchdog);
    this.chunks = [];
    this.buffered = 0;
    this.parser.removeAllListeners("packet");
    const socket = this.socket;
    if (socket && graceful && !socket.destroyed) {
      // end() flushes what was written (a last PUBLISH, then DISCONNECT) before the FIN.
      socket.end();
      setTimeout(() => socket.destroy(), GRACEFUL_END_MS).unref();
    } else {
      socket?.destroy();
    }
    this.handlers.onClosed(reason);
  }

  private data(chunk: Buffer): void {
    if (this.closed) return;
    this.lastReceived = performance.now();
    if (this.skip) {
      const taken = Math.min(this.skip.left, chunk.length);
      this.skip.left -= taken;
      chunk = chunk.subarray(taken);
      if (this.skip.left > 0) return;
      this.skipped();
      if (chunk.length === 0) return;
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (!this.closed) {
      if (this.frameSize === 0) {
        const size = this.headerSize();
        if (size === undefined) return; // header incomplete
        if (size < 0) {
          this.closeWith("protocol-error malformed remaining length");
          return;
        }
        if (size > MAX_INCOMING_PACKET) {
          // An oversized PUBLISH is read past, not buffered, and acknowledged: closing instead would
          // make the broker redeliver it on every reconnect and wedge everything queued behind it.
          if (!this.startSkip(size)) return;
          continue;
        }
        this.frameSize = size;
      }
      if (this.buffered < this.frameSize) return;
      const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
      const frame = all.subarray(0, this.frameSize);
      const rest = all.subarray(this.frameSize);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.buffered = rest.length;
      this.frameSize = 0;
      this.parser.parse(frame); // emits "packet" (or "error") synchronously
    }
  }

  /**
   * Begins skipping an oversized packet once its topic and packet id are buffered. Returns false while
   * more bytes are needed (or the connection was closed: anything but a PUBLISH, or a huge topic).
   */
  private startSkip(size: number): boolean {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
    this.chunks = [all];
    const first = all[0];
    if (first >> 4 !== 3) {
      this.closeWith(`packet-too-large ${size} bytes (limit ${MAX_INCOMING_PACKET})`);
      return false;
    }
    const qos = (first >> 1) & 3;
    let headerLength = 2;
    while (all[headerLength - 1] & 0x80) headerLength++;
    if (all.length < headerLength + 2) return false;
    const topicLength = all.readUInt16BE(headerLength);
    if (topicLength > MAX_SKIPPED_TOPIC) {
      this.closeWith(`packet-too-large ${size} bytes with a topic of ${topicLength} bytes`);
      return false;
    }
    const needed = headerLength + 2 + topicLength + (qos > 0 ? 2 : 0);
    if (all.length < needed) return false;
    const topic = all.toString("utf8", headerLength + 2, headerLength + 2 + topicLength);
    const packetId = qos > 0 ? all.readUInt16BE(headerLength + 2 + topicLength) : undefined;
    const inBuffer = Math.min(size, all.length);
    const rest = all.subarray(inBuffer);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    this.skip = { left: size - inBuffer, topic, packetId, size };
    if (this.skip.left === 0) this.skipped();
    return true;
  }

  private skipped(): void {
    const { topic, packetId, size } = this.skip!;
    this.skip = undefined;
    if (packetId !== undefined) this.send({ cmd: "puback", messageId: packetId });
    this.call("onOversized", () => this.handlers.onOversized?.(topic, size));
  }

  /** Size of the next packet from its fixed header; undefined while incomplete, -1 when malformed. */
  private headerSize(): number | undefined {
    let remaining = 0;
    let multiplier = 1;
    let position = 0; // over all buffered chunks; byte 0 is the packet type and flags
    for (const chunk of this.chunks) {
      for (let i = 0; i < chunk.length; i++, position++) {
        if (position === 0) continue;
        const byte = chunk[i];
        remaining += (byte & 0x7f) * multiplier;
        if ((byte & 0x80) === 0) return 1 + position + remaining;
        if (position === 4) return -1; // at most four length bytes
        multiplier *= 128;
      }
    }
    return undefined;
  }

  private packet(packet: Packet): void {
    if (this.closed) return;
    if (!this.connected) {
      if (packet.cmd !== "connack") {
        this.closeWith(`protocol-error ${packet.cmd} before CONNACK`);
        return;
      }
      const code = packet.returnCode ?? 0;
      if (code !== 0) {
        this.closeWith(`connack-refused ${code}${CONNACK_REFUSALS[code] ? ` (${CONNACK_REFUSALS[code]})` : ""}`);
        return;
      }
      this.connected = true;
      clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
      this.startKeepAlive();
      this.call("onConnected", () => this.handlers.onConnected(packet.sessionPresent));
      return;
    }
    switch (packet.cmd) {
      case "publish": {
        if (packet.qos !== 0 && packet.qos !== 1) {
          this.closeWith(`protocol-error publish with QoS ${packet.qos}`);
          return;
        }
        const body = packet.payload;
        const payload = typeof body === "string" ? new TextEncoder().encode(body) : new Uint8Array(body); // a copy, not a view of the frame
        const qos: QoS = packet.qos;
        this.ackDue = qos === 1 ? packet.messageId : undefined;
        const returned = this.call("onMessage", () => this.handlers.onMessage(packet.topic, payload, qos, packet.dup));
        this.ackDue = undefined;
        if (returned && qos === 1 && packet.messageId !== undefined) this.send({ cmd: "puback", messageId: packet.messageId });
        return;
      }
      case "puback":
        if (packet.messageId !== undefined) {
          const id = packet.messageId;
          this.call("onAcknowledged", () => this.handlers.onAcknowledged(id));
        }
        return;
      case "suback":
        if ((packet.granted as unknown[]).some((g) => typeof g === "number" && g >= 0x80)) this.closeWith("subscribe-refused");
        return;
      case "pingresp":
      case "unsuback":
        return;
      default:
        this.closeWith(`protocol-error unexpected ${packet.cmd}`);
    }
  }

  /** Runs a handler; if it throws, the connection ends. Returns whether it returned normally. */
  private call(name: string, run: () => void): boolean {
    try {
      run();
      return true;
    } catch (e) {
      this.closeWith(`handler-failed ${name}: ${describe(e)}`);
      return false;
    }
  }

  private startKeepAlive(): void {
    if (this.keepAliveMs <= 0 || this.closed) return;
    this.pingTimer = setInterval(() => this.send({ cmd: "pingreq" }), Math.max(1, Math.floor(this.keepAliveMs * 0.75)));
    const limit = this.keepAliveMs * 1.5;
    this.lastReceived = performance.now();
    const check = (): void => {
      if (this.closed) return;
      const silent = performance.now() - this.lastReceived;
      if (silent >= limit) this.closeWith(`keepalive-timeout no packet for ${Math.round(silent)} ms`);
      else this.watchdog = setTimeout(check, Math.ceil(limit - silent));
    };
    this.watchdog = setTimeout(check, limit);
  }
}

export class NodeMqttTransport implements TransportPort {
  private readonly endpoint: Endpoint;
  private link: Link | undefined;

  /** Throws GatehouseError "transport-url" for a URL other than mqtt://host[:port] or mqtts://host[:port]. */
  constructor(private readonly options: NodeMqttTransportOptions) {
    this.endpoint = parseUrl(options.url);
  }

  /** True between CONNACK and the end of the connection. */
  get connected(): boolean {
    return this.link?.connected ?? false;
  }

  open(options: MqttConnectOptions, handlers: TransportHandlers): void {
    const previous = this.link;
    this.link = undefined;
    previous?.closeWith("replaced by a new open");

    let connectPacket: Buffer | string;
    try {
      connectPacket = generate(
        {
          cmd: "connect",
          protocolId: "MQTT",
          protocolVersion: 4,
          clientId: options.clientId,
          keepalive: options.keepAlive,
          clean: options.cleanSession,
          ...(options.will
            ? { will: { topic: options.will.topic, payload: toBuffer(options.will.payload), qos: options.will.qos, retain: options.will.retain } }
            : {}),
          ...(options.username !== undefined ? { username: options.username } : {}),
          ...(options.password !== undefined ? { password: toBuffer(options.password) } : {}),
        },
        PROTOCOL,
      );
    } catch (e) {
      // Bad options (an empty client id with a persistent session, a keep-alive over 65535, ...): no
      // connection is made, and onClosed follows once open() has returned.
      connectPacket = `connect-invalid ${describe(e)}`;
    }
    this.link = new Link(this.endpoint, this.options, connectPacket, handlers, options.keepAlive);
  }

  publish(topic: string, payload: Uint8Array, qos: QoS, retain: boolean, packetId: number, duplicate: boolean): void {
    const link = this.link;
    if (!link?.connected) return;
    link.send({
      cmd: "publish",
      topic,
      payload: toBuffer(payload),
      qos,
      retain,
      dup: qos === 1 && duplicate,
      ...(qos === 1 ? { messageId: packetId } : {}),
    });
  }

  subscribe(filters: readonly string[], qos: QoS, packetId: number): void {
    const link = this.link;
    if (!link?.connected) return;
    link.send({ cmd: "subscribe", messageId: packetId, subscriptions: filters.map((topic) => ({ topic, qos })) });
  }

  close(graceful: boolean): void {
    const link = this.link;
    this.link = undefined;
    link?.close(graceful);
  }
}
