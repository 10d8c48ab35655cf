// The thermostat example on XS 17: built by mcconfig from its own manifest for lin (-p lin: the simulated
// board), provisioned through the build's config (broker, brokerport, devicekey, trust) as a user would,
// and run with an ESP32's memory (78,848-byte chunk heap, 4,928 slots, a 512-slot stack:
// test/device/examples/thermostat) against mosquitto and the fleet server. The checks every device passes
// (support/scenario.ts), then the thermostat's own: roles, signed telemetry, and its memory figures.
import test from "ava";
import { until } from "../support/devices";
import { deviceScenario, exampleConfig, launchExample, memoryFigures, startWorld, xsFailures, type World } from "./support/scenario";

let world: World | undefined;
let failure: string | undefined;
try {
  world = await startWorld("thermostat", (broker, identity) => launchExample("thermostat", exampleConfig(broker, identity)));
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

/** Targets from 15 to 24.5 °C, each different from the one before. */
const target = (i: number) => 15 + (i % 20) * 0.5;

deviceScenario(get, {
  firmware: "thermostat 0.1.0",
  doors: ["temperature", "relay", "setpoint"],
  change: (i) => ({ door: "setpoint", op: "write.target", args: target(i) }),
  state: { door: "setpoint", op: "read.target", after: (changes) => (changes === 0 ? 20 : target(changes - 1)) },
});

test.serial("an operator (operate role) may set the target but not the limits: not-allowed, with its security event at the fleet server", async (t) => {
  const w = get();
  const operator = w.identity.operator;
  t.is((await w.operator.command("setpoint", "write.target", 21, { key: operator })).get("ok"), true);
  const refused = await w.operator.command("setpoint", "write.limits", { min: 10, max: 25 }, { key: operator });
  t.is(refused.get("code"), "not-allowed");
  await until("the not-allowed event at the fleet server", () => w.server.events({ device: w.id, limit: 1000 }).find((e) => e.code === "not-allowed" && e.op === "write.limits"), 20_000);
  const read = await w.operator.command("setpoint", "read.limits");
  t.deepEqual([...(read.get("value") as Map<string, number>).entries()].sort(), [["max", 30], ["min", 10]]);
});

test.serial("its readings go out as signed telemetry (verified with its public key), within the sensor's range", async (t) => {
  const w = get();
  const readings = await until("two verified temperature readings", () => {
    const all = (w.operator.seen.get("telemetry") ?? []).filter((b) => b.get("door") === "temperature" && b.get("event") === "reading");
    return all.length >= 2 && all;
  }, 30_000);
  for (const r of readings) t.true(typeof r.get("data") === "number" && (r.get("data") as number) > -50 && (r.get("data") as number) < 150);
  t.deepEqual(w.operator.failures, []);
});

test.serial("on an ESP32's memory: no memory full, no stack overflow; peak chunk and slot use logged", (t) => {
  const w = get();
  const figures = memoryFigures(w.app);
  t.true(figures.slots > 0 && figures.slots < 4928, figures.text);
  t.true(figures.chunks > 0 && figures.chunks < 78848, figures.text);
  t.true(figures.stackSlots > 0 && figures.stackSlots < 512, figures.text);
  t.deepEqual(xsFailures(w.app.output), []);
  t.log(`thermostat on the ESP32-shaped heap (lin is 64-bit: its chunks hold 8-byte pointers, an ESP32's 4): ${figures.text}`);
});
