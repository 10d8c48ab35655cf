// Loss made visible at the fleet server, through a real mosquitto (issue 11): normal operation (the
// offline queue sent after the next birth, a reboot, a server restart seeing the retained birth again)
// records no loss; a publication that never arrives is recorded with its range; what the device's own
// offline queue dropped is told apart; what the server's ingest queue cannot hold is recorded too; and
// ingestion is batched, not one transaction per message.
import test from "ava";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type MqttClient } from "mqtt";
import { randomBytes } from "node:crypto";
import { utf8 } from "../sdk/cbor/encode";
import type { CborObject } from "../sdk/cbor/types";
import { publicKey, type CoseKey } from "../sdk/cose/key";
import { Device } from "../sdk/device";
import type { PublicationKind } from "../sdk/session/publications";
import { signRawPublication } from "./conformance/raw-publications";
import { nodeCrypto } from "../ports/node/crypto";
import { MemoryStorage } from "../ports/node/storage";
import { generateDeviceKey } from "../host/identity-files";
import { FleetServer, type FleetServerOptions } from "../host/server/index";
import type { EventRow } from "../host/server/store";
import { startMosquitto } from "./support/brokers";
import { installCounter, nodeDeviceOptions, sleep, until } from "./support/devices";

const OPERATOR = nodeCrypto.generateKey("EdDSA", utf8("loss-operator"));
const GRACE_MS = 300;

const unique = (name: string) => `${name}-${randomBytes(4).toString("hex")}`;

async function client(url: string): Promise<MqttClient> {
  const c = connect(url, { protocolVersion: 4, clean: true, reconnectPeriod: 100 });
  c.on("error", () => {});
  await until("an MQTT connection", () => c.connected, 10_000);
  return c;
}

function serverOptions(brokerUrl: string, dbPath: string, clientId: string, more: Partial<FleetServerOptions> = {}): FleetServerOptions {
  return { brokerUrl, dbPath, clientId, gapGraceMs: GRACE_MS, sweepIntervalMs: 50, ...more };
}

const lossEvents = (server: FleetServer): EventRow[] => server.events({ limit: 1000 }).filter((e) => e.source === "server");

/** Signs publications as device `id` would, numbering them by hand (so the test decides what is lost). */
function forger(id: string, key: CoseKey, stream: number) {
  let seq = stream;
  return {
    sign(kind: PublicationKind, fields: CborObject, seqOverride?: number): Buffer {
      const s = seqOverride ?? seq++;
      return Buffer.from(signRawPublication(nodeCrypto, key, kind, { ...fields, device: id, seq: s }));
    },
    birth(session: number, next: number, droppedRanges: [number, number][] = []): Buffer {
      seq = Math.max(seq, session + 2);
      const dropped = droppedRanges.length > 0 ? { telemetry: droppedRanges.reduce((n, [a, b]) => n + b - a + 1, 0) } : {};
      return this.sign("birth", { session, firmware: "f", patch: 0, epoch: 0, doors: [], dropped, droppedRanges, stream, next }, session + 1);
    },
    death(session: number): Buffer {
      return this.sign("death", { session }, session);
    },
    tick(index: number): Buffer {
      return this.sign("telemetry", { door: "counter", event: "tick", data: index, time: null, stream, index });
    },
  };
}

