// Fleet rollouts through a real mosquitto with simulated devices running the update agent: waves that
// start only when the wave before has ended, a halt when failures pass the threshold, an abort (over the
// HTTP API, audited) whose stop makes a downloading device cancel and say so, a rollout that resumes
// after the server restarts on the same database, and one that survives a broker restart.
import test, { type ExecutionContext } from "ava";
import { statSync } from "node:fs";
import { dirname, join } from "node:path";
import { FleetServer, type FleetServerOptions } from "../host/server/fleet-server";
import type { Rollout } from "../host/server/rollouts";
import { FINAL_DEVICE_STATES } from "../host/server/rollouts";
import { createFleetHttpApi } from "../host/server/http-api";
import { Simulator } from "../host/sim/simulator";
import { thermostatApp } from "../host/sim/apps";
import { startMosquitto, type MosquittoBroker } from "./support/brokers";
import { sleep, until } from "./support/devices";
import { SLOT_FILES } from "../sdk/update/file-port";
import { bearer, guardOf, tokenFor } from "./support/api-access";
import { exampleIds, provisionFleet, simUpdate, trustDocument, updateKeys } from "./support/updates";

const KEYS = updateKeys(2);

interface Fleet {
  broker: MosquittoBroker;
  ids: string[];
  dbPath: string;
  server: FleetServer;
  sim: Simulator;
  startServer(options?: Partial<FleetServerOptions>): Promise<FleetServer>;
}

async function fleet(t: ExecutionContext, name: string, count: number, serverOptions: Partial<FleetServerOptions> = {}): Promise<Fleet> {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const ids = Array.from({ length: count }, (_, i) => `${name}-${i + 1}`);
  const provisioned = provisionFleet(ids, trustDocument(KEYS, 2));
  t.teardown(() => provisioned.cleanup());
  const dbPath = join(provisioned.dir, "fleet.db");
  const f = {
    broker,
    ids,
    dbPath,
    async startServer(options: Partial<FleetServerOptions> = {}) {
      const server = await FleetServer.start({ brokerUrl: broker.url, dbPath, identitiesDir: provisioned.identitiesDir, clientId: `${name}-server`, ...serverOptions, ...options });
      t.teardown(() => server.stop());
      return server;
    },
  } as Fleet;
  f.server = await f.startServer();
  f.sim = await Simulator.start({
    example: thermostatApp({ tickMs: 500 }),
    brokerUrl: broker.url,
    devices: count,
    identitiesDir: provisioned.identitiesDir,
    stateDir: join(provisioned.dir, "state"),
    updates: { healthDeadlineMs: 30_000, healthRetryMs: 200, transfer: { retryMs: 500, maxRetryMs: 2000 } },
  });
  t.teardown(() => f.sim.stop());
  await f.sim.waitOnline(count, 30_000);
  await until("births with update state", () => ids.every((id) => f.server.updateState(id)?.installed), 30_000);
  return f;
}

const isFinal = (state: string) => (FINAL_DEVICE_STATES as readonly string[]).includes(state);
const ended = (server: FleetServer, id: string) => {
  const r = server.rollout(id);
  return r !== undefined && r.state !== "running" && r.counts.inFlight === 0 ? r : undefined;
};

