// Connecting MQTT.js clients for the host tools (server, command client, CLI) the same way: the message
// handler is attached before the connection exists (a persistent session may deliver queued messages
// right after CONNACK), the first connection either succeeds or fails with one GatehouseError, and later
// drops reconnect in the background.
//
// A broker identity (host/broker/identities.ts: username and password, or a client certificate, and the
// CA for mqtts) logs the client in. A first connection refused for it fails with its own code: broker-auth
// (the broker refused the username, password or certificate) or broker-tls (the broker's certificate is
// expired, for another host or not from the configured CA; or the broker refused the TLS handshake).

import { connect, type IClientOptions, type MqttClient } from "mqtt";
import { GatehouseError, fail } from "../../sdk/errors";
import { PUBLICATION_KINDS, PUBLICATIONS, type PublicationKind } from "../../sdk/session/publications";
import { CONNACK_REFUSALS, tlsRefusal } from "../../ports/node/transport";
import type { BrokerCredentials } from "../broker/identities";

export interface MqttConnectOptions {
  clientId?: string;
  /** MQTT clean session (default true). */
  clean?: boolean;
  /** From the start to CONNACK, in ms (default 10 s). */
  connectTimeoutMs?: number;
  /** Delay between reconnects after a drop (default 1 s). */
  reconnectPeriodMs?: number;
  keepaliveSeconds?: number;
  /** Log in as this broker identity (and, over mqtts, verify the broker with its CA). */
  credentials?: BrokerCredentials;
  /**
   * Speak MQTT 5 and announce this Maximum Packet Size: the broker drops larger messages instead of
   * sending them. Falls back to MQTT 3.1.1 (no such limit) when the broker refuses version 5.
   */
  maxPacketBytes?: number;
  onMessage(topic: string, payload: Uint8Array, retain: boolean): void;
  /** Connection events after the first connect ("connected", "offline", errors), for logs. */
  onStatus?(status: string): void;
  /** The connection went down (false) or came back (true), after the first connect. */
  onConnection?(up: boolean): void;
}

/**
 * The Maximum Packet Size the host tools announce when they read device publications (MQTT 5): a
 * publication's payload is at most 32 KiB (PUBLICATION_LIMITS) in a COSE_Sign1 of a few hundred bytes
 * more; 64 KiB plus room for the topic and headers leaves a margin, and nothing larger is ever sent.
 */
export const PUBLICATION_PACKET_BYTES = 65 * 1024;

/** The topic levels an id or door may use in a topic: no separators, no wildcards, no control characters. */
export function checkTopicLevel(value: string, what: string): string {
  // eslint-disable-next-line no-control-regex
  if (typeof value !== "string" || value.length === 0 || value.length > 64 || /[/+#\u0000-\u001f\u007f]/.test(value)) {
    fail("usage", `${what} must be 1 to 64 characters without "/", "+", "#" or control characters`);
  }
  return value;
}

/** The publication kind on `topic`, the part of a topic after <prefix>/<device>/; undefined for any other. */
export function kindOfTopic(topic: string): PublicationKind | undefined {
  return PUBLICATION_KINDS.find((kind) => PUBLICATIONS[kind].topic === topic);
}

function brokerUrlOf(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return fail("usage", `not a broker URL: ${JSON.stringify(url)} (use mqtt://host[:port] or mqtts://host[:port])`);
  }
  if (!["mqtt:", "mqtts:", "tcp:", "ssl:", "tls:", "ws:", "wss:"].includes(parsed.protocol)) {
    fail("usage", `unsupported broker URL scheme ${parsed.protocol} (use mqtt:// or mqtts://)`);
  }
  return url;
}

/** A broker that refused the MQTT version asked for (CONNACK return code 1; reason 132 in MQTT 5). */
class ProtocolRefused extends GatehouseError {}

/**
 * Connects and resolves once the broker accepted the connection; rejects with "broker-unreachable"
 * otherwise. With `maxPacketBytes` it speaks MQTT 5 and announces that Maximum Packet Size, so the broker
 * never sends a larger packet (it drops it instead: MQTT 5 section 3.1.2.11.4); a broker that speaks only
 * 3.1.1 (aedes) refuses version 5, and the connection is made again with 3.1.1, where the caller must cap
 * sizes itself after receipt.
 */
export async function connectMqtt(url: string, options: MqttConnectOptions): Promise<MqttClient> {
  const brokerUrl = brokerUrlOf(url);
  if (options.maxPacketBytes === undefined) return connectOnce(url, brokerUrl, options, 4);
  try {
    return await connectOnce(url, brokerUrl, options, 5);
  } catch (e) {
    if (!(e instanceof ProtocolRefused)) throw e;
    options.onStatus?.("the broker does not speak MQTT 5: using 3.1.1 (no maximum packet size)");
    return connectOnce(url, brokerUrl, options, 4);
  }
}

