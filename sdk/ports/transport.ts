// The transport port: an MQTT 3.1.1 client connection, as small as the session layer needs.
// The Node port builds it from mqtt-packet over a TCP/TLS socket; the Moddable port wraps Moddable's
// ECMA-419 MQTT client. Packet-level work (CONNECT, PUBACK for incoming QoS 1, PINGREQ keep-alive)
// belongs to the port; what to publish, when to retry and what to keep while offline belongs to the
// session layer (sdk/session).

export type QoS = 0 | 1;

export interface MqttWill {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly qos: QoS;
  readonly retain: boolean;
}

export interface MqttConnectOptions {
  readonly clientId: string;
  /** Seconds; the port sends PINGREQ and closes the connection when the broker goes silent. */
  readonly keepAlive: number;
  /** false: a persistent session, so the broker keeps QoS 1 messages while the device is away. */
  readonly cleanSession: boolean;
  readonly will?: MqttWill;
  readonly username?: string;
  readonly password?: Uint8Array;
}

export interface TransportHandlers {
  /** CONNACK accepted. */
  onConnected(sessionPresent: boolean): void;
  /** An incoming PUBLISH. For QoS 1 the port sends PUBACK after this returns. */
  onMessage(topic: string, payload: Uint8Array, qos: QoS, duplicate: boolean): void;
  /**
   * An incoming PUBLISH larger than the port accepts was skipped without being buffered, and
   * acknowledged so that the broker does not redeliver it forever.
   */
  onOversized?(topic: string, size: number): void;
  /** The broker acknowledged the QoS 1 publish with this packet id (PUBACK). */
  onAcknowledged(packetId: number): void;
  /** The connection ended or could not be made (exactly once per open). */
  onClosed(reason: string): void;
}

export interface TransportPort {
  /** Starts connecting. Exactly one onConnected or onClosed follows; after onConnected, one onClosed. */
  open(options: MqttConnectOptions, handlers: TransportHandlers): void;
  /** Publishes. For QoS 1 pass a packet id (1..65535) that onAcknowledged will name; `duplicate` marks a resend. */
  publish(topic: string, payload: Uint8Array, qos: QoS, retain: boolean, packetId: number, duplicate: boolean): void;
  subscribe(filters: readonly string[], qos: QoS, packetId: number): void;
  /** Closes the connection; with `graceful`, a DISCONNECT first (the broker then drops the will). */
  close(graceful: boolean): void;
}
