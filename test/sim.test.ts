// The simulator (host/sim) running the thermostat example: real device code on the Node ports, against
// aedes in this process and a real mosquitto, watched by MQTT.js as an independent subscriber that
// verifies every publication with the device's public key. Also: the control loop switches the relay and
// emits telemetry; the CLI command starts and stops cleanly; and a device with a state folder keeps its
// sequence numbers increasing across a restart.
import test, { type ExecutionContext } from "ava";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { CborMap } from "../sdk/cbor/types";
import { TrustList } from "../sdk/trust";
import { generateDeviceKey, writeIdentity } from "../host/identity-files";
import { thermostatApp, type SimulatorApp } from "../host/sim/apps";
import type { ExampleName } from "../host/sim/examples";
import { Simulator, type AppOf, type SimulatorOptions } from "../host/sim/simulator";
import { startAedes, startMosquitto } from "./support/brokers";
import { Watcher } from "./support/watcher";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = join(repoRoot, "bin", "gatehouse.js");
const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/** Generated identities are known only once the simulator has built them: register their keys then. */
async function simulate<const E extends ExampleName | SimulatorApp<any>>(watcher: Watcher, options: SimulatorOptions<E>): Promise<Simulator<AppOf<E>>> {
  const sim = await Simulator.start(options);
  for (const d of sim.devices) watcher.keys.set(d.id, d.publicKey);
  return sim;
}

// Fast enough for a test: a control step every 20 ms, a reading every 2 steps, the room 300x real time.
const FAST = { example: thermostatApp({ tickMs: 20, readingEvery: 2 }), world: { timeScale: 300, room: { noise: 0.01 } } };

async function threeDevices(t: ExecutionContext, url: string, prefix: string): Promise<void> {
  const watcher = await Watcher.start(url);
  const started = performance.now();
  const sim = await simulate(watcher, { brokerUrl: url, devices: 3, idPrefix: prefix, trust: new TrustList(), ...FAST });
  try {
    t.deepEqual(
      sim.devices.map((d) => d.id),
      [`${prefix}-1`, `${prefix}-2`, `${prefix}-3`],
    );
    await sim.waitOnline(3, 10_000);
    await watcher.until("three births", () => sim.devices.every((d) => watcher.of(d.id, "birth").length > 0));
    t.log(`3 devices online and births verified after ${Math.round(performance.now() - started)} ms`);
    for (const d of sim.devices) {
      const birth = watcher.of(d.id, "birth")[0];
      t.is(birth.get("device"), d.id);
      t.is(birth.get("firmware"), "thermostat-sim 0.1.0");
      const doors = (birth.get("doors") as CborMap[]).map((door) => door.get("name"));
      t.deepEqual(doors, ["temperature", "relay", "setpoint"], "the birth describes the thermostat's doors");
      const setpoint = (birth.get("doors") as CborMap[])[2];
      const limits = (setpoint.get("properties") as CborMap).get("limits") as CborMap;
      t.is(limits.get("write"), "administer", "the role rule travels in the self-description");
    }

    // The control loop: the room starts below the 20 °C target, so the relay goes on; once the room is
    // above target + 0.5 it goes off again. Readings arrive as telemetry.
    await watcher.until("relay switching and telemetry", () =>
      sim.devices.every((d) => d.provider.simulation.room.switches >= 2 && watcher.of(d.id, "telemetry").length >= 3),
    );
    for (const d of sim.devices) {
      const readings = watcher.of(d.id, "telemetry");
      for (const r of readings) {
        t.is(r.get("door"), "temperature");
        t.is(r.get("event"), "reading");
        t.is(typeof r.get("data"), "number");
      }
      const seqs = watcher.seen.filter((s) => s.device === d.id).map((s) => s.body.get("seq") as number);
      t.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "sequence numbers only increase");
      t.is(new Set(seqs).size, seqs.length, "and never repeat");
      const temperature = d.provider.simulation.room.celsius();
      t.true(temperature > 18 && temperature < 22.5, `${d.id} is held near its target: ${temperature.toFixed(2)} °C`);
    }
  } finally {
    await sim.stop(true);
  }
  // A clean stop publishes each device's death.
  await watcher.until("three deaths", () => sim.devices.every((d) => watcher.of(d.id, "death").length > 0));
  for (const d of sim.devices) {
    t.is(watcher.of(d.id, "death").at(-1)?.get("session"), watcher.of(d.id, "birth").at(-1)?.get("session"), "death names the session of the birth");
  }
  t.deepEqual(watcher.failures, [], "every publication verified with its device's key");
  await watcher.stop();
}

