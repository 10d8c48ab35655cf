// The transport port on Moddable: the SDK's TransportPort over Moddable's ECMA-419 MQTT client
// (`embedded:network/mqtt/client`, in $(MODDABLE)/examples/io/tcp/mqttclient). Device code.
//
// Why this client and not the legacy `mqtt` module: the protocol needs QoS 1 both ways and a persistent
// session (clean session false, docs/protocol.md section 6); the legacy client always sets clean session
// and ignores PUBACKs. The ECMA-419 client lives in Moddable's examples, not its modules: the app manifest
// includes $(MODDABLE)/examples/io/tcp/mqttclient/manifest_mqttclient.json, whose preloaded config
// defines `device.network.mqtt = {io, dns, socket}`, which is passed here.
//
// The QoS 1 bookkeeping (packet ids, what is unacknowledged, resending with DUP after a reconnect) stays in
// the SDK's session; this port only moves packets. What the client does and does not do, and how the port
// copes:
// - Incoming QoS 1 messages: the client queues the PUBACK when their last byte has been read and sends it
//   from a timer, so after onMessage (which runs the command synchronously) has returned.
// - It reports a failed connection, a refused CONNACK, a keep-alive timeout and a dropped socket alike
//   through onError, then closes itself: each becomes onClosed. It reads CONNACK's session-present flag
//   but does not pass it on (reported as false; the session resends what is unacknowledged anyway).
// - write() throws when the socket has no room for the packet, and the socket's room on lin is smaller than
//   a birth message. Packets wait here, in order, and go out as room allows (the client reports it with
//   onWritable and from each write): a publication larger than the room goes out in pieces, the client's
//   own streaming (the first write names the whole byteLength). They are the session's buffers, not copies.
// - Payloads may arrive in fragments (`more`): they are gathered up to MAX_INCOMING bytes; a larger one
//   is read, dropped and reported (onOversized); the client acknowledges it, so it is not redelivered.
// - Will and password go to the client as ArrayBuffers: it takes anything else for a string.
// - TLS (mqtts): the same client over Moddable's TLS socket (`device.network.mqtts` from
//   $(MODDABLE)/examples/io/tcp/mqttsclient/manifest_mqttsclient.json, with the CA and client certificate as
//   `secure` options of its socket). Moddable's TLS verifies the broker's chain to the CA, its validity and
//   the host name or IPv4 address in its subjectAltName, and needs the broker to send its chain: the
//   certificate and the CA's (gatehouse ca issue writes both into NAME.pem). The handshake blocks the XS
//   thread (seconds on an ESP32).
// - A refused TLS handshake (a certificate from another CA, say) is thrown by Moddable's TLS socket from
//   inside its TCP socket's callback, where nothing catches it: XS aborts, and an ESP32 reboots. So the
//   TCP socket under the TLS socket is wrapped (GuardedTcp): an exception in its callbacks closes it and
//   becomes the TLS socket's onError, and this port reports "tls-refused <the TLS stack's message>".

import type { MqttConnectOptions, QoS, TransportHandlers, TransportPort } from "gatehouse/sdk";

/** Commands are at most 8 KiB (sdk/command/envelope COMMAND_LIMITS); anything above this is dropped. */
export const MAX_INCOMING = 16 * 1024;

interface ControlMessage {
  operation: number;
  id?: number;
}

interface ReadableInfo {
  topic?: string;
  QoS?: number;
  byteLength?: number;
  more: boolean;
}

/** The parts of the ECMA-419 MQTT client used here. */
export interface MqttClientIO {
  write(data: ArrayBuffer | Uint8Array | null, options?: object): number;
  read(count: number): ArrayBuffer | undefined;
  close(): void;
}

export interface MqttClientClass {
  new (options: object): MqttClientIO;
  readonly CONNACK: number;
  readonly PUBACK: number;
  readonly SUBSCRIBE: number;
  readonly DISCONNECT: number;
}

/** `device.network.mqtt` as manifest_mqttclient.json's config defines it (and `device.network.mqtts`, mqttsclient's). */
export interface NetworkMqtt {
  readonly io: MqttClientClass;
  readonly dns: unknown;
  readonly socket: object;
}

/** Moddable's TLS options (its SecureSocket / TLS session `secure`), all DER. */
export interface MqttTlsOptions {
  /** The CA the broker's certificate must chain to. */
  readonly certificate: ArrayBuffer;
  /** A client certificate and its PKCS#8 private key (Moddable signs with RSA keys only). */
  readonly clientCertificates?: readonly ArrayBuffer[];
  readonly clientKey?: ArrayBuffer;
}