test("a rollout in waves: each wave starts only when the one before has ended; every device confirms the new build", async (t) => {
  const f = await fleet(t, "wave", 4);
  const update = simUpdate({ app: "thermostat", firmware: "thermostat-sim 0.3.0", seq: 3, keys: KEYS, payloadBytes: 30_000 });
  const snapshots: Rollout[] = [];
  f.server.rolloutChanges.listen((id) => snapshots.push(f.server.rollout(id)!));
  const created = await f.server.createRollout({ file: update.file, devices: "all", waveSize: 2 });
  t.is(created.waves, 2);
  t.deepEqual(
    created.devices.map((d) => [d.device, d.wave, d.state]),
    [
      ["wave-1", 1, "offered"],
      ["wave-2", 1, "offered"],
      ["wave-3", 2, "pending"],
      ["wave-4", 2, "pending"],
    ],
  );
  const done = await until("the rollout done", () => ended(f.server, created.id), 90_000);
  t.is(done.state, "done", done.reason ?? "");
  t.like(done.counts, { confirmed: 4, refused: 0, rolledBack: 0, failed: 0, pending: 0 });
  for (const id of f.ids) t.is(f.sim.device(id).build.firmware, "thermostat-sim 0.3.0", `${id} runs the new build`);
  // No device of wave 2 moved while a device of wave 1 was still in flight.
  for (const s of snapshots) {
    const wave2Started = s.devices.some((d) => d.wave === 2 && d.state !== "pending");
    if (wave2Started) t.true(s.devices.filter((d) => d.wave === 1).every((d) => isFinal(d.state)), JSON.stringify(s.devices));
  }
  t.true(snapshots.some((s) => s.devices.some((d) => d.state === "downloading" && d.progress > 0 && d.progress < 100)), "progress was seen on the way");
  t.deepEqual(f.server.rollouts().map((r) => r.id), [created.id]);
});

test("a rollout halts when failures pass max failures: no further wave starts, and the refusals keep their codes", async (t) => {
  const f = await fleet(t, "halt", 3);
  // Signed correctly, but for another class of device: every thermostat refuses it.
  const wrongClass = simUpdate({ app: "thermostat", firmware: "x 1", seq: 5, keys: KEYS, spec: { classId: exampleIds("smart-lock").classId } });
  const created = await f.server.createRollout({ file: wrongClass.file, devices: f.ids, waveSize: 1, maxFailures: 1 });
  const halted = await until("halted", () => ended(f.server, created.id), 60_000);
  t.is(halted.state, "halted");
  t.regex(halted.reason ?? "", /2 device\(s\) failed, more than the 1 allowed/);
  t.deepEqual(
    halted.devices.map((d) => [d.device, d.state]),
    [
      ["halt-1", "refused"],
      ["halt-2", "refused"],
      ["halt-3", "pending"],
    ],
  );
  for (const d of halted.devices.slice(0, 2)) t.regex(d.code ?? "", /^suit-/, `${d.device} refused with a SUIT code: ${d.code}`);
  t.is(f.sim.device("halt-3").boots, 1, "the device of the third wave was never offered anything");
  t.is(f.server.transfer.offered("halt-1"), undefined, "blocks are no longer served to a device that ended");
});

test("an abort over the API stops devices that have not installed, is audited, and refuses a second abort", async (t) => {
  // A slow transfer (5 blocks a second) so the abort lands while the first device downloads.
  const f = await fleet(t, "abort", 2, { updates: { requestsPerSecond: 5, requestBurst: 2 } });
  const guard = guardOf(f.server);
  const app = createFleetHttpApi(f.server, { guard });
  const token = tokenFor(guard, "manage", { name: "ops" });
  const call = (method: string, path: string, body?: unknown) =>
    app.fetch(new Request(`http://fleet.test${path}`, { method, headers: { ...bearer(token), ...(body ? { "content-type": "application/json" } : {}) }, body: body ? JSON.stringify(body) : undefined }), { address: "192.0.2.1", secure: false });
  const update = simUpdate({ app: "thermostat", firmware: "thermostat-sim 9", seq: 9, keys: KEYS, payloadBytes: 400_000 });
  const made = await call("POST", "/api/rollouts", { update: Buffer.from(update.file).toString("base64"), devices: f.ids, waveSize: 1 });
  t.is(made.status, 201);
  const { rollout } = (await made.json()) as { rollout: Rollout };
  await until("the first device downloading", () => f.server.rollout(rollout.id)!.devices[0].state === "downloading", 30_000);
  const aborted = await call("POST", `/api/rollouts/${rollout.id}/abort`);
  t.is(aborted.status, 200);
  const after = ((await aborted.json()) as { rollout: Rollout }).rollout;
  t.is(after.state, "aborted");
  t.deepEqual(after.devices.map((d) => d.state), ["aborted", "aborted"]);
  t.is(f.server.transfer.offered("abort-1"), undefined, "the server no longer serves its blocks");
  t.is(f.sim.device("abort-1").build.firmware, "thermostat-sim 0.1.0", "still the old build");
  const audit = guard.audit.entries({}).filter((e) => e.route === "/api/rollouts/:id/abort");
  t.is(audit.length, 1);
  t.like(audit[0], { principal: "ops", status: 200 });
  t.regex(audit[0].detail ?? "", new RegExp(`rollout ${rollout.id} aborted: 2 device\\(s\\) stopped`));
  const again = await call("POST", `/api/rollouts/${rollout.id}/abort`);
  t.is(again.status, 409);
  t.is(((await again.json()) as { error: { code: string } }).error.code, "rollout-ended");
  t.is((await call("GET", "/api/rollouts/r-unknown")).status, 404);
});

