// Sending signed commands over MQTT and waiting for their results: the client behind `gatehouse send`,
// the demo and anything else that talks to devices directly through the broker.
//
//   const client = await CommandClient.connect({ brokerUrl, key: operatorKey });
//   const reply = await client.send({ device: "dev-1", door: "setpoint", op: "write.target", args: 21, deviceKey });
//   await client.close();
//
// send() signs with the SDK's signCommand (the code the device verifies with), subscribes to the
// device's result topic BEFORE publishing the command, and matches the result by ref. With `deviceKey`
// the result is verified and the reply says verified: true; without it the result is only parsed, and
// the reply says verified: false: anyone able to publish on the broker could have forged it.
//
// A broker restart loses a clean session's subscriptions, and MQTT.js resends held commands before it
// re-subscribes, so results would be lost: after every reconnect the client subscribes again and then
// resends the commands still waiting for a result, with the same signed bytes. The device executes a
// command once and answers a repeat with its first result.
//
// Every command carries an expiry (60 s after issue by default; expiresInSeconds: null leaves it out):
// a command held back by the broker or by a client that took the device's session over is refused once
// it has expired (devices with trusted time also refuse commands without one: "expiry-missing"). The
// client also follows the device's birth and death (retained and live), so that a timeout can say what is known of
// the device's connection instead of guessing (explainSilence in results.ts).

import type { MqttClient } from "mqtt";
import type { CborValue } from "../../sdk/cbor/types";
import { DEFAULT_COMMAND_EXPIRY_SECONDS } from "../../sdk/command/envelope";
import { signCommand } from "../../sdk/command/sender";
import type { CoseKey } from "../../sdk/cose/key";
import { GatehouseError, fail } from "../../sdk/errors";
import { nodeCrypto } from "../../ports/node/crypto";
import { checkTopicLevel, connectMqtt, endMqtt, PUBLICATION_PACKET_BYTES } from "./mqtt";
import type { BrokerCredentials } from "../broker/identities";
import { awaitResult, openPublication, resultTopic, ResultRouter, type CommandReply, type SilenceFacts } from "./results";
import { nextSequence } from "./sequence";

export type { CommandReply } from "./results";

export const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;
export { DEFAULT_COMMAND_EXPIRY_SECONDS };
const DEFAULT_TOPIC_PREFIX = "gh";

export interface CommandClientOptions {
  brokerUrl: string;
  /** The operator's private key: commands are signed with it. */
  key: CoseKey;
  topicPrefix?: string;
  /** Default: a random id chosen by MQTT.js (the session is clean, nothing is kept between runs). */
  clientId?: string;
  connectTimeoutMs?: number;
  /** The operator's broker identity (docs/broker.md). */
  brokerCredentials?: BrokerCredentials;
}

export interface CommandRequest {
  device: string;
  door: string;
  /** "read.<property>", "write.<property>" or "invoke.<action>". */
  op: string;
  args?: CborValue;
  /** The device's public key: verify the result with it. */
  deviceKey?: CoseKey;
  /** How long to wait for the result (default 10 s). */
  timeoutMs?: number;
  /** The expiry claim, this many seconds after issue (default 60); null: no expiry claim. */
  expiresInSeconds?: number | null;
}

export class CommandClient {
  private readonly router = new ResultRouter();
  private readonly subscribed = new Map<string, Promise<void>>();
  /** Commands waiting for their result, to resend after a reconnect. */
  private readonly waiting = new Set<{ device: string; door: string; message: Uint8Array }>();
  /** The latest birth and death payloads (retained or live) per device, read when a command times out. */
  private readonly announced = new Map<string, { birth?: Uint8Array; death?: Uint8Array }>();
  private closed = false;

  private constructor(
    private readonly mqtt: MqttClient,
    private readonly key: CoseKey,
    private readonly topicPrefix: string,
  ) {}

  static async connect(options: CommandClientOptions): Promise<CommandClient> {
    if (options.key.d === undefined) fail("key-invalid", "commands are signed with a private key; this one is public");
    const prefix = options.topicPrefix ?? DEFAULT_TOPIC_PREFIX;
    let client: CommandClient | undefined;
    const pending: [string, Uint8Array][] = [];
    const mqtt = await connectMqtt(options.brokerUrl, {
      clean: true,
      clientId: options.clientId,
      credentials: options.brokerCredentials,
      connectTimeoutMs: options.connectTimeoutMs,
      // Results, births and deaths only: anything larger is not one, and the broker keeps it.
      maxPacketBytes: PUBLICATION_PACKET_BYTES,
      onMessage: (topic, payload) => {
        if (client) client.message(topic, payload);
        else pending.push([topic, payload]);
      },
    });
    client = new CommandClient(mqtt, options.key, prefix);
    for (const [topic, payload] of pending) client.message(topic, payload);
    const reconnected = client;
    mqtt.on("connect", () => void reconnected.resend());
    return client;
  }