/** The parts of an ECMA-419 TCP socket the TLS socket uses; its callbacks are given in the options. */
interface TcpSocket {
  read(count?: unknown): unknown;
  write(data: unknown, options?: unknown): number;
  close(): void;
  format: string;
}

type TcpClass = new (options: { onReadable?: (count: number) => void; onWritable?: (count: number) => void; onError?: () => void }) => TcpSocket;

/**
 * A TCP socket class whose callbacks never throw out: an exception in one (the TLS socket's handshake
 * refusing a certificate) closes the socket, goes to `failed`, and then to the socket's onError.
 */
function guardedTcp(Tcp: TcpClass, failed: (error: unknown) => void): TcpClass {
  return class GuardedTcp implements TcpSocket {
    private readonly socket: TcpSocket;
    private closed = false;
    constructor(options: ConstructorParameters<TcpClass>[0]) {
      const guard = (callback: ((count: number) => void) | undefined) =>
        callback &&
        ((count: number) => {
          if (this.closed) return;
          try {
            callback(count);
          } catch (e) {
            this.close();
            failed(e);
            options.onError?.();
          }
        });
      this.socket = new Tcp({ ...options, onReadable: guard(options.onReadable), onWritable: guard(options.onWritable) });
    }
    read(count?: unknown): unknown {
      return this.socket.read(count);
    }
    write(data: unknown, options?: unknown): number {
      return this.socket.write(data, options);
    }
    close(): void {
      if (this.closed) return;
      this.closed = true;
      this.socket.close();
    }
    get format(): string {
      return this.socket.format;
    }
    set format(value: string) {
      this.socket.format = value;
    }
  };
}

interface Outgoing {
  readonly data: Uint8Array | null;
  readonly options: object;
  /** Bytes of the packet besides the payload, at most (fixed header, topic, packet id). */
  readonly overhead: number;
  /** Payload bytes written so far. */
  sent: number;
}

export interface Ecma419MqttTransportOptions {
  /** `device.network.mqtt` of the host provider (the MQTT client's manifest defines it). */
  readonly network: NetworkMqtt;
  /** The broker's host name or address. */
  readonly host: string;
  /** Default 1883 (8883 with `tls`). */
  readonly port?: number;
  /** mqtts: `network` must then be `device.network.mqtts` (a TLS socket). */
  readonly tls?: MqttTlsOptions;
}

export class Ecma419MqttTransport implements TransportPort {
  private client: MqttClientIO | undefined;
  private handlers: TransportHandlers | undefined;
  private connected = false;
  /** Packets not (wholly) written yet, oldest first. */
  private outbox: Outgoing[] = [];
  /** Bytes the client can take now, as it last said (0 until it says). */
  private room = 0;
  /** Bumped by every open and close: callbacks of an older client are ignored. */
  private generation = 0;

  private readonly network: NetworkMqtt;
  private readonly host: string;
  private readonly port: number;
  private readonly socket: object;
  /** Why the TLS handshake of the current connection failed, if it did. */
  private tlsFailure: string | undefined;

  constructor(options: Ecma419MqttTransportOptions) {
    this.network = options.network;
    this.host = options.host;
    this.port = options.port ?? (options.tls ? 8883 : 1883);
    if (options.tls) {
      const socket = options.network.socket as { TCP?: { io: TcpClass } };
      if (!socket.TCP) throw new Error("tls needs device.network.mqtts (a TLS socket over TCP)");
      const TCP = { ...socket.TCP, io: guardedTcp(socket.TCP.io, (e) => (this.tlsFailure = (e as Error)?.message ?? String(e))) };
      // TLS 1.2 (0x303): Moddable's default minimum is 1.1.
      this.socket = { ...socket, TCP, secure: { ...options.tls, protocolVersion: 0x303 } };
    } else {
      this.socket = options.network.socket;
    }
  }