test("an abort mid-download sends a stop: the device stops asking for blocks, empties its slot and says aborted, signed; a new rollout then installs", async (t) => {
  // A slow transfer (20 blocks a second) so the abort lands in the middle of the download.
  const f = await fleet(t, "stop", 1, { updates: { requestsPerSecond: 20, requestBurst: 4 } });
  const [id] = f.ids;
  const update = simUpdate({ app: "thermostat", firmware: "thermostat-sim 7", seq: 7, keys: KEYS, payloadBytes: 400_000 });
  const first = await f.server.createRollout({ file: update.file, devices: f.ids });
  await until("downloading", () => f.server.rollout(first.id)!.devices.find((d) => d.state === "downloading" && d.progress >= 10), 30_000);
  t.is(f.server.abortRollout(first.id, "ops").devices[0].state, "aborted");
  const status = await until("the device's own aborted status", () => {
    const s = f.server.updateState(id)?.status;
    return s?.rollout === first.id && s.state === "aborted" ? s : undefined;
  }, 30_000);
  t.true(status.progress >= 10 && status.progress < 100, `aborted at ${status.progress} %`);
  t.is(status.manifest, 7);
  const row = await until("the rollout shows where the device stopped", () => f.server.rollout(first.id)!.devices.find((d) => d.progress === status.progress), 30_000);
  t.is(row.state, "aborted");
  const device = f.sim.device(id);
  t.is(device.agent.state, "idle");
  t.is(statSync(join(dirname(f.dbPath), "state", id, "update", SLOT_FILES[1 - device.boot.slot])).size, 0, "the slot is empty");
  // The requests that were on their way when the server stopped serving are counted, not refused as events.
  const refused = f.server.transfer.stopped(id)!.refused;
  // Longer than the device's longest wait before asking again (maxRetryMs 2000 here): a transfer still
  // running would have asked again by then.
  await sleep(2500);
  t.is(f.server.transfer.stopped(id)!.refused, refused, "no block request after the stop was handled");
  t.deepEqual(f.server.events({}).filter((e) => e.source === "server" && e.device === id).map((e) => e.code), []);

  const second = await f.server.createRollout({ file: update.file, devices: f.ids });
  const done = await until("the new rollout done", () => ended(f.server, second.id), 90_000);
  t.is(done.state, "done", done.reason ?? "");
  t.like(done.counts, { confirmed: 1 });
  t.is(f.sim.device(id).build.firmware, "thermostat-sim 7");
  t.is(f.server.rollout(first.id)!.devices[0].state, "aborted", "the aborted rollout still says so");
  t.is(f.server.transfer.stopped(id)!.refused, refused);
});

