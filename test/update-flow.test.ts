// The whole update flow on Node through a real mosquitto: the fleet server offers a signed update (k of
// n) to simulated thermostats; each verifies it, pulls the image in blocks, checks the digest, boots it on
// trial, passes its health check and confirms. Every step's signed status reaches the server, and the
// birth after the restart names the new build and its update state.
import test from "ava";
import { FleetServer, type Activity } from "../host/server/fleet-server";
import { Simulator } from "../host/sim/simulator";
import { thermostatApp } from "../host/sim/apps";
import { startMosquitto } from "./support/brokers";
import { until } from "./support/devices";
import { provisionFleet, simUpdate, trustDocument, updateKeys } from "./support/updates";
import { toHex } from "../sdk/bytes";
import { uuidText } from "../sdk/suit/processor";
import { exampleIds } from "./support/updates";

test("an update goes offer -> blocks -> verified -> installed -> trial -> confirmed through mosquitto", async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const keys = updateKeys(3);
  const ids = ["upd-a", "upd-b"];
  const fleet = provisionFleet(ids, trustDocument(keys, 2));
  t.teardown(() => fleet.cleanup());
  const activity: Activity[] = [];
  const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", identitiesDir: fleet.identitiesDir, clientId: "upd-flow-server", onActivity: (a) => activity.push(a) });
  t.teardown(() => server.stop());
  const sim = await Simulator.start({
    example: thermostatApp({ tickMs: 200 }),
    brokerUrl: broker.url,
    devices: 2,
    identitiesDir: fleet.identitiesDir,
    stateDir: `${fleet.dir}/state`,
    updates: { healthDeadlineMs: 20_000, healthRetryMs: 200, transfer: { retryMs: 500 } },
  });
  t.teardown(() => sim.stop());
  await sim.waitOnline(2, 20_000);
  await until("births with update state", () => ids.every((id) => server.updateState(id)?.installed));
  const before = server.updateState("upd-a")!.installed!;
  const { vendorId, classId } = exampleIds("thermostat");
  t.like(before, { vendorId: uuidText(vendorId), classId: uuidText(classId), seq: 0, epoch: 0, minEpoch: 0, trustSeq: 0, state: "idle" });

  const update = simUpdate({ app: "thermostat", firmware: "thermostat-sim 0.2.0", seq: 1, keys: keys.slice(0, 2), payloadBytes: 50_000, epoch: 1 });
  const changes: string[] = [];
  server.updateChanges.listen((device) => changes.push(device));
  for (const device of ids) await server.offerUpdate({ device, rollout: "r1", update: update.prepared, blockSize: 4096 });

  await until("both confirmed", () => ids.every((id) => server.updateState(id)?.status?.state === "confirmed"), 60_000);
  await until("births of the new build", () => ids.every((id) => server.updateState(id)?.installed?.seq === 1), 20_000);
  for (const id of ids) {
    const d = sim.device(id);
    t.is(d.build.firmware, "thermostat-sim 0.2.0", `${id} runs the new build`);
    t.is(toHex(d.build.digest), toHex(update.prepared.imageDigest), "its slot holds exactly the signed image");
    t.is(d.boots, 2, "one restart into the trial build");
    // The birth goes out before the health check: it says the build runs on trial.
    t.like(server.updateState(id)!.installed, { seq: 1, epoch: 1, state: "trial" });
    t.is(server.devices().find((r) => r.id === id)?.firmware, "thermostat-sim 0.2.0", "the birth reports the new firmware");
    const served = server.transfer.offered(id)!;
    // At least every block once (a loaded machine may make the device ask again after its timeout).
    t.true(served.served >= Math.ceil(update.image.length / 4096), `blocks served: ${served.served}`);
  }
  // Every step was a signed status the server stored, in order.
  const states = activity.filter((a): a is Extract<Activity, { type: "update" }> => a.type === "update" && a.device === "upd-a").map((a) => a.state.status?.state);
  const order = ["offered", "downloading", "verified", "installed", "confirmed"];
  let at = 0;
  for (const s of states) if (s === order[at]) at++;
  t.is(at, order.length, `statuses in order: ${states.join(", ")}`);
  t.true(changes.includes("upd-a") && changes.includes("upd-b"), "the status-change signal fired for each device");
  t.deepEqual(server.events({}).filter((e) => e.code.startsWith("update") || e.code.startsWith("suit")), [], "no refusals on the way");
});

test("every example runs the update agent in the simulator: each takes an update for its own class and refuses another's", async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const keys = updateKeys(1);
  const examples = ["thermostat", "smart-lock", "sensor-node"] as const;
  const fleet = provisionFleet(examples.map((e) => `ex-${e}`), trustDocument(keys, 1));
  t.teardown(() => fleet.cleanup());
  const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", identitiesDir: fleet.identitiesDir, clientId: "upd-examples-server" });
  t.teardown(() => server.stop());
  for (const example of examples) {
    const id = `ex-${example}`;
    const own = provisionFleet([], undefined);
    t.teardown(() => own.cleanup());
    // One identity folder per simulator: copy this example's device.
    const { cpSync } = await import("node:fs");
    cpSync(`${fleet.identitiesDir}/${id}`, `${own.identitiesDir}/${id}`, { recursive: true });
    const sim = await Simulator.start({ example, brokerUrl: broker.url, devices: 1, identitiesDir: own.identitiesDir, updates: { healthRetryMs: 200 } });
    t.teardown(() => sim.stop());
    await until(`${id} birth`, () => server.updateState(id)?.installed, 20_000);
    const other = example === "thermostat" ? "smart-lock" : "thermostat";
    await server.offerUpdate({ device: id, rollout: "wrong-class", update: simUpdate({ app: other, firmware: `${other}-sim 0.2.0`, seq: 2, keys }).prepared });
    await until(`${id} refuses another class`, () => server.updateState(id)?.status?.code === "suit-class-mismatch", 20_000);
    await server.offerUpdate({ device: id, rollout: "right", update: simUpdate({ app: example, firmware: `${example}-sim 0.2.0`, seq: 2, keys }).prepared });
    await until(`${id} confirmed`, () => server.updateState(id)?.status?.state === "confirmed" && server.updateState(id)?.installed?.seq === 2, 30_000);
    t.is(sim.device(id).build.firmware, `${example}-sim 0.2.0`);
    await sim.stop();
  }
});