  open(options: MqttConnectOptions, handlers: TransportHandlers): void {
    this.end("replaced by a new open");
    const generation = ++this.generation;
    this.handlers = handlers;
    this.outbox = [];
    this.room = 0;
    this.tlsFailure = undefined;
    const io = this.network.io;
    let incoming: { topic: string; qos: QoS; bytes: Uint8Array | undefined; size: number; at: number } | undefined;
    const current = () => generation === this.generation;
    const self = this;
    try {
      this.client = new io({
        ...this.network,
        socket: this.socket,
        host: this.host,
        port: this.port,
        id: options.clientId,
        clean: options.cleanSession,
        keepAlive: options.keepAlive * 1000, // this client takes milliseconds
        user: options.username,
        password: options.password && options.password.slice().buffer,
        will: options.will && { topic: options.will.topic, message: options.will.payload.slice().buffer, QoS: options.will.qos, retain: options.will.retain },
        onControl(message: ControlMessage) {
          if (!current()) return;
          if (message.operation === io.CONNACK) {
            self.connected = true;
            handlers.onConnected(false);
          } else if (message.operation === io.PUBACK && message.id !== undefined) {
            handlers.onAcknowledged(message.id);
          }
        },
        onWritable(count: number) {
          if (!current()) return;
          self.room = count;
          self.drain();
        },
        onReadable(this: MqttClientIO, count: number, info: ReadableInfo) {
          const chunk = this.read(count);
          if (!current()) return;
          if (info.topic !== undefined) {
            const size = info.byteLength ?? count;
            incoming = { topic: info.topic, qos: info.QoS === 1 ? 1 : 0, bytes: size > MAX_INCOMING ? undefined : new Uint8Array(size), size, at: 0 };
          }
          if (incoming?.bytes && chunk) {
            incoming.bytes.set(new Uint8Array(chunk), incoming.at);
            incoming.at += chunk.byteLength;
          }
          if (!info.more && incoming) {
            const message = incoming;
            incoming = undefined;
            if (message.bytes) handlers.onMessage(message.topic, message.bytes.subarray(0, message.at), message.qos, false);
            else handlers.onOversized?.(message.topic, message.size);
          }
        },
        onError() {
          if (current()) self.finish(self.tlsFailure !== undefined ? `tls-refused ${self.tlsFailure}` : "connection failed or lost");
        },
      });
    } catch (e) {
      // The contract: no handler runs before open() returns.
      const reason = `connect-failed ${(e as Error)?.message ?? e}`;
      Promise.resolve().then(() => {
        if (current()) this.finish(reason);
      });
    }
  }

  publish(topic: string, payload: Uint8Array, qos: QoS, retain: boolean, packetId: number, duplicate: boolean): void {
    // Fixed header (5), topic length (2) and at most 3 bytes a character, packet id (2).
    this.send(payload, { topic, QoS: qos, retain, duplicate, ...(qos === 1 ? { id: packetId } : {}) }, 9 + 3 * topic.length);
  }

  subscribe(filters: readonly string[], qos: QoS, packetId: number): void {
    this.send(null, { operation: this.network.io.SUBSCRIBE, items: filters.map((topic) => ({ topic, QoS: qos })), id: packetId }, 0);
  }

  close(graceful: boolean): void {
    if (graceful && this.connected && this.client && this.outbox.length === 0) {
      try {
        this.client.write(null, { operation: this.network.io.DISCONNECT });
      } catch {
        // no room for it: the broker publishes the will, which is what an ungraceful close means anyway
      }
    }
    this.end("closed by device");
  }

  private send(data: Uint8Array | null, options: object, overhead: number): void {
    if (!this.connected || !this.client) return;
    this.outbox.push({ data, options, overhead, sent: 0 });
    if (this.outbox.length === 1) this.drain();
  }

  /** Writes waiting packets in order while there is room; the client calls onWritable when there is more. */
  private drain(): void {
    const client = this.client;
    while (client && client === this.client && this.outbox.length > 0) {
      const next = this.outbox[0];
      try {
        if (next.data === null) {
          this.room = client.write(null, next.options);
        } else if (next.sent === 0) {
          // The head and as much of the payload as fits; the client then takes the rest as plain writes.
          const first = Math.min(next.data.length, this.room - next.overhead);
          if (first < 0 || (first === 0 && next.data.length > 0)) return;
          this.room = client.write(next.data.subarray(0, first), { ...next.options, byteLength: next.data.length });
          next.sent = first;
        } else {
          const piece = Math.min(next.data.length - next.sent, this.room);
          if (piece <= 0) return;
          this.room = client.write(next.data.subarray(next.sent, next.sent + piece));
          next.sent += piece;
        }
      } catch {
        return; // no room after all: onWritable says when there is
      }
      if (next.data === null || next.sent === next.data.length) this.outbox.shift();
    }
  }

  /** Closes the current client, if any, and reports onClosed once. */
  private end(reason: string): void {
    if (!this.client) return;
    const client = this.client;
    this.client = undefined;
    // Closed on a later turn: close() may be called from inside one of the client's own callbacks (a
    // command that ends the session), and the client goes on using its socket after a callback returns
    // ("XS abort: unhandled exception" when it has been closed under it, seen on lin).
    Promise.resolve().then(() => {
      try {
        client.close();
      } catch {
        // already closed by itself
      }
    });
    this.finish(reason);
  }

  private finish(reason: string): void {
    const handlers = this.handlers;
    this.handlers = undefined;
    this.client = undefined;
    this.connected = false;
    this.outbox = [];
    this.generation++;
    handlers?.onClosed(reason);
  }
}