  /** Signs a command, publishes it and resolves with the device's result (rejects "no-result" on timeout). */
  async send(request: CommandRequest): Promise<CommandReply> {
    if (this.closed) fail("closed", "the command client is closed");
    const device = checkTopicLevel(request.device, "device");
    const door = checkTopicLevel(request.door, "door");
    if (typeof request.op !== "string" || request.op.length === 0 || request.op.length > 64) fail("usage", "op must be 1 to 64 characters");
    const timeoutMs = request.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) fail("usage", "timeoutMs must be a positive integer");
    const issuedAt = Math.floor(Date.now() / 1000);
    const expires = request.expiresInSeconds === undefined ? DEFAULT_COMMAND_EXPIRY_SECONDS : request.expiresInSeconds;
    if (expires !== null && !(Number.isInteger(expires) && expires > 0)) fail("usage", "expiresInSeconds must be a positive integer or null");
    const seq = nextSequence();
    const message = signCommand(nodeCrypto, this.key, {
      device,
      door,
      op: request.op,
      args: request.args,
      seq,
      issuedAt,
      expiresAt: expires === null ? undefined : issuedAt + expires,
    });
    const entry = { device, door, message };
    this.waiting.add(entry);
    try {
      return await awaitResult({
        client: this.mqtt,
        router: this.router,
        topicPrefix: this.topicPrefix,
        device,
        door,
        message,
        seq,
        deviceKey: request.deviceKey,
        timeoutMs,
        expiresAt: expires === null ? undefined : issuedAt + expires,
        beforePublish: () => this.subscribeDevice(device),
        silence: () => ({ device: this.deviceState(device, request.deviceKey) }),
      });
    } finally {
      this.waiting.delete(entry);
    }
  }

  /** After a reconnect: subscriptions first, then the commands still waiting, again. */
  private async resend(): Promise<void> {
    if (this.closed) return;
    this.subscribed.clear();
    try {
      const waiting = Array.from(this.waiting);
      for (const device of new Set(waiting.map((w) => w.device))) await this.subscribeDevice(device);
      for (const w of waiting) {
        if (!this.waiting.has(w)) continue;
        const payload = Buffer.from(w.message.buffer, w.message.byteOffset, w.message.byteLength);
        await this.mqtt.publishAsync(`${this.topicPrefix}/${w.device}/cmd/${w.door}`, payload, { qos: 1, retain: false });
      }
    } catch {
      // The link dropped again: the next "connect" resends.
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.router.cancelAll(new GatehouseError("closed", "the command client was closed"));
    await endMqtt(this.mqtt);
  }

  /** Subscribes to a device's results, birth and death (once per connection). */
  private subscribeDevice(device: string): Promise<void> {
    let done = this.subscribed.get(device);
    if (!done) {
      const topics = [resultTopic(this.topicPrefix, device), `${this.topicPrefix}/${device}/birth`, `${this.topicPrefix}/${device}/death`];
      done = this.mqtt.subscribeAsync(topics, { qos: 1 }).then(
        () => undefined,
        (e: Error) => {
          this.subscribed.delete(device);
          fail("broker-error", `cannot subscribe to ${topics.join(", ")}: ${e.message}`);
        },
      );
      this.subscribed.set(device, done);
    }
    return done;
  }

  /** What the device's latest birth and death say about its connection (verified with `deviceKey` when given). */
  private deviceState(device: string, deviceKey: CoseKey | undefined): SilenceFacts["device"] {
    const announced = this.announced.get(device);
    const sessionOf = (kind: "birth" | "death", payload: Uint8Array | undefined): number | undefined => {
      if (!payload) return undefined;
      try {
        return openPublication(payload, kind, device, deviceKey).body.session;
      } catch {
        return undefined; // a forged or garbled announcement says nothing
      }
    };
    const birth = sessionOf("birth", announced?.birth);
    const death = sessionOf("death", announced?.death);
    const source = `the device's latest birth and death (${deviceKey ? "verified" : "UNVERIFIED: no device key"})`;
    if (birth === undefined && death === undefined) return { online: undefined, source: "no valid birth or death of the device arrived, retained or live" };
    if (birth !== undefined && (death === undefined || birth > death)) return { online: true, session: birth, source };
    return { online: false, session: death, source };
  }

  private message(topic: string, payload: Uint8Array): void {
    const prefix = `${this.topicPrefix}/`;
    if (!topic.startsWith(prefix)) return;
    const levels = topic.slice(prefix.length).split("/");
    if (levels.length !== 2 || levels[0].length === 0) return;
    const [device, kind] = levels;
    if (kind === "result") this.router.offer(device, payload);
    else if (kind === "birth" || kind === "death") {
      if (payload.length === 0) return; // a cleared retained message announces nothing
      const announced = this.announced.get(device) ?? {};
      announced[kind] = payload;
      this.announced.set(device, announced);
    }
  }
}
