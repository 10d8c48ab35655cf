// The transport port on Moddable: the SDK's TransportPort over the ECMA-419 MQTT client
// (`embedded:network/mqtt/client`; docs/moddable.md section 3 B). Device code. UNTESTED on hardware.
// It lives with the example until the SDK grows ports/moddable/transport.ts.
//
// Why this client and not the legacy `mqtt` module: the protocol needs QoS 1 both ways and a persistent
// session (clean session false, docs/protocol.md section 6); the legacy client always sets clean session
// and ignores PUBACKs. The ECMA-419 client lives in Moddable's examples, not its modules: the app manifest
// includes $(MODDABLE)/examples/io/tcp/mqttclient/manifest_mqttclient.json, whose preloaded config
// defines `device.network.mqtt = {io, dns, socket}`, which is passed here.
//
// What this client does and does not do, and how the port copes:
// - Incoming QoS 1 messages are acknowledged by the client itself when their last byte has been read,
//   before the SDK has run the command. A reset in between loses that command; the sender times out.
// - It reports a failed connection, a refused CONNACK and a dropped socket alike through onError, and
//   closes itself: each becomes onClosed. It never tells whether the broker kept the session
//   (sessionPresent is reported as false; the session layer resends what is unacknowledged anyway).
// - write() throws when the socket has no room. A publish that does not fit ends the connection, so
//   the session reconnects and resends it, rather than waiting forever for an acknowledgement of a
//   message that never left.
// - Payloads may arrive in fragments (`more`): they are gathered up to MAX_INCOMING bytes; anything
//   larger is read and dropped (commands are at most 8 KiB).

import type { MqttConnectOptions, QoS, TransportHandlers, TransportPort } from "../../sdk/ports/transport";

const MAX_INCOMING = 16 * 1024;

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

/** `device.network.mqtt` as manifest_mqttclient.json's config defines it. */
export interface NetworkMqtt {
  readonly io: MqttClientClass;
  readonly dns: unknown;
  readonly socket: unknown;
}

function arrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

export class Ecma419MqttTransport implements TransportPort {
  private client: MqttClientIO | undefined;
  private handlers: TransportHandlers | undefined;
  private connected = false;
  /** Bumped by every open and close: callbacks of an older client are ignored. */
  private generation = 0;

  constructor(
    private readonly network: NetworkMqtt,
    private readonly host: string,
    private readonly port = 1883,
  ) {}

  open(options: MqttConnectOptions, handlers: TransportHandlers): void {
    this.end("replaced by a new open");
    const generation = ++this.generation;
    this.handlers = handlers;
    const io = this.network.io;
    let incoming: { topic: string; qos: QoS; bytes: Uint8Array; at: number } | undefined;
    const current = () => generation === this.generation;
    const self = this;
    try {
      this.client = new io({
        ...this.network,
        host: this.host,
        port: this.port,
        id: options.clientId,
        clean: options.cleanSession,
        keepalive: options.keepAlive * 1000, // this client takes milliseconds
        user: options.username,
        password: options.password && arrayBuffer(options.password),
        will: options.will && { topic: options.will.topic, message: arrayBuffer(options.will.payload), QoS: options.will.qos, retain: options.will.retain },
        onControl(message: ControlMessage) {
          if (!current()) return;
          if (message.operation === io.CONNACK) {
            self.connected = true;
            handlers.onConnected(false);
          } else if (message.operation === io.PUBACK && message.id !== undefined) {
            handlers.onAcknowledged(message.id);
          }
        },
        onReadable(this: MqttClientIO, count: number, info: ReadableInfo) {
          const chunk = this.read(count);
          if (!current()) return;
          if (info.topic !== undefined) {
            const length = info.byteLength ?? count;
            incoming = length > MAX_INCOMING ? undefined : { topic: info.topic, qos: info.QoS === 1 ? 1 : 0, bytes: new Uint8Array(length), at: 0 };
          }
          if (incoming && chunk) {
            incoming.bytes.set(new Uint8Array(chunk), incoming.at);
            incoming.at += chunk.byteLength;
          }
          if (!info.more) {
            const message = incoming;
            incoming = undefined;
            if (message) handlers.onMessage(message.topic, message.bytes.subarray(0, message.at), message.qos, false);
          }
        },
        onError() {
          if (current()) self.finish("connection failed or lost");
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
    if (!this.connected || !this.client) return;
    try {
      this.client.write(payload, { topic, QoS: qos, retain, duplicate, ...(qos === 1 ? { id: packetId } : {}) });
    } catch {
      this.end("write-overflow");
    }
  }

  subscribe(filters: readonly string[], qos: QoS, packetId: number): void {
    if (!this.connected || !this.client) return;
    try {
      this.client.write(null, { operation: this.network.io.SUBSCRIBE, items: filters.map((topic) => ({ topic, QoS: qos })), id: packetId });
    } catch {
      this.end("write-overflow");
    }
  }

  close(graceful: boolean): void {
    if (graceful && this.connected && this.client) {
      try {
        this.client.write(null, { operation: this.network.io.DISCONNECT });
      } catch {
        // no room for it: the broker publishes the will, which is what an ungraceful close means anyway
      }
    }
    this.end("closed by device");
  }

  /** Closes the current client, if any, and reports onClosed once. */
  private end(reason: string): void {
    if (!this.client) return;
    const client = this.client;
    this.client = undefined;
    try {
      client.close();
    } catch {
      // already closed by itself
    }
    this.finish(reason);
  }

  private finish(reason: string): void {
    const handlers = this.handlers;
    this.handlers = undefined;
    this.client = undefined;
    this.connected = false;
    this.generation++;
    handlers?.onClosed(reason);
  }
}
