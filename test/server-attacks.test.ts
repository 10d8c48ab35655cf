// The fleet server against the attacks of issue 11 that go through the broker, with real parts: a
// real mosquitto, real devices (sdk/device.ts over the Node ports), real hostile clients (MQTT.js,
// mosquitto_pub).
//   - a client that takes a device's MQTT session over (its client id): recorded as session-takeover; a
//     command it took while the device was away, published again later, is refused as expired;
//   - 100 MiB publications: refused by size before the server buffers them (MQTT 5 maximum packet
//     size), or after receipt with an event when the broker speaks only 3.1.1 (aedes);
//   - a retained birth cleared or replaced by garbage: recorded, also by a server that starts later.
import test from "ava";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type MqttClient } from "mqtt";
import { utf8 } from "../sdk/cbor/encode";
import { publicKey } from "../sdk/cose/key";
import { Device } from "../sdk/device";
import { errorCode } from "../sdk/errors";
import { signPublication } from "../sdk/session/publications";
import { TrustList } from "../sdk/trust";
import { nodeCrypto } from "../ports/node/crypto";
import { CommandClient } from "../host/client/command-client";
import { generateDeviceKey, writeIdentity } from "../host/identity-files";
import { FleetServer } from "../host/server/index";
import { startAedes, startMosquitto } from "./support/brokers";
import { installCounter, nodeDeviceOptions, until } from "./support/devices";

const OPERATOR = nodeCrypto.generateKey("EdDSA", utf8("attack-operator"));
const unique = (name: string) => `${name}-${randomBytes(4).toString("hex")}`;

function mqtt(url: string, options: Parameters<typeof connect>[1] = {}): MqttClient {
  const client = connect(url, { protocolVersion: 4, clean: true, reconnectPeriod: 0, ...options });
  client.on("error", () => {});
  return client;
}

test("a client that takes a device's session over is recorded as session-takeover; a command it took is refused when replayed after its expiry", async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", clientId: unique("attack-server") });
  t.teardown(() => server.stop());
  const id = "hijacked";
  const key = generateDeviceKey(id);
  server.registerDevice(id, publicKey(key));
  const executions: number[] = [];
  const device = new Device(nodeDeviceOptions(broker.url, id, key, OPERATOR));
  installCounter(device, (index) => executions.push(index));
  device.start();
  t.teardown(() => device.stop(false));
  await until("online", () => server.devices()[0]?.online);
  const takeovers = () => server.events({ device: id }).filter((e) => e.code === "session-takeover");

  // 1. A client connects with the device's client id (clean session false, as the attacker did):
  // the broker closes the device's connection, the device comes back and pushes the intruder out.
  const intruder = mqtt(broker.url, { clientId: id, clean: false });
  t.teardown(() => void intruder.end(true));
  const first = await until("a session-takeover event", () => takeovers()[0]);
  t.like(first, { source: "server", allowed: false, device: id });
  t.regex(first.detail ?? "", /^session \d+ replaced session \d+ of the same boot, whose connection ended without its will: the broker handed the device's client id to a new connection\./);
  t.true(server.devices()[0].online, "the device is back");

  // 2. An intruder that keeps coming back: the connects pile up, and that is recorded too.
  const persistent = mqtt(broker.url, { clientId: id, clean: false, reconnectPeriod: 50 });
  await until("repeated connects recorded", () => takeovers().find((e) => /connects of the same boot within 60 s/.test(e.detail ?? "")), 20_000);
  persistent.end(true);
  await until("the device settled online", () => device.state === "online" && server.devices()[0].online, 20_000);

  // 3. The device is away; a command waits in its session at the broker. The sender is told what is
  // known (the broker took it, the device is offline) and that it expires.
  device.stop(false);
  await until("offline", () => !server.devices()[0].online);
  const operator = await CommandClient.connect({ brokerUrl: broker.url, key: OPERATOR });
  t.teardown(() => operator.close());
  const expiresInSeconds = 2;
  const sent = Date.now();
  const error = await t.throwsAsync(operator.send({ device: id, door: "counter", op: "invoke.hit", args: 5, deviceKey: publicKey(key), timeoutMs: 500, expiresInSeconds }));
  t.is(errorCode(error), "no-result");
  t.regex(error?.message ?? "", /According to the device's latest birth and death \(verified\), the device is offline \(its session \d+ ended\)\. The broker delivers the command when the device reconnects only if it still holds the device's persistent session/);
  // A thief takes the session and with it the queued command (MQTT.js acknowledges it).
  let stolen: Buffer | undefined;
  const thief = mqtt(broker.url, { clientId: id, clean: false });
  t.teardown(() => void thief.end(true));
  thief.on("message", (topic, payload) => {
    if (topic === `gh/${id}/cmd/counter`) stolen = Buffer.from(payload);
  });
  const command = await until("the stolen command", () => stolen);
  await thief.endAsync();
  device.start();
  await until("online again", () => server.devices()[0].online);
  t.deepEqual(executions, [], "the device never got it");
  // Later than its expiry, the thief publishes it to the device: refused.
  await until("the command's expiry passed", () => Date.now() >= sent + (expiresInSeconds + 1) * 1000, 10_000);
  const replayer = mqtt(broker.url);
  t.teardown(() => void replayer.end(true));
  await until("the replayer connected", () => replayer.connected);
  await replayer.publishAsync(`gh/${id}/cmd/counter`, command, { qos: 1 });
  const refused = await until("the device's answer", () => server.store.results(id, 10).find((r) => r.op === "invoke.hit"));
  t.like(refused, { ok: false, code: "expired" });
  t.deepEqual(executions, [], "not executed");
});