test("aedes: three devices come online, births verify, the relay switches, telemetry flows", async (t) => {
  const broker = await startAedes();
  try {
    await threeDevices(t, broker.url, "aedes");
  } finally {
    await broker.stop();
  }
});

test("mosquitto: the same against a real broker", async (t) => {
  const broker = await startMosquitto();
  try {
    await threeDevices(t, broker.url, "mosq");
  } finally {
    await broker.stop();
  }
});

test("a device with a state folder keeps its sequence numbers increasing across a restart", async (t) => {
  const broker = await startAedes();
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-sim-"));
  const identitiesDir = join(dir, "identities");
  const stateDir = join(dir, "state");
  try {
    writeIdentity(identitiesDir, { id: "keeper", key: generateDeviceKey("keeper"), trust: new TrustList() });
    const watcher = await Watcher.start(broker.url);
    const options = { brokerUrl: broker.url, devices: 1, identitiesDir, stateDir, ...FAST };

    const first = await simulate(watcher, options);
    t.true(first.devices[0].provisioned, "the provisioned identity is used");
    t.is(first.devices[0].id, "keeper");
    await first.waitOnline();
    await watcher.until("a few publications", () => watcher.of("keeper", "telemetry").length >= 3);
    await first.stop(true);
    await watcher.until("the death", () => watcher.of("keeper", "death").length === 1);
    const before = Math.max(...watcher.seen.map((s) => s.body.get("seq") as number));
    const count = watcher.seen.length;

    const second = await simulate(watcher, options);
    await second.waitOnline();
    await watcher.until("the second birth", () => watcher.of("keeper", "birth").length >= 2);
    await second.stop(true);
    await watcher.until("the second death", () => watcher.of("keeper", "death").length === 2);
    const after = watcher.seen.slice(count).map((s) => s.body.get("seq") as number);
    t.true(after.length > 0);
    t.true(Math.min(...after) > before, `after the restart every seq (from ${Math.min(...after)}) is above the last one before (${before})`);
    t.is(watcher.of("keeper", "birth").at(-1)?.get("session"), Math.min(...after), "the new session starts above the old numbers");
    t.deepEqual(watcher.failures, []);
    await watcher.stop();
  } finally {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("gatehouse sim: prints devices coming online and stops cleanly on SIGINT", async (t) => {
  const broker = await startAedes();
  try {
    const child = spawn(process.execPath, [BIN, "sim", "--broker", broker.url, "--devices", "2", "--example", "thermostat"], {
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (text: string) => (stdout += text));
    child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
    const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
    const deadline = Date.now() + 15_000;
    while (!stdout.includes("all 2 online") && Date.now() < deadline) await sleep(20);
    t.regex(stdout, /starting 2 simulated thermostat devices against mqtt:\/\/127\.0\.0\.1:\d+/);
    t.regex(stdout, /online +sim-1/);
    t.regex(stdout, /online +sim-2/);
    t.regex(stdout, /all 2 online after \d+ ms/);
    child.kill("SIGINT");
    t.is(await exited, 0, stderr);
    t.regex(stdout, /stopped 2 devices/);

    const bad = spawn(process.execPath, [BIN, "sim", "--broker", broker.url, "--devices", "0", "--example", "thermostat"], { stdio: ["ignore", "pipe", "pipe"] });
    let badErr = "";
    bad.stderr.setEncoding("utf8").on("data", (text: string) => (badErr += text));
    t.is(await new Promise((done) => bad.once("exit", done)), 2);
    t.regex(badErr, /^gatehouse sim: error usage: --devices must be/);
  } finally {
    await broker.stop();
  }
});
