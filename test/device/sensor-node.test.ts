// The sensor-node example on XS 17: built by mcconfig from its own manifest for lin (the simulated board),
// provisioned through the build's config, with an ESP32's memory (test/device/examples/sensor-node),
// against mosquitto and the fleet server; sampling every 300 ms in batches of 3 (its batchsize and
// samplems config). The checks every device passes (support/scenario.ts: its door is read-only, so the
// "changes" are reads), its batched telemetry, and the shared device entry's provisioning (ports/moddable/
// app.ts), which every example uses: the identity kept in Preference, replaced by keys given in config,
// and a build that cannot work refused with a clear error.
import test from "ava";
import { toHex } from "../../sdk/bytes";
import { encodeKey, publicKey } from "../../sdk/cose/key";
import { generateDeviceKey } from "../../host/identity-files";
import { until } from "../support/devices";
import { deviceScenario, exampleConfig, launchExample, memoryFigures, startWorld, xsFailures, type World } from "./support/scenario";

const SETTINGS = { batchsize: "3", samplems: "300" };

let world: World | undefined;
let failure: string | undefined;
try {
  world = await startWorld("sensor-node", (broker, identity) => launchExample("sensor-node", exampleConfig(broker, identity, SETTINGS)));
} catch (e) {
  failure = (e as Error).message;
}
test.after.always(async () => {
  await world?.close();
});

function get(): World {
  if (!world) throw new Error(failure ?? "no device");
  return world;
}

deviceScenario(get, {
  firmware: "sensor-node 0.1.0",
  doors: ["environment"],
  change: () => ({ door: "environment", op: "read.settings" }),
  state: { door: "environment", op: "read.settings", after: () => ({ batchSize: 3, sampleEveryMs: 300, faults: 0 }) },
});

test.serial("its readings go out in batches: one signature (verified with its public key) covers three readings", async (t) => {
  const w = get();
  const batches = await until("two verified batches", () => {
    const all = (w.operator.seen.get("telemetry") ?? []).filter((b) => b.get("door") === "environment" && b.get("event") === "batch");
    return all.length >= 2 && all;
  }, 30_000);
  for (const batch of batches) {
    const readings = batch.get("data") as Map<string, number>[];
    t.is(readings.length, 3, "three readings under one signature");
    const uptimes = readings.map((r) => r.get("uptime")!);
    t.deepEqual([...uptimes].sort((a, b) => a - b), uptimes, "in the order they were taken");
    for (const r of readings) t.true(r.get("celsius")! > -50 && r.get("celsius")! < 150 && r.get("light")! >= 0 && r.get("light")! <= 100);
  }
  const latest = (await w.operator.command("environment", "read.latest")).get("value") as Map<string, number>;
  t.true(latest.get("uptime")! >= 0);
  t.deepEqual(w.operator.failures, []);
});

test.serial("on an ESP32's memory: no memory full, no stack overflow; peak memory logged", (t) => {
  const w = get();
  const figures = memoryFigures(w.app);
  t.true(figures.slots > 0 && figures.slots < 4928 && figures.stackSlots > 0 && figures.stackSlots < 512, figures.text);
  t.deepEqual(xsFailures(w.app.output), []);
  t.log(`sensor-node on the ESP32-shaped heap: ${figures.text}`);
});

/**
 * Ends the running app (the broker then publishes its will, which the operator waits for) and starts a
 * build of the example with `config` on the same device folder (its Preference).
 */
async function rebuild(w: World, config: Record<string, string>, beforeLaunch?: () => void, options: { online: boolean } = { online: true }): Promise<void> {
  const deaths = w.operator.count("death");
  w.app.kill();
  await w.app.exited;
  if (options.online) await until("the will of the ended app", () => w.operator.count("death") > deaths, 30_000);
  beforeLaunch?.();
  w.app = await launchExample("sensor-node", config, { fresh: false });
}

test.serial("the shared entry keeps the identity: a later build without devicekey and trust starts as the same device", async (t) => {
  const w = get();
  const births = w.operator.count("birth");
  await rebuild(w, { broker: "127.0.0.1", brokerport: String(w.broker.port), keepalive: "5", ...SETTINGS });
  await until("a birth of the build without keys", () => w.operator.count("birth") > births, 60_000);
  t.is((await w.operator.command("environment", "read.settings")).get("ok"), true, "the stored trust list still admits the administrator");
  t.deepEqual(w.operator.failures, [], "signed with the stored device key");
});

test.serial("keys given in config replace the stored ones (re-provisioning), and later builds keep the new ones", async (t) => {
  const w = get();
  const newKey = generateDeviceKey(w.id); // the same device, a new key
  let births = w.operator.count("birth");
  await rebuild(w, { ...exampleConfig(w.broker, w.identity, SETTINGS), devicekey: toHex(encodeKey(newKey, true)) }, () => w.operator.trustDeviceKey(publicKey(newKey)));
  await until("a birth signed with the new key", () => w.operator.count("birth") > births, 60_000);
  births = w.operator.count("birth");
  await rebuild(w, { broker: "127.0.0.1", brokerport: String(w.broker.port), keepalive: "5", ...SETTINGS });
  await until("a birth of the next build, without keys", () => w.operator.count("birth") > births, 60_000);
  t.is((await w.operator.command("environment", "read.settings")).get("ok"), true);
  t.deepEqual(w.operator.failures, [], "every publication verified with the new key");
});

test.serial("a build that cannot work stops with one error line: no broker (config-missing), a public key as devicekey (key-invalid)", async (t) => {
  const w = get();
  await rebuild(w, { ...SETTINGS });
  await until("the config-missing error", () => w.app.output.find((l) => l.startsWith("sensor-node: error config-missing: config broker is missing")), 30_000);
  await rebuild(w, { ...exampleConfig(w.broker, w.identity, SETTINGS), devicekey: toHex(encodeKey(publicKey(w.identity.key))) }, undefined, { online: false });
  const line = await until("the key-invalid error", () => w.app.output.find((l) => l.startsWith("sensor-node: error key-invalid:")), 30_000);
  t.regex(line, /devicekey is a public key/);
  t.deepEqual(xsFailures(w.app.output), []);
});