test("a death the server did not expect (an older session ending after a newer one began) is recorded as session-takeover", async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", clientId: unique("attack-server") });
  t.teardown(() => server.stop());
  const id = "two-at-once";
  const key = generateDeviceKey(id);
  server.registerDevice(id, publicKey(key));
  const sign = (kind: "birth" | "death", session: number, seq: number) =>
    Buffer.from(
      signPublication(nodeCrypto, key, kind, kind === "birth" ? { device: id, seq, session, firmware: "f", patch: 0, epoch: 0, doors: [], dropped: {}, droppedRanges: [], stream: 100, next: 0 } : { device: id, seq, session }),
    );
  const client = mqtt(broker.url);
  t.teardown(() => void client.end(true));
  await until("connected", () => client.connected);
  // Session 100 connects; session 110 of the same boot connects while 100 is still up (no death); then
  // 100's will arrives: two connections under one client id.
  await client.publishAsync(`gh/${id}/birth`, sign("birth", 100, 101), { qos: 1 });
  await client.publishAsync(`gh/${id}/birth`, sign("birth", 110, 111), { qos: 1 });
  await client.publishAsync(`gh/${id}/death`, sign("death", 100, 100), { qos: 1 });
  const events = await until("two takeover events", () => {
    const rows = server.events({ device: id }).filter((e) => e.code === "session-takeover");
    return rows.length === 2 && rows;
  });
  t.regex(events[0].detail ?? "", /^session 110 replaced session 100 of the same boot, whose connection ended without its will/);
  t.is(events[1].detail, "the death of session 100 arrived while session 110 was current: two connections used the device's client id at the same time.");
  t.true(server.devices()[0].online, "session 110 is still the current one");
});

test("100 MiB publications on a birth and an events topic are refused by size before the server buffers them", async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const lines: string[] = [];
  const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", clientId: unique("attack-server"), log: (line) => lines.push(line) });
  t.teardown(() => server.stop());
  t.true(lines.some((l) => /MQTT 5, maximum packet \d+ bytes/.test(l)), lines.join("\n"));
  const id = "big-1";
  const key = generateDeviceKey(id);
  server.registerDevice(id, publicKey(key));

  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  t.teardown(() => clearInterval(sampler));
  // mosquitto_pub in its own process: only the server's memory is in this one.
  const publish100MiB = (topic: string) =>
    new Promise<number | null>((resolve) => {
      const child = spawn("sh", ["-c", `head -c 104857600 /dev/zero | mosquitto_pub -h 127.0.0.1 -p ${broker.port} -q 1 -t ${topic} -s`], { stdio: "ignore" });
      child.on("close", resolve);
    });
  t.deepEqual(await Promise.all([publish100MiB(`gh/${id}/birth`), publish100MiB(`gh/${id}/events`)]), [0, 0], "mosquitto took both");
  // A real birth behind them still gets through: the server was never stuck on them.
  const birth = signPublication(nodeCrypto, key, "birth", { device: id, seq: 2, session: 1, firmware: "f", patch: 0, epoch: 0, doors: [], dropped: {}, droppedRanges: [], stream: 1, next: 0 });
  const client = mqtt(broker.url);
  t.teardown(() => void client.end(true));
  await until("connected", () => client.connected);
  await client.publishAsync(`gh/${id}/birth`, Buffer.from(birth), { qos: 1 });
  await until("the real birth", () => server.devices()[0].online, 30_000);
  clearInterval(sampler);
  const growth = peak - before;
  t.log(`server process RSS grew by ${(growth / 1048576).toFixed(1)} MiB at most while 2 x 100 MiB were published`);
  t.true(growth < 64 * 1048576, `RSS grew by ${(growth / 1048576).toFixed(1)} MiB`);
});

