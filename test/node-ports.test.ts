// The Node ports (ports/node: transport, storage, platform) against real peers:
// - NodeMqttTransport against a real mosquitto process and an in-process aedes, with MQTT.js as the
//   independent client on the other side: byte-exact payloads both ways, QoS 1 acknowledgements, wills,
//   persistent sessions (queued messages, no redelivery once acknowledged, redelivery when not), a broker
//   restart, and onClosed exactly once however a connection ends.
// - Small fake brokers (mqtt-packet over net/tls) for what real brokers will not do on demand: never
//   answering, refusing a CONNACK or a SUBACK, going silent after CONNACK, oversized and fragmented
//   packets, TLS.
// - FileStorage and MemoryStorage round trips.
import test from "ava";
import { connectAsync, type MqttClient } from "mqtt";
import { generate, parser as createParser, type Packet } from "mqtt-packet";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, Server as TlsServer } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { NodeMqttTransport, MAX_INCOMING_PACKET } from "../ports/node/transport";
import { FileStorage, MemoryStorage } from "../ports/node/storage";
import { nodeClock, nodeTimers } from "../ports/node/platform";
import { errorCode } from "../sdk/errors";
import type { MqttConnectOptions, QoS, TransportHandlers } from "../sdk/ports/transport";
import { freePort, startAedes, startMosquitto, type AedesBroker, type MosquittoBroker } from "./support/brokers";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);
const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString("hex")}`;

// ---------------------------------------------------------------------------------------------------------
// Recording handlers

interface Received {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  duplicate: boolean;
}

class Recorder {
  connected: boolean[] = [];
  messages: Received[] = [];
  acks: number[] = [];
  closed: string[] = [];
  oversized: [string, number][] = [];
  /** Set to make onMessage throw (the transport then must not acknowledge). */
  failMessages = false;
  private waiters: Array<() => void> = [];

  readonly handlers: TransportHandlers = {
    onConnected: (sessionPresent) => this.push(() => this.connected.push(sessionPresent)),
    onMessage: (topic, payload, qos, duplicate) => {
      this.push(() => this.messages.push({ topic, payload, qos, duplicate }));
      if (this.failMessages) throw new Error("handler refuses");
    },
    onAcknowledged: (packetId) => this.push(() => this.acks.push(packetId)),
    onOversized: (topic, size) => this.push(() => this.oversized.push([topic, size])),
    onClosed: (reason) => this.push(() => this.closed.push(reason)),
  };

  private push(record: () => void): void {
    record();
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Resolves when `condition` holds; rejects after `ms` with a description of what was seen. */
  until(condition: () => boolean, ms = 3000, what = "condition"): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`timed out waiting for ${what}; seen ${JSON.stringify({ connected: this.connected, acks: this.acks, closed: this.closed, messages: this.messages.length })}`));
      }, ms);
      const check = () => {
        if (condition()) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(check);
      };
      check();
    });
  }

  connect(transport: NodeMqttTransport, options: Partial<MqttConnectOptions> & { clientId: string }): Promise<boolean> {
    const before = this.connected.length;
    const closedBefore = this.closed.length;
    transport.open({ keepAlive: 30, cleanSession: true, ...options }, this.handlers);
    return this.until(() => this.connected.length > before || this.closed.length > closedBefore, 3000, "CONNACK").then(() => {
      if (this.connected.length === before) throw new Error(`not connected: ${this.closed.at(-1)}`);
      return this.connected[this.connected.length - 1];
    });
  }
}

/** A QoS 1 publish whose PUBACK proves the broker processed every earlier packet of this connection (e.g. a SUBSCRIBE). */
async function barrier(transport: NodeMqttTransport, recorder: Recorder, packetId: number): Promise<void> {
  transport.publish(unique("gh-test/barrier"), new Uint8Array([0]), 1, false, packetId, false);
  await recorder.until(() => recorder.acks.includes(packetId), 3000, `PUBACK ${packetId}`);
}

// ---------------------------------------------------------------------------------------------------------
// MQTT.js peer

interface Peer {
  client: MqttClient;
  messages: Array<{ topic: string; payload: Uint8Array; qos: number; retain: boolean }>;
  next(topic: string, ms?: number): Promise<{ payload: Uint8Array; qos: number; retain: boolean }>;
}

async function peer(url: string, options: { clientId?: string; clean?: boolean } = {}): Promise<Peer> {
  const client = await connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, clientId: options.clientId ?? unique("peer"), clean: options.clean ?? true });
  const messages: Peer["messages"] = [];
  const waiters: Array<() => void> = [];
  client.on("message", (topic, payload, packet) => {
    messages.push({ topic, payload: new Uint8Array(payload), qos: packet.qos, retain: packet.retain });
    for (const wake of waiters.splice(0)) wake();
  });
  return {
    client,
    messages,
    next(topic, ms = 3000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`peer: nothing on ${topic}`)), ms);
        const check = () => {
          const found = messages.find((m) => m.topic === topic);
          if (found) {
            clearTimeout(timer);
            resolve(found);
          } else waiters.push(check);
        };
        check();
      });
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Brokers shared by this file

let mosquitto: MosquittoBroker;
let aedes: AedesBroker;
const cleanups: Array<() => Promise<void> | void> = [];

test.before(async () => {
  [mosquitto, aedes] = await Promise.all([startMosquitto(), startAedes()]);
});

test.after.always(async () => {
  for (const cleanup of cleanups) await cleanup();
  await Promise.all([mosquitto?.stop(), aedes?.stop()]);
});

const brokerUrls: Record<string, () => string> = {
  mosquitto: () => mosquitto.url,
  aedes: () => aedes.url,
};

// ---------------------------------------------------------------------------------------------------------
// Against real brokers

for (const [name, urlOf] of Object.entries(brokerUrls)) {
  test(`${name}: QoS 1 publish reaches MQTT.js byte-exact and is acknowledged with its packet id`, async (t) => {
    const url = urlOf();
    const topic = unique("gh-test/up");
    const other = await peer(url);
    await other.client.subscribeAsync(topic, { qos: 1 });
    const transport = new NodeMqttTransport({ url });
    const rec = new Recorder();
    t.is(await rec.connect(transport, { clientId: unique("dev") }), false);
    transport.publish(topic, ALL_BYTES, 1, false, 4242, false);
    const got = await other.next(topic);
    t.deepEqual(got.payload, ALL_BYTES);
    t.is(got.qos, 1);
    t.false(got.retain);
    await rec.until(() => rec.acks.includes(4242), 3000, "PUBACK 4242");
    t.deepEqual(rec.acks, [4242]);
    transport.close(true);
    t.deepEqual(rec.closed, ["closed by device"]);
    await other.client.endAsync();
  });

  test(`${name}: QoS 1 from MQTT.js arrives byte-exact; acknowledged messages are not redelivered, unacknowledged ones are`, async (t) => {
    const url = urlOf();
    const clientId = unique("dev");
    const topic = unique("gh-test/cmd");
    const transport = new NodeMqttTransport({ url });
    const rec = new Recorder();
    t.false(await rec.connect(transport, { clientId, cleanSession: false }));
    transport.subscribe([topic], 1, 1);
    await barrier(transport, rec, 2);

    const other = await peer(url);
    const first = new Uint8Array([...ALL_BYTES].reverse());
    await other.client.publishAsync(topic, Buffer.from(first), { qos: 1 });
    await rec.until(() => rec.messages.length === 1, 3000, "first message");
    t.like(rec.messages[0], { topic, qos: 1, duplicate: false });
    t.deepEqual(rec.messages[0].payload, first);
    transport.close(true); // after our PUBACK on the wire

    // While away: a second message is queued for the persistent session.
    const second = Uint8Array.of(1, 2, 3);
    await other.client.publishAsync(topic, Buffer.from(second), { qos: 1 });
    t.true(await rec.connect(transport, { clientId, cleanSession: false }), "session present");
    await rec.until(() => rec.messages.length === 2, 3000, "queued message");
    t.deepEqual(rec.messages[1].payload, second);
    await sleep(300);
    t.is(rec.messages.length, 2, "the acknowledged first message was not redelivered");

    // Control: a message whose handler throws is not acknowledged, so the broker delivers it again.
    rec.failMessages = true;
    const third = Uint8Array.of(9, 9, 9);
    await other.client.publishAsync(topic, Buffer.from(third), { qos: 1 });
    await rec.until(() => rec.closed.length === 2, 3000, "handler-failed close");
    t.regex(rec.closed[1], /^handler-failed onMessage/);
    rec.failMessages = false;
    t.true(await rec.connect(transport, { clientId, cleanSession: false }));
    await rec.until(() => rec.messages.length === 4, 3000, "redelivery");
    t.deepEqual(rec.messages[3].payload, third);
    if (name === "mosquitto") t.true(rec.messages[3].duplicate, "mosquitto sets DUP on redelivery");
    transport.close(true);
    await other.client.endAsync();
    t.is(rec.closed.length, 3);
  });

  test(`${name}: the will is published on an abrupt close (retained), not on a graceful one`, async (t) => {
    const url = urlOf();
    const abruptTopic = unique("gh-test/death");
    const gracefulTopic = unique("gh-test/death");
    const other = await peer(url);
    await other.client.subscribeAsync([abruptTopic, gracefulTopic], { qos: 1 });
    const death = Uint8Array.of(0xde, 0xad, 0x00, 0xff);

    const abrupt = new NodeMqttTransport({ url });
    const rec1 = new Recorder();
    await rec1.connect(abrupt, { clientId: unique("dev"), will: { topic: abruptTopic, payload: death, qos: 1, retain: true } });
    const graceful = new NodeMqttTransport({ url });
    const rec2 = new Recorder();
    await rec2.connect(graceful, { clientId: unique("dev"), will: { topic: gracefulTopic, payload: death, qos: 1, retain: true } });

    abrupt.close(false);
    graceful.close(true);
    const will = await other.next(abruptTopic);
    t.deepEqual(will.payload, death);
    // A late subscriber gets it as a retained message.
    const late = await peer(url);
    await late.client.subscribeAsync(abruptTopic, { qos: 1 });
    const retained = await late.next(abruptTopic);
    t.deepEqual(retained.payload, death);
    t.true(retained.retain);

    await sleep(300);
    t.false(other.messages.some((m) => m.topic === gracefulTopic), "no will after DISCONNECT");
    t.deepEqual(rec1.closed, ["closed by device"]);
    t.deepEqual(rec2.closed, ["closed by device"]);
    await other.client.publishAsync(abruptTopic, "", { retain: true, qos: 1 }); // clear the retained will
    await Promise.all([other.client.endAsync(), late.client.endAsync()]);
  });
}

test("mosquitto: keep-alive PINGREQs keep a 1 s connection up past 1.5 x keepAlive", async (t) => {
  const transport = new NodeMqttTransport({ url: mosquitto.url });
  const rec = new Recorder();
  await rec.connect(transport, { clientId: unique("dev"), keepAlive: 1 });
  await sleep(2200);
  t.deepEqual(rec.closed, [], "neither the broker nor the watchdog closed it");
  transport.close(true);
  t.deepEqual(rec.closed, ["closed by device"]);
});

test("mosquitto: onClosed exactly once when the broker stops", async (t) => {
  const own = await startMosquitto();
  cleanups.push(() => own.stop());
  const transport = new NodeMqttTransport({ url: own.url });
  const rec = new Recorder();
  await rec.connect(transport, { clientId: unique("dev"), keepAlive: 5 });
  await own.stop();
  await rec.until(() => rec.closed.length > 0, 3000, "onClosed");
  await sleep(200);
  t.is(rec.closed.length, 1, rec.closed.join(" | "));
  t.regex(rec.closed[0], /closed by broker|connection closed|socket-error/);
  transport.close(true); // after the end: nothing more
  transport.publish("x", new Uint8Array(1), 1, false, 1, false);
  t.is(rec.closed.length, 1);
});

test("mosquitto restart (SIGTERM) keeps retained messages and a persistent session's queued QoS 1 message", async (t) => {
  const own = await startMosquitto();
  cleanups.push(() => own.stop());
  const clientId = unique("dev");
  const topic = unique("gh-test/cmd");
  const retainedTopic = unique("gh-test/birth");
  const transport = new NodeMqttTransport({ url: own.url });
  const rec = new Recorder();
  await rec.connect(transport, { clientId, cleanSession: false });
  transport.subscribe([topic], 1, 1);
  transport.publish(retainedTopic, ALL_BYTES, 1, true, 2, false);
  await rec.until(() => rec.acks.includes(2));
  transport.close(true);

  const other = await peer(own.url);
  const queued = Uint8Array.of(7, 7, 7);
  await other.client.publishAsync(topic, Buffer.from(queued), { qos: 1 });
  await other.client.endAsync();

  await own.restart();
  t.true(await rec.connect(transport, { clientId, cleanSession: false }), "session present after restart");
  await rec.until(() => rec.messages.length === 1, 3000, "queued message after restart");
  t.deepEqual(rec.messages[0].payload, queued);
  const late = await peer(own.url);
  await late.client.subscribeAsync(retainedTopic, { qos: 1 });
  const retained = await late.next(retainedTopic);
  t.deepEqual(retained.payload, ALL_BYTES);
  t.true(retained.retain);
  transport.close(true);
  await late.client.endAsync();
});

test("aedes: onClosed exactly once when the broker stops", async (t) => {
  const own = await startAedes();
  const transport = new NodeMqttTransport({ url: own.url });
  const rec = new Recorder();
  await rec.connect(transport, { clientId: unique("dev") });
  await own.stop();
  await rec.until(() => rec.closed.length > 0, 3000, "onClosed");
  await sleep(200);
  t.is(rec.closed.length, 1, rec.closed.join(" | "));
});

// ---------------------------------------------------------------------------------------------------------
// Connection failures, exactly one onClosed each

test("connection refused: one onClosed, no onConnected, no exception", async (t) => {
  const port = await freePort();
  const transport = new NodeMqttTransport({ url: `mqtt://127.0.0.1:${port}` });
  const rec = new Recorder();
  transport.open({ clientId: "d", keepAlive: 30, cleanSession: true }, rec.handlers);
  t.deepEqual(rec.closed, [], "no handler runs inside open()");
  await rec.until(() => rec.closed.length > 0);
  await sleep(100);
  t.is(rec.closed.length, 1);
  t.regex(rec.closed[0], /^socket-error ECONNREFUSED/);
  t.deepEqual(rec.connected, []);
});