test("normal operation records no loss: queue sent after the next birth, a reboot, a server restart seeing the retained birth again", async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-loss-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const options = serverOptions(broker.url, join(dir, "fleet.db"), unique("loss-server"));
  let server = await FleetServer.start(options);
  t.teardown(() => server.stop());
  const id = "loss-1";
  const key = generateDeviceKey(id);
  server.registerDevice(id, publicKey(key));
  const storage = new MemoryStorage();
  const boot = () => {
    const device = new Device(nodeDeviceOptions(broker.url, id, key, OPERATOR, { storage, session: { queueLimit: 100 } }));
    return { device, door: installCounter(device, () => {}) };
  };
  const latest = () => server.device(id)?.telemetry[0]?.data;
  let { device, door } = boot();
  t.teardown(() => device.stop(false));
  device.start();
  await until("online", () => server.devices()[0]?.online);
  for (let i = 0; i < 10; i++) door.emit("tick", i);
  await until("tick 9", () => latest() === 9);

  // Offline (the will is published), ten ticks queued, back: the new birth announces them before they come.
  device.stop(false);
  await until("offline", () => !server.devices()[0].online);
  for (let i = 10; i < 20; i++) door.emit("tick", i);
  device.start();
  await until("tick 19", () => latest() === 19);

  // A reboot on the same storage: the persistent seq skips ahead, indices start again at 0.
  device.stop(false);
  await until("offline again", () => !server.devices()[0].online);
  ({ device, door } = boot());
  device.start();
  for (let i = 20; i < 25; i++) door.emit("tick", i);
  await until("tick 24", () => latest() === 24);

  // The server restarts on its database and session: the retained birth arrives again.
  await server.stop();
  server = await FleetServer.start(options);
  await until("the retained birth seen again", () => server.duplicates >= 1);
  for (let i = 25; i < 30; i++) door.emit("tick", i);
  await until("tick 29", () => latest() === 29);

  await sleep(GRACE_MS * 4); // long enough for anything overdue to be declared
  t.deepEqual(
    lossEvents(server).map((e) => `${e.code}: ${e.detail}`),
    [],
  );
});

test("a publication that never arrives is recorded with its range; the device's own reported drops are told apart", async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const server = await FleetServer.start(serverOptions(broker.url, ":memory:", unique("loss-server")));
  t.teardown(() => server.stop());
  const id = "loss-2";
  const key = generateDeviceKey(id);
  server.registerDevice(id, publicKey(key));
  const device = forger(id, key, 1000);
  const mqtt = await client(broker.url);
  t.teardown(() => void mqtt.end(true));
  const publish = (kind: string, payload: Buffer) => mqtt.publishAsync(`gh/${id}/${kind}`, payload, { qos: 1 });

  await publish("birth", device.birth(1000, 0));
  for (const index of [0, 1, 2, 4]) await publish("telemetry", device.tick(index)); // 3 is lost on the way
  const missing = await until("publications-missing", () => lossEvents(server).find((e) => e.code === "publications-missing"));
  t.like(missing, { device: id, source: "server", allowed: false });
  t.regex(missing.detail ?? "", /^1 of 1 publication\(s\) never arrived \(stream 1000, index 3; overdue by more than 300 ms\): lost between the device and this server/);

  // The connection ends (its will), the device reconnects: its queue dropped 5 and 6 (its birth says 2
  // drops) and one more is lost on the way (8).
  await publish("death", device.death(1000));
  await publish("birth", device.birth(1010, 10, [[5, 6]]));
  for (const index of [7, 9]) await publish("telemetry", device.tick(index));
  const dropped = await until("publications-dropped", () => lossEvents(server).find((e) => e.code === "publications-dropped"));
  t.is(dropped.detail, "2 of 3 publication(s) not received (stream 1000, index 5-6) were dropped by the device's own offline queue, as its birth reports");
  const second = await until("the second publications-missing", () => lossEvents(server).filter((e) => e.code === "publications-missing")[1]);
  t.regex(second.detail ?? "", /^1 of 3 publication\(s\) never arrived \(stream 1000, index 8; overdue by more than 300 ms\)/);
  await sleep(GRACE_MS * 2);
  t.deepEqual(
    lossEvents(server).map((e) => e.code),
    ["publications-missing", "publications-dropped", "publications-missing"],
    "nothing else: no takeover (the death came), no duplicate reports",
  );
});

test("a real device's offline-queue drops are recorded as publications-dropped, none as missing", async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const server = await FleetServer.start(serverOptions(broker.url, ":memory:", unique("loss-server")));
  t.teardown(() => server.stop());
  const id = "loss-3";
  const key = generateDeviceKey(id);
  server.registerDevice(id, publicKey(key));
  const device = new Device(nodeDeviceOptions(broker.url, id, key, OPERATOR, { session: { queueLimit: 4 } }));
  const door = installCounter(device, () => {});
  t.teardown(() => device.stop(false));
  device.start();
  await until("online", () => server.devices()[0]?.online);
  device.stop(false);
  await until("offline", () => !server.devices()[0].online);
  for (let i = 0; i < 10; i++) door.emit("tick", i); // 4 fit
  device.start();
  await until("the last tick", () => server.device(id)?.telemetry[0]?.data === 9);
  const dropped = await until("publications-dropped", () => lossEvents(server).find((e) => e.code === "publications-dropped"));
  t.regex(dropped.detail ?? "", /^7 of 7 publication\(s\) not received \(stream \d+, index 0-6\) were dropped by the device's own offline queue, as its birth reports$/);
  t.is(device.dropped.telemetry, 7, "6 ticks, and one more for the drop report's own place");
  await sleep(GRACE_MS * 2);
  t.deepEqual(
    lossEvents(server).map((e) => e.code),
    ["publications-dropped"],
  );
  t.true(server.events({ device: id }).some((e) => e.source === "device" && e.code === "queue-dropped"), "the device's own report arrived too");
});

