// Connecting MQTT.js clients for the host tools (server, command client, CLI) the same way: the message
// handler is attached before the connection exists (a persistent session may deliver queued messages
// right after CONNACK), the first connection either succeeds or fails with one GatehouseError, and later
// drops reconnect in the background.

import { connect, type IClientOptions, type MqttClient } from "mqtt";
import { GatehouseError, fail } from "../../sdk/errors";

export interface MqttConnectOptions {
  clientId?: string;
  /** MQTT clean session (default true). */
  clean?: boolean;
  /** From the start to CONNACK, in ms (default 10 s). */
  connectTimeoutMs?: number;
  /** Delay between reconnects after a drop (default 1 s). */
  reconnectPeriodMs?: number;
  keepaliveSeconds?: number;
  onMessage(topic: string, payload: Uint8Array): void;
  /** Connection events after the first connect ("connected", "offline", errors), for logs. */
  onStatus?(status: string): void;
}

/** The topic levels an id or door may use in a topic: no separators, no wildcards, no control characters. */
export function checkTopicLevel(value: string, what: string): string {
  // eslint-disable-next-line no-control-regex
  if (typeof value !== "string" || value.length === 0 || value.length > 64 || /[/+#\u0000-\u001f\u007f]/.test(value)) {
    fail("usage", `${what} must be 1 to 64 characters without "/", "+", "#" or control characters`);
  }
  return value;
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

/** Connects and resolves once the broker accepted the connection; rejects with "broker-unreachable" otherwise. */
export function connectMqtt(url: string, options: MqttConnectOptions): Promise<MqttClient> {
  const brokerUrl = brokerUrlOf(url);
  const timeout = options.connectTimeoutMs ?? 10_000;
  const clientOptions: IClientOptions = {
    protocolVersion: 4,
    clean: options.clean ?? true,
    keepalive: options.keepaliveSeconds ?? 30,
    connectTimeout: timeout,
    reconnectPeriod: options.reconnectPeriodMs ?? 1000,
    resubscribe: true,
    ...(options.clientId !== undefined ? { clientId: options.clientId } : {}),
  };
  const client = connect(brokerUrl, clientOptions);
  // MQTT.js leaves Nagle's algorithm on: a small PUBLISH written while a PUBACK waits for the broker's
  // delayed ACK sits there for ~40 ms. Every connection (reconnects make new sockets) turns it off.
  client.on("connect", () => (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true));
  client.on("message", (topic, payload) => {
    options.onMessage(topic, new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength));
  });
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => failFirst(`no answer from ${url} within ${timeout} ms`), timeout);
    const failFirst = (reason: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.removeAllListeners("message");
      client.end(true);
      reject(new GatehouseError("broker-unreachable", `cannot connect to ${url}: ${reason}`));
    };
    client.once("connect", () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.on("connect", () => options.onStatus?.("connected"));
      client.on("offline", () => options.onStatus?.("offline (reconnecting)"));
      resolve(client);
    });
    // An "error" listener must exist for the client's whole life (EventEmitter throws without one).
    client.on("error", (e) => {
      if (!settled) failFirst(e.message || String((e as NodeJS.ErrnoException).code ?? e));
      else options.onStatus?.(`error: ${e.message}`);
    });
    client.once("close", () => failFirst("connection closed"));
  });
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