test("explicit close: onClosed exactly once, synchronously, whether connected or still connecting", async (t) => {
  const transport = new NodeMqttTransport({ url: mosquitto.url });
  const rec = new Recorder();
  await rec.connect(transport, { clientId: unique("dev") });
  transport.close(false);
  t.deepEqual(rec.closed, ["closed by device"]);
  transport.close(true);
  transport.close(false);

  const connecting = new Recorder();
  transport.open({ clientId: unique("dev"), keepAlive: 30, cleanSession: true }, connecting.handlers);
  transport.close(true);
  t.deepEqual(connecting.closed, ["closed by device"]);
  await sleep(300);
  t.deepEqual(rec.closed, ["closed by device"]);
  t.deepEqual(connecting.closed, ["closed by device"]);
  t.deepEqual(connecting.connected, [], "no CONNACK reported after close");
});

test("a new open() ends the previous connection first, with its own onClosed", async (t) => {
  const transport = new NodeMqttTransport({ url: aedes.url });
  const first = new Recorder();
  await first.connect(transport, { clientId: unique("dev") });
  const second = new Recorder();
  await second.connect(transport, { clientId: unique("dev") });
  t.deepEqual(first.closed, ["replaced by a new open"]);
  transport.close(true);
  t.deepEqual(second.closed, ["closed by device"]);
});