test("a stop for another rollout changes nothing: the download goes on and the rollout ends done", async (t) => {
  const f = await fleet(t, "other", 1, { updates: { requestsPerSecond: 20, requestBurst: 4 } });
  const [id] = f.ids;
  const states: string[] = [];
  f.server.updateChanges.listen(() => states.push(f.server.updateState(id)?.status?.state ?? ""));
  const update = simUpdate({ app: "thermostat", firmware: "thermostat-sim 8", seq: 8, keys: KEYS, payloadBytes: 200_000 });
  const created = await f.server.createRollout({ file: update.file, devices: f.ids });
  await until("downloading", () => f.server.rollout(created.id)!.devices[0].state === "downloading", 30_000);
  await f.server.stopUpdate(id, "r-not-this-one");
  const done = await until("the rollout done", () => ended(f.server, created.id), 90_000);
  t.is(done.state, "done", done.reason ?? "");
  t.is(f.sim.device(id).build.firmware, "thermostat-sim 8");
  t.false(states.includes("aborted"), states.join(", "));
  t.is(f.server.transfer.stopped(id)!.refused, 0);
});

test("a rollout resumes after the server restarts on the same database", async (t) => {
  const f = await fleet(t, "resume", 2, { updates: { requestsPerSecond: 20, requestBurst: 4 } });
  const update = simUpdate({ app: "thermostat", firmware: "thermostat-sim 1.1", seq: 11, keys: KEYS, payloadBytes: 200_000 });
  const created = await f.server.createRollout({ file: update.file, devices: f.ids, waveSize: 1 });
  await until("the first device downloading", () => f.server.rollout(created.id)!.devices[0].state === "downloading", 30_000);
  await f.server.stop();
  const second = await f.startServer();
  const done = await until("the rollout done after the restart", () => ended(second, created.id), 90_000);
  t.is(done.state, "done", done.reason ?? "");
  t.like(done.counts, { confirmed: 2 });
  for (const id of f.ids) t.is(f.sim.device(id).build.firmware, "thermostat-sim 1.1", `${id} runs the new build`);
});

test("a broker restart during a rollout: devices and server reconnect, the transfer goes on, the rollout ends done", async (t) => {
  const f = await fleet(t, "broker", 2, { updates: { requestsPerSecond: 20, requestBurst: 4 } });
  const update = simUpdate({ app: "thermostat", firmware: "thermostat-sim 2.0", seq: 20, keys: KEYS, payloadBytes: 200_000 });
  const created = await f.server.createRollout({ file: update.file, devices: f.ids });
  await until("both downloading", () => f.server.rollout(created.id)!.devices.every((d) => d.state === "downloading"), 30_000);
  await f.broker.restart();
  const done = await until("the rollout done after the broker restart", () => ended(f.server, created.id), 90_000);
  t.is(done.state, "done", done.reason ?? "");
  t.like(done.counts, { confirmed: 2 });
  for (const id of f.ids) t.is(f.sim.device(id).build.firmware, "thermostat-sim 2.0");
});

test("a device that says nothing fails with update-timeout, and the rollout halts instead of waiting for ever", async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  // Provisioned and registered, but never started: the offer waits at the broker, nobody answers.
  const provisioned = provisionFleet(["silent-1", "silent-2"], trustDocument(KEYS, 2));
  t.teardown(() => provisioned.cleanup());
  const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", identitiesDir: provisioned.identitiesDir, clientId: "silent-server", rollouts: { deviceTimeoutMs: 300, sweepMs: 50 } });
  t.teardown(() => server.stop());
  const update = simUpdate({ app: "thermostat", firmware: "x 2", seq: 2, keys: KEYS });
  const created = await server.createRollout({ file: update.file, devices: ["silent-1", "silent-2"], waveSize: 1 });
  const halted = await until("halted", () => ended(server, created.id), 30_000);
  t.is(halted.state, "halted");
  t.deepEqual(
    halted.devices.map((d) => [d.device, d.state, d.code]),
    [
      ["silent-1", "failed", "update-timeout"],
      ["silent-2", "pending", null],
    ],
  );
  t.is(server.transfer.offered("silent-1"), undefined, "no longer served");
});
