// Every example in the host simulator. `gatehouse sim --example NAME`, as a user runs it (a real process,
// a real mosquitto, identities written by the provisioning code, trusting an admin and an operator): an
// independent subscriber verifies the signed birth and its doors, and the command client sends signed
// commands whose results it verifies with the device's public key. Then the simulator in-process against
// aedes: a sensor node's signed batches, and a smart lock whose hashed codes survive a restart through
// the state folder.
import test from "ava";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { utf8 } from "../sdk/cbor/encode";
import type { CborMap } from "../sdk/cbor/types";
import { publicKey, type CoseKey } from "../sdk/cose/key";
import { TrustList } from "../sdk/trust";
import { nodeCrypto } from "../ports/node/crypto";
import { CommandClient } from "../host/client/command-client";
import { generateDeviceKey, writeIdentity } from "../host/identity-files";
import { sensorNodeApp, smartLockApp } from "../host/sim/apps";
import { EXAMPLE_NAMES, type ExampleName } from "../host/sim/examples";
import { Simulator } from "../host/sim/simulator";
import { startAedes, startMosquitto } from "./support/brokers";
import { until } from "./support/devices";
import { Watcher } from "./support/watcher";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = join(repoRoot, "bin", "gatehouse.js");

const ADMIN = nodeCrypto.generateKey("ES256", utf8("admin"));
const OPERATOR = nodeCrypto.generateKey("ES256", utf8("operator"));
const TRUST = new TrustList([
  { key: publicKey(ADMIN), role: "administer" },
  { key: publicKey(OPERATOR), role: "operate" },
]);

type Send = (who: "admin" | "operator", door: string, op: string, args?: unknown) => Promise<{ ok: boolean; value?: unknown; code?: string; verified: boolean }>;

/** What each example must show: the doors in its birth, and a few signed commands with their results. */
const SCENARIOS: Record<ExampleName, { doors: string[]; run(t: import("ava").ExecutionContext, send: Send, watcher: Watcher, id: string): Promise<void> }> = {
  thermostat: {
    doors: ["temperature", "relay", "setpoint"],
    async run(t, send) {
      t.like(await send("operator", "setpoint", "write.target", 21.5), { ok: true, verified: true });
      t.like(await send("operator", "setpoint", "read.target"), { ok: true, value: 21.5, verified: true });
      t.like(await send("operator", "setpoint", "write.limits", { min: 12, max: 28 }), { ok: false, code: "not-allowed", verified: true });
    },
  },
  "smart-lock": {
    doors: ["lock"],
    async run(t, send, watcher, id) {
      t.like(await send("operator", "lock", "invoke.rotateCodes", { codes: ["2468"] }), { ok: false, code: "not-allowed", verified: true });
      t.like(await send("admin", "lock", "invoke.rotateCodes", { codes: ["2468"] }), { ok: true, value: 1, verified: true });
      t.like(await send("operator", "lock", "invoke.unlock", { code: "1357" }), { ok: false, code: "wrong-code", verified: true });
      t.like(await send("operator", "lock", "invoke.unlock", { code: "2468" }), { ok: true, verified: true });
      // Every attempt is a signed security event, the allowed ones too (the CLI runs the lock with recordAllowed).
      await watcher.until("the unlock's events", () => watcher.of(id, "event").filter((e) => e.get("op") === "invoke.unlock").length === 2);
      const unlocks = watcher.of(id, "event").filter((e) => e.get("op") === "invoke.unlock");
      t.deepEqual(
        unlocks.map((e) => [e.get("code"), e.get("allowed")]),
        [
          ["wrong-code", false],
          ["allowed", true],
        ],
      );
    },
  },
  "sensor-node": {
    doors: ["environment"],
    async run(t, send) {
      const settings = await send("operator", "environment", "read.settings");
      t.like(settings, { ok: true, verified: true });
      t.deepEqual(Object.fromEntries(settings.value as CborMap), { batchSize: 6, sampleEveryMs: 10_000, faults: 0 });
      t.like(await send("admin", "environment", "write.settings", { batchSize: 1, sampleEveryMs: 100, faults: 0 }), { ok: false, code: "unknown-op", verified: true });
    },
  },
};

function collect(child: ChildProcessWithoutNullStreams) {
  const output = { stdout: "", stderr: "" };
  child.stdout.setEncoding("utf8").on("data", (text: string) => (output.stdout += text));
  child.stderr.setEncoding("utf8").on("data", (text: string) => (output.stderr += text));
  return output;
}