// ---------------------------------------------------------------------------------------------------------
// Fake brokers

interface Fake {
  port: number;
  packets: Packet[];
  sockets: Socket[];
  close(): Promise<void>;
}

function send(socket: Socket, packet: Packet): void {
  socket.write(generate(packet));
}

async function fakeBroker(server: Server, onPacket: (packet: Packet, socket: Socket) => void): Promise<Fake> {
  const fake: Fake = { port: 0, packets: [], sockets: [], close: () => Promise.resolve() };
  // A TLS server also emits "connection" for the raw TCP socket: use the decrypted one only.
  server.on(server instanceof TlsServer ? "secureConnection" : "connection", (socket: Socket) => {
    fake.sockets.push(socket);
    socket.on("error", () => {});
    const p = createParser({ protocolVersion: 4 });
    p.on("packet", (packet: Packet) => {
      fake.packets.push(packet);
      onPacket(packet, socket);
    });
    socket.on("data", (d: Buffer) => p.parse(d));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  fake.port = (server.address() as AddressInfo).port;
  fake.close = () =>
    new Promise<void>((resolve) => {
      for (const s of fake.sockets) s.destroy();
      server.close(() => resolve());
    });
  cleanups.push(() => fake.close());
  return fake;
}

const connack = (returnCode = 0): Packet => ({ cmd: "connack", returnCode, sessionPresent: false });

test("connect timeout: a server that never sends CONNACK gets one onClosed after connectTimeoutMs", async (t) => {
  const fake = await fakeBroker(createServer(), () => {});
  const transport = new NodeMqttTransport({ url: `mqtt://127.0.0.1:${fake.port}`, connectTimeoutMs: 300 });
  const rec = new Recorder();
  const start = performance.now();
  transport.open({ clientId: "d", keepAlive: 30, cleanSession: true }, rec.handlers);
  await rec.until(() => rec.closed.length > 0);
  const elapsed = performance.now() - start;
  // Not before the timeout (how long after depends on the machine's load: that is not asserted).
  t.true(elapsed >= 290, `${elapsed} ms`);
  t.regex(rec.closed[0], /^connect-timeout/);
  t.is(fake.packets[0]?.cmd, "connect", "CONNECT was sent");
  await sleep(100);
  t.is(rec.closed.length, 1);
});

test("keep-alive timeout: CONNACK then silence gives PINGREQ at 0.75 x keepAlive and one onClosed at 1.5 x", async (t) => {
  const pings: number[] = [];
  const start = performance.now();
  const fake = await fakeBroker(createServer(), (packet, socket) => {
    if (packet.cmd === "connect") send(socket, connack());
    if (packet.cmd === "pingreq") pings.push(performance.now() - start); // never answered
  });
  const transport = new NodeMqttTransport({ url: `mqtt://127.0.0.1:${fake.port}` });
  const rec = new Recorder();
  await rec.connect(transport, { clientId: "d", keepAlive: 1 });
  await rec.until(() => rec.closed.length > 0, 3000, "keep-alive timeout");
  const elapsed = performance.now() - start;
  t.regex(rec.closed[0], /^keepalive-timeout/);
  t.true(elapsed >= 1450, `${elapsed} ms`);
  t.true(pings.length >= 1 && pings[0] >= 700, JSON.stringify(pings));
  await sleep(100);
  t.is(rec.closed.length, 1);
});

test("CONNACK refused: one onClosed with the return code", async (t) => {
  const fake = await fakeBroker(createServer(), (packet, socket) => {
    if (packet.cmd === "connect") send(socket, connack(5));
  });
  const transport = new NodeMqttTransport({ url: `mqtt://127.0.0.1:${fake.port}` });
  const rec = new Recorder();
  transport.open({ clientId: "d", keepAlive: 30, cleanSession: true, username: "u", password: Uint8Array.of(1, 2) }, rec.handlers);
  await rec.until(() => rec.closed.length > 0);
  t.deepEqual(rec.closed, ["connack-refused 5 (not authorized)"]);
  t.deepEqual(rec.connected, []);
  const connect = fake.packets[0] as Extract<Packet, { cmd: "connect" }>;
  t.is(connect.protocolVersion, 4);
  t.is(connect.username, "u");
  t.deepEqual(new Uint8Array(connect.password as Buffer), Uint8Array.of(1, 2));
});

test("SUBACK failure (0x80) ends the connection with subscribe-refused", async (t) => {
  const fake = await fakeBroker(createServer(), (packet, socket) => {
    if (packet.cmd === "connect") send(socket, connack());
    if (packet.cmd === "subscribe") send(socket, { cmd: "suback", messageId: packet.messageId, granted: [1, 0x80] });
  });
  const transport = new NodeMqttTransport({ url: `mqtt://127.0.0.1:${fake.port}` });
  const rec = new Recorder();
  await rec.connect(transport, { clientId: "d" });
  transport.subscribe(["a/b", "c/#"], 1, 77);
  await rec.until(() => rec.closed.length > 0);
  t.deepEqual(rec.closed, ["subscribe-refused"]);
  const subscribe = fake.packets.find((p) => p.cmd === "subscribe") as Extract<Packet, { cmd: "subscribe" }>;
  t.is(subscribe.messageId, 77);
  t.deepEqual(subscribe.subscriptions, [
    { topic: "a/b", qos: 1 },
    { topic: "c/#", qos: 1 },
  ]);
});

test("an incoming packet over 256 KiB other than a PUBLISH ends the connection as soon as its length is known", async (t) => {
  const fake = await fakeBroker(createServer(), (packet, socket) => {
    if (packet.cmd === "connect") {
      send(socket, connack());
      // A SUBACK header announcing 300 KiB, and only a few bytes of it.
      const length = 300 * 1024;
      socket.write(Buffer.from([0x90, (length & 0x7f) | 0x80, ((length >> 7) & 0x7f) | 0x80, length >> 14, 0, 1]));
    }
  });
  const transport = new NodeMqttTransport({ url: `mqtt://127.0.0.1:${fake.port}` });
  const rec = new Recorder();
  transport.open({ clientId: "d", keepAlive: 30, cleanSession: true }, rec.handlers);
  await rec.until(() => rec.closed.length > 0);
  t.deepEqual(rec.connected, [false]);
  t.regex(rec.closed[0], /^packet-too-large/);
  t.is(MAX_INCOMING_PACKET, 256 * 1024);
});

test("an oversized PUBLISH is read past without buffering, acknowledged and reported; the next message arrives", async (t) => {
  const size = 300 * 1024;
  const fake = await fakeBroker(createServer(), async (packet, socket) => {
    if (packet.cmd !== "connect") return;
    send(socket, connack());
    const big = generate({ cmd: "publish", topic: "gh/d/cmd/x", payload: Buffer.alloc(size, 0x5a), qos: 1, messageId: 77, dup: false, retain: false });
    // In pieces, as a network delivers it.
    for (let at = 0; at < big.length; at += 50_000) {
      socket.write(big.subarray(at, at + 50_000));
      await sleep(2);
    }
    socket.write(generate({ cmd: "publish", topic: "gh/d/cmd/y", payload: Buffer.from([1, 2, 3]), qos: 1, messageId: 78, dup: false, retain: false }));
  });
  const transport = new NodeMqttTransport({ url: `mqtt://127.0.0.1:${fake.port}` });
  const rec = new Recorder();
  await rec.connect(transport, { clientId: "d" });
  await rec.until(() => rec.messages.length === 1, 5000, "the message after the oversized one");
  t.deepEqual(rec.oversized.map(([topic]) => topic), ["gh/d/cmd/x"]);
  t.true(rec.oversized[0][1] > size, "the whole packet's size");
  t.deepEqual(rec.messages.map((m) => [m.topic, Array.from(m.payload)]), [["gh/d/cmd/y", [1, 2, 3]]]);
  const pubacks = () => fake.packets.filter((p): p is Extract<Packet, { cmd: "puback" }> => p.cmd === "puback");
  for (let i = 0; i < 200 && pubacks().length < 2; i++) await sleep(10);
  t.deepEqual(pubacks().map((p) => p.messageId), [77, 78], "both acknowledged, in order");
  t.deepEqual(rec.closed, [], "the connection stays up");
  transport.close(false);
});

test("fragmented and coalesced packets: exact messages, QoS 1 acknowledged with its id", async (t) => {
  const big = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff);
  const fake = await fakeBroker(createServer(), async (packet, socket) => {
    if (packet.cmd !== "connect") return;
    send(socket, connack());
    const first = generate({ cmd: "publish", topic: "t/1", payload: Buffer.from(big), qos: 1, messageId: 300, dup: true, retain: false });
    // One byte at a time through the two-byte remaining length, then the rest in two pieces.
    for (let i = 0; i < 4; i++) {
      socket.write(first.subarray(i, i + 1));
      await sleep(5);
    }
    socket.write(first.subarray(4, 500));
    await sleep(5);
    socket.write(first.subarray(500));
    // Two packets in one write.
    socket.write(
      Buffer.concat([
        generate({ cmd: "publish", topic: "t/2", payload: Buffer.from([]), qos: 0, dup: false, retain: false }),
        generate({ cmd: "publish", topic: "t/3", payload: Buffer.from(ALL_BYTES), qos: 1, messageId: 301, dup: false, retain: false }),
      ]),
    );
  });
  const transport = new NodeMqttTransport({ url: `mqtt://127.0.0.1:${fake.port}` });
  const rec = new Recorder();
  await rec.connect(transport, { clientId: "d" });
  await rec.until(() => rec.messages.length === 3);
  t.deepEqual(rec.messages, [
    { topic: "t/1", payload: big, qos: 1, duplicate: true },
    { topic: "t/2", payload: new Uint8Array(0), qos: 0, duplicate: false },
    { topic: "t/3", payload: ALL_BYTES, qos: 1, duplicate: false },
  ]);
  await sleep(100);
  const acks = fake.packets.filter((p) => p.cmd === "puback").map((p) => p.messageId);
  t.deepEqual(acks, [300, 301]);
  transport.close(true);
  await sleep(100);
  t.is(fake.packets.at(-1)?.cmd, "disconnect", "a graceful close sends DISCONNECT");
});

test("a graceful close from inside onMessage still acknowledges that message, before DISCONNECT", async (t) => {
  const fake = await fakeBroker(createServer(), (packet, socket) => {
    if (packet.cmd !== "connect") return;
    send(socket, connack());
    send(socket, { cmd: "publish", topic: "t", payload: Buffer.from([1]), qos: 1, messageId: 9, dup: false, retain: false });
  });
  const transport = new NodeMqttTransport({ url: `mqtt://127.0.0.1:${fake.port}` });
  const rec = new Recorder();
  const handlers: TransportHandlers = { ...rec.handlers, onMessage: () => transport.close(true) };
  transport.open({ clientId: "d", keepAlive: 30, cleanSession: true }, handlers);
  await rec.until(() => rec.closed.length > 0);
  await sleep(100);
  t.deepEqual(rec.closed, ["closed by device"]);
  t.deepEqual(
    fake.packets.map((p) => (p.cmd === "puback" ? `puback ${p.messageId}` : p.cmd)),
    ["connect", "puback 9", "disconnect"],
  );
});

// A self-signed P-256 certificate for localhost and 127.0.0.1, valid 2000-2100; test use only.
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgX7qoo0QBAuOHFKWW
yR6R64hh1UdEeHuXZlPDIT9ryFuhRANCAARX0pdb1biBDWsEOKp8zqWGhh2lKB8L
+Gel8RQLYMCEHGqCehDkACnPirdwiMZ7RbrpN3EjGto59iabBbIopiA5
-----END PRIVATE KEY-----
`;
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBZzCCAQ2gAwIBAgIBATAKBggqhkjOPQQDAjAUMRIwEAYDVQQDDAlsb2NhbGhv
c3QwIBcNMDAwMTAxMDAwMDAwWhgPMjEwMDAxMDEwMDAwMDBaMBQxEjAQBgNVBAMM
CWxvY2FsaG9zdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFfSl1vVuIENawQ4
qnzOpYaGHaUoHwv4Z6XxFAtgwIQcaoJ6EOQAKc+Kt3CIxntFuuk3cSMa2jn2JpsF
siimIDmjTjBMMBoGA1UdEQQTMBGCCWxvY2FsaG9zdIcEfwAAATAPBgNVHRMBAf8E
BTADAQH/MB0GA1UdDgQWBBQC9nGA4YJZ3fsklPOOuzs/+Y7PpjAKBggqhkjOPQQD
AgNIADBFAiARCNgfk3bS/xphN14AzopvTARjKaJjKPuDEfM+xgMV6AIhAMqluV3Z
q82l17Pw3qcHU/iqcT9wkiaCJye+dyA2y+9/
-----END CERTIFICATE-----
`;

test("mqtts://: TLS with the broker's CA connects; an unknown certificate is one onClosed", async (t) => {
  const fake = await fakeBroker(createTlsServer({ key: TEST_KEY, cert: TEST_CERT }), (packet, socket) => {
    if (packet.cmd === "connect") send(socket, connack());
  });
  const trusted = new NodeMqttTransport({ url: `mqtts://127.0.0.1:${fake.port}`, tls: { ca: TEST_CERT } });
  const rec = new Recorder();
  t.false(await rec.connect(trusted, { clientId: "tls" }));
  trusted.close(true);

  const untrusted = new NodeMqttTransport({ url: `mqtts://127.0.0.1:${fake.port}` });
  const rec2 = new Recorder();
  untrusted.open({ clientId: "tls", keepAlive: 30, cleanSession: true }, rec2.handlers);
  await rec2.until(() => rec2.closed.length > 0);
  await sleep(100);
  t.is(rec2.closed.length, 1);
  t.regex(rec2.closed[0], /^tls-refused the broker's certificate is self-signed, not issued by the CA configured here \(DEPTH_ZERO_SELF_SIGNED_CERT\)$/);
});

test("URLs: mqtt:// and mqtts:// only; publish and subscribe never throw while disconnected", (t) => {
  for (const url of ["http://127.0.0.1:1883", "ws://h", "mqtt://", "mqtt://h:0", "not a url", "tcp://h:1883"]) {
    const e = t.throws(() => new NodeMqttTransport({ url }));
    t.is(errorCode(e), "transport-url", url);
  }
  new NodeMqttTransport({ url: "mqtt://localhost" });
  new NodeMqttTransport({ url: "mqtts://[::1]" });
  const transport = new NodeMqttTransport({ url: "mqtt://127.0.0.1:1" });
  t.notThrows(() => transport.publish("t", new Uint8Array(3), 1, true, 1, true));
  t.notThrows(() => transport.subscribe(["t"], 1, 1));
  t.notThrows(() => transport.close(true));
});

test("invalid connect options: one onClosed after open() returns, no socket", async (t) => {
  const transport = new NodeMqttTransport({ url: mosquitto.url });
  const rec = new Recorder();
  transport.open({ clientId: "d", keepAlive: 70000, cleanSession: true }, rec.handlers);
  t.deepEqual(rec.closed, []);
  await rec.until(() => rec.closed.length > 0);
  t.regex(rec.closed[0], /^connect-invalid/);
  await sleep(50);
  t.is(rec.closed.length, 1);
});

// ---------------------------------------------------------------------------------------------------------
// Storage and platform

test("FileStorage: round trip, survives a new instance, missing key, remove, no temp files left", (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), "gatehouse-storage-")), "nested", "store");
  try {
    const a = new FileStorage(dir);
    t.is(a.read("missing"), undefined);
    const value = ALL_BYTES.slice();
    a.write("seq.out", value);
    value[0] = 99; // the store kept a copy
    t.deepEqual(a.read("seq.out"), ALL_BYTES);
    a.write("seq.out", Uint8Array.of(1));
    a.write("empty", new Uint8Array(0));
    const b = new FileStorage(dir);
    t.deepEqual(b.read("seq.out"), Uint8Array.of(1));
    t.deepEqual(b.read("empty"), new Uint8Array(0));
    b.remove("seq.out");
    b.remove("seq.out"); // removing a missing key is fine
    t.is(a.read("seq.out"), undefined);
    t.deepEqual(readdirSync(dir).sort(), ["empty"]);
    // A temp file left by an interrupted write is cleaned up on open; the key's old value stands.
    writeFileSync(join(dir, "~empty.1234.tmp"), "partial");
    const c = new FileStorage(dir);
    t.deepEqual(readdirSync(dir), ["empty"]);
    t.deepEqual(c.read("empty"), new Uint8Array(0));
    for (const bad of ["", ".", "..", "a/b", "../x", "~x"]) t.is(errorCode(t.throws(() => c.write(bad, Uint8Array.of(1)))), "storage-key", bad);
    t.false(existsSync(join(dir, "..", "x")));
  } finally {
    rmSync(join(dir, "..", ".."), { recursive: true, force: true });
  }
});

test("MemoryStorage: round trip with copies in and out", (t) => {
  const s = new MemoryStorage();
  t.is(s.read("k"), undefined);
  const v = Uint8Array.of(1, 2, 3);
  s.write("k", v);
  v[0] = 9;
  const out = s.read("k") as Uint8Array;
  t.deepEqual(out, Uint8Array.of(1, 2, 3));
  out[1] = 9;
  t.deepEqual(s.read("k"), Uint8Array.of(1, 2, 3));
  s.remove("k");
  t.is(s.read("k"), undefined);
  t.deepEqual(s.keys(), []);
});

test("nodeClock and nodeTimers", async (t) => {
  const wall = nodeClock.wallTime() as number;
  t.true(Math.abs(wall - Date.now()) < 1000);
  const m1 = nodeClock.monotonic();
  await sleep(20);
  t.true(nodeClock.monotonic() - m1 >= 15);
  let fired = 0;
  const h = nodeTimers.set(() => fired++, 10);
  nodeTimers.clear(h);
  nodeTimers.set(() => fired += 10, 10);
  await sleep(50);
  t.is(fired, 10);
});