/** Whether a client speaks MQTT 5 (and so announced a maximum packet size). */
export function speaksMqtt5(client: MqttClient): boolean {
  return client.options.protocolVersion === 5;
}

function connectOnce(url: string, brokerUrl: string, options: MqttConnectOptions, protocolVersion: 4 | 5): Promise<MqttClient> {
  const timeout = options.connectTimeoutMs ?? 10_000;
  const clean = options.clean ?? true;
  const clientOptions: IClientOptions = {
    protocolVersion,
    clean,
    keepalive: options.keepaliveSeconds ?? 30,
    connectTimeout: timeout,
    reconnectPeriod: options.reconnectPeriodMs ?? 1000,
    resubscribe: true,
    ...(options.clientId !== undefined ? { clientId: options.clientId } : {}),
    ...credentialOptions(options.credentials),
    // MQTT 5: a persistent session lasts until the client comes back (3.1.1's clean session false);
    // without an expiry interval it would end with the connection.
    ...(protocolVersion === 5 ? { properties: { maximumPacketSize: options.maxPacketBytes, ...(clean ? {} : { sessionExpiryInterval: 0xffffffff }) } } : {}),
  };
  const client = connect(brokerUrl, clientOptions);
  // MQTT.js leaves Nagle's algorithm on: a small PUBLISH written while a PUBACK waits for the broker's
  // delayed ACK sits there for ~40 ms. Every connection (reconnects make new sockets) turns it off.
  client.on("connect", () => (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true));
  client.on("message", (topic, payload, packet) => {
    options.onMessage(topic, new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength), packet.retain === true);
  });
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => failFirst(`no answer from ${url} within ${timeout} ms`), timeout);
    const failFirst = (reason: string, refused = false, code: "broker-unreachable" | "broker-auth" | "broker-tls" = "broker-unreachable"): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.removeAllListeners("message");
      client.end(true);
      const message = `cannot connect to ${url}: ${reason}`;
      reject(refused ? new ProtocolRefused("broker-unreachable", message) : new GatehouseError(code, message));
    };
    client.once("connect", () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.on("connect", () => {
        options.onStatus?.("connected");
        options.onConnection?.(true);
      });
      client.on("offline", () => {
        options.onStatus?.("offline (reconnecting)");
        options.onConnection?.(false);
      });
      resolve(client);
    });
    // An "error" listener must exist for the client's whole life (EventEmitter throws without one).
    client.on("error", (e) => {
      const code = (e as { code?: unknown }).code;
      if (!settled) {
        const tls = tlsRefusal(e);
        const login = loginRefusal(code, protocolVersion);
        if (tls) failFirst(tls, false, "broker-tls");
        else if (login) failFirst(`${login}${options.credentials ? ` for ${options.credentials.username}` : " (no broker identity given)"}`, false, "broker-auth");
        else failFirst(e.message || String(code ?? e), protocolVersion === 5 && (code === 1 || code === 132));
      } else options.onStatus?.(`error: ${tlsRefusal(e) ?? loginRefusal(code, protocolVersion) ?? e.message}`);
    });
    client.once("close", () => failFirst("connection closed"));
  });
}

/** MQTT.js's options for a broker identity. */
function credentialOptions(credentials: BrokerCredentials | undefined): Partial<IClientOptions> {
  if (!credentials) return {};
  return {
    username: credentials.username,
    ...(credentials.password !== undefined ? { password: credentials.password } : {}),
    ...(credentials.ca !== undefined ? { ca: credentials.ca } : {}),
    ...(credentials.cert !== undefined && credentials.key !== undefined ? { cert: credentials.cert, key: credentials.key } : {}),
    rejectUnauthorized: true,
  };
}

/** A refused login in words: CONNACK 4 or 5 (MQTT 3.1.1), 134 or 135 (MQTT 5); undefined for anything else. */
function loginRefusal(code: unknown, protocolVersion: 4 | 5): string | undefined {
  if (protocolVersion === 5) return code === 134 ? "the broker refused the login: bad username or password" : code === 135 ? "the broker refused the login: not authorized" : undefined;
  return code === 4 || code === 5 ? `the broker refused the login: ${CONNACK_REFUSALS[code]}` : undefined;
}

/** Ends a client, waiting for its in-flight packets (bounded: `force` after `ms`). */
export function endMqtt(client: MqttClient, ms = 2000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.end(true);
      resolve();
    }, ms);
    client.end(false, {}, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