test("ingestion is batched, and what the ingest queue cannot hold is recorded (ingest-dropped, and the gap it leaves)", async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const server = await FleetServer.start(serverOptions(broker.url, ":memory:", unique("loss-server"), { ingest: { perKeyMessages: 50 } }));
  t.teardown(() => server.stop());
  const id = "loss-4";
  const key = generateDeviceKey(id);
  server.registerDevice(id, publicKey(key));
  server.store.db.exec(`
    CREATE TEMP TABLE telemetry_log (seq INTEGER NOT NULL);
    CREATE TEMP TRIGGER telemetry_log_insert AFTER INSERT ON main.telemetry BEGIN INSERT INTO telemetry_log VALUES (new.seq); END;
    CREATE TEMP TRIGGER telemetry_log_update AFTER UPDATE ON main.telemetry BEGIN INSERT INTO telemetry_log VALUES (new.seq); END;
  `);
  let transactions = 0;
  const transaction = server.store.transaction.bind(server.store);
  server.store.transaction = (run) => {
    transactions++;
    return transaction(run);
  };
  const device = forger(id, key, 2000);
  const mqtt = await client(broker.url);
  t.teardown(() => void mqtt.end(true));
  await mqtt.publishAsync(`gh/${id}/birth`, device.birth(2000, 0), { qos: 1 });
  await until("the birth", () => server.devices()[0]?.online);
  const N = 600;
  const ticks = Array.from({ length: N }, (_, i) => device.tick(i));
  transactions = 0;
  await Promise.all(ticks.map((payload) => mqtt.publishAsync(`gh/${id}/telemetry`, payload, { qos: 1 })));
  const ingestDropped = await until("ingest-dropped", () => lossEvents(server).find((e) => e.code === "ingest-dropped"), 20_000);
  t.regex(ingestDropped.detail ?? "", new RegExp(`^\\d+ message\\(s\\) for ${id} \\(\\d+ bytes, e\\.g\\. on gh/${id}/telemetry\\) dropped: the server's ingest queue was full$`));
  const sum = (code: string, pattern: RegExp) =>
    lossEvents(server)
      .filter((e) => e.code === code)
      .reduce((n, e) => n + Number(pattern.exec(e.detail ?? "")?.[1]), 0);
  // Every tick of the burst is stored or counted as dropped at ingest.
  const stored = () => (server.store.db.prepare("SELECT count(*) AS n FROM telemetry_log").get() as { n: number }).n;
  await until("the burst stored or counted", () => stored() + sum("ingest-dropped", /^(\d+) message/) === N);
  // One more tick: what the device publishes next shows the server which indices exist (a loss at the
  // very end of a stream shows only then).
  await mqtt.publishAsync(`gh/${id}/telemetry`, device.tick(N), { qos: 1 });
  // The ticks dropped leave gaps in the stream, recorded as missing once overdue: the two counts agree.
  await until("the stored ticks and the recorded gaps to add up", () => {
    const dropped = sum("ingest-dropped", /^(\d+) message/);
    const missing = sum("publications-missing", /^(\d+) of/);
    return missing > 0 && missing === dropped && stored() + dropped === N + 1;
  });
  const droppedCount = sum("ingest-dropped", /^(\d+) message/);
  t.log(`${N} telemetry messages stored in ${transactions} transactions; ${droppedCount} dropped by the ingest queue`);
  t.true(transactions < N / 4, `batched: ${transactions} transactions for ${N} messages`);
});