test("with an MQTT 3.1.1 broker (aedes) an oversized publication arrives, and is refused unread with an event", async (t) => {
  const broker = await startAedes();
  t.teardown(() => broker.stop());
  const lines: string[] = [];
  const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", clientId: unique("attack-server"), log: (line) => lines.push(line) });
  t.teardown(() => server.stop());
  t.true(lines.some((l) => /MQTT 3\.1\.1: larger messages are refused after they arrive/.test(l)), lines.join("\n"));
  const id = "big-2";
  server.registerDevice(id, publicKey(generateDeviceKey(id)));
  const client = mqtt(broker.url);
  t.teardown(() => void client.end(true));
  await until("connected", () => client.connected);
  await client.publishAsync(`gh/${id}/events`, Buffer.alloc(1024 * 1024, 0x41), { qos: 1 });
  const event = await until("message-too-large", () => server.events({ device: id }).find((e) => e.code === "message-too-large"));
  t.is(event.detail, `event on gh/${id}/events: 1048576 bytes, more than a publication can be (65536); refused unread`);
});

test("a retained birth cleared or replaced by garbage is recorded, also by a server that starts later", async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", clientId: unique("attack-server") });
  t.teardown(() => server.stop());
  const id = "retained-1";
  const key = generateDeviceKey(id);
  server.registerDevice(id, publicKey(key));
  const device = new Device(nodeDeviceOptions(broker.url, id, key, OPERATOR));
  installCounter(device, () => {});
  device.start();
  t.teardown(() => device.stop(false));
  await until("online", () => server.devices()[0]?.online);
  const attacker = mqtt(broker.url);
  t.teardown(() => void attacker.end(true));
  await until("connected", () => attacker.connected);
  const refusals = (s: FleetServer) => s.events({ device: id }).filter((e) => e.source === "server");

  await attacker.publishAsync(`gh/${id}/birth`, Buffer.alloc(0), { qos: 1, retain: true });
  await attacker.publishAsync(`gh/${id}/death`, Buffer.alloc(0), { qos: 1, retain: true });
  const cleared = await until("both clearings recorded", () => refusals(server).length === 2 && refusals(server));
  t.deepEqual(
    cleared.map((e) => [e.code, e.detail]),
    [
      ["retained-cleared", `an empty birth on gh/${id}/birth cleared the retained birth at the broker`],
      ["retained-cleared", `an empty death on gh/${id}/death cleared the retained death at the broker`],
    ],
  );
  t.true(server.devices()[0].online, "the server's own record is unchanged");

  // Garbage in place of the retained birth: refused now, and by a server that starts later.
  await attacker.publishAsync(`gh/${id}/birth`, Buffer.from("not a birth"), { qos: 1, retain: true });
  await until("the garbage refused", () => refusals(server).length === 3);
  // A server that starts now registers the device from its identity folder before it subscribes.
  const identities = mkdtempSync(join(tmpdir(), "gatehouse-attacks-"));
  t.teardown(() => rmSync(identities, { recursive: true, force: true }));
  writeIdentity(identities, { id, key, trust: new TrustList() });
  const late = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", clientId: unique("late-server"), identitiesDir: identities });
  t.teardown(() => late.stop());
  const seen = await until("the late server's record of the retained garbage", () => refusals(late)[0]);
  t.regex(seen.code, /^(cbor|cose)-/);
  t.regex(seen.detail ?? "", /^birth \(retained\) refused: /);
  t.false(late.devices()[0].online, "a server that starts late cannot know the device is online: the broker's ACLs must keep others off gh/<id>/birth");
});