for (const example of EXAMPLE_NAMES) {
  test(`gatehouse sim --example ${example}: a signed birth with its doors, signed commands answered and verified`, async (t) => {
    const scenario = SCENARIOS[example];
    const broker = await startMosquitto();
    const dir = mkdtempSync(join(tmpdir(), `gatehouse-sim-${example}-`));
    const id = `${example}-1`;
    const deviceKey: CoseKey = generateDeviceKey(id);
    writeIdentity(join(dir, "identities"), { id, key: deviceKey, trust: TRUST });
    const watcher = await Watcher.start(broker.url);
    watcher.keys.set(id, publicKey(deviceKey));
    const clients = {
      admin: await CommandClient.connect({ brokerUrl: broker.url, key: ADMIN }),
      operator: await CommandClient.connect({ brokerUrl: broker.url, key: OPERATOR }),
    };
    const child = spawn(process.execPath, [BIN, "sim", "--broker", broker.url, "--devices", "1", "--example", example, "--identities", join(dir, "identities")], {
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    }) as unknown as ChildProcessWithoutNullStreams;
    const output = collect(child);
    const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
    try {
      await until("the device online", () => output.stdout.includes("all 1 online"), 20_000).catch((e) => {
        throw new Error(`${(e as Error).message}\n${output.stdout}${output.stderr}`);
      });
      t.regex(output.stdout, new RegExp(`starting 1 simulated ${example} device against mqtt://`));
      await watcher.until("the birth", () => watcher.of(id, "birth").length > 0);
      const birth = watcher.of(id, "birth")[0];
      t.is(birth.get("firmware"), `${example}-sim 0.1.0`);
      t.deepEqual((birth.get("doors") as CborMap[]).map((door) => door.get("name")), scenario.doors);

      const send: Send = (who, door, op, args) => clients[who].send({ device: id, door, op, args: args as never, deviceKey: publicKey(deviceKey), expiresInSeconds: 60 });
      await scenario.run(t, send, watcher, id);
      t.deepEqual(watcher.failures, [], "every publication verified with the device's key");
    } finally {
      child.kill("SIGINT");
      t.is(await exited, 0, output.stderr);
      await clients.admin.close();
      await clients.operator.close();
      await watcher.stop();
      await broker.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("simulator: sensor nodes publish signed batches, each covering batchSize readings", async (t) => {
  const broker = await startAedes();
  const watcher = await Watcher.start(broker.url);
  let sim: Simulator<ReturnType<ReturnType<typeof sensorNodeApp>["install"]>> | undefined;
  try {
    sim = await Simulator.start({ brokerUrl: broker.url, devices: 2, idPrefix: "node", trust: TRUST, example: sensorNodeApp({ batchSize: 3, sampleEveryMs: 100 }) });
    for (const d of sim.devices) watcher.keys.set(d.id, d.publicKey);
    await sim.waitOnline(2, 10_000);
    const devices = sim.devices;
    await watcher.until("two batches from each node", () => devices.every((d) => watcher.of(d.id, "telemetry").length >= 2));
    for (const d of sim.devices) {
      for (const body of watcher.of(d.id, "telemetry")) {
        const readings = body.get("data") as CborMap[];
        t.is(readings.length, 3, "one signature, three readings");
        const uptimes = readings.map((r) => r.get("uptime") as number);
        t.deepEqual(uptimes, [...uptimes].sort((a, b) => a - b));
        t.true(readings.every((r) => typeof r.get("celsius") === "number" && typeof r.get("light") === "number" && typeof r.get("time") === "number"));
      }
      t.true(d.app.pending < 3);
    }
    t.deepEqual(watcher.failures, []);
  } finally {
    await sim?.stop(true);
    await watcher.stop();
    await broker.stop();
  }
});

test("simulator: a smart lock keeps its hashed codes in the state folder across a restart", async (t) => {
  const broker = await startAedes();
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-sim-lock-"));
  const identities = join(dir, "identities");
  const deviceKey = generateDeviceKey("door-1");
  writeIdentity(identities, { id: "door-1", key: deviceKey, trust: TRUST });
  const options = { brokerUrl: broker.url, devices: 1, identitiesDir: identities, stateDir: join(dir, "state"), example: smartLockApp() };
  const admin = await CommandClient.connect({ brokerUrl: broker.url, key: ADMIN });
  const operator = await CommandClient.connect({ brokerUrl: broker.url, key: OPERATOR });
  const request = { device: "door-1", door: "lock", deviceKey: publicKey(deviceKey), expiresInSeconds: 60 };
  try {
    const first = await Simulator.start(options);
    await first.waitOnline(1, 10_000);
    t.like(await admin.send({ ...request, op: "invoke.rotateCodes", args: { codes: ["8642", "97531"] } as never }), { ok: true, value: 2, verified: true });
    await first.stop(true);

    const second = await Simulator.start(options);
    try {
      await second.waitOnline(1, 10_000);
      t.like(await operator.send({ ...request, op: "read.codes" }), { ok: true, value: 2, verified: true });
      t.like(await operator.send({ ...request, op: "invoke.unlock", args: { code: "97531" } as never }), { ok: true, verified: true });
      t.false(second.devices[0].app.actuator.locked);
    } finally {
      await second.stop(true);
    }
  } finally {
    await admin.close();
    await operator.close();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
