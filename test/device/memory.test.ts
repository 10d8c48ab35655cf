// The suite's test app on an ESP32's memory: the e2e device (app/e2e.ts) built with the XS creation settings
// of $MODDABLE/build/devices/esp32/targets/*/manifest.json (78,848-byte chunk heap, 4,928 slots, a 512-slot
// stack, no growth: test/device/manifest_esp32_memory.json), instrumented. It must connect, answer signed
// commands and refuse a forged one without "memory full" or a stack overflow; its peak memory is logged.
// (On lin a pointer takes twice the bytes it takes on the ESP32, so the chunk heap is the harder case here.)
// The examples run on the same memory (thermostat.test.ts and the others).
import test from "ava";
import { until } from "../support/devices";
import { buildApp } from "./support/moddable";
import { memoryFigures, startWorld, testAppLaunch, xsFailures, type World } from "./support/scenario";

let world: World | undefined;
let failure: string | undefined;
try {
  const app = await buildApp("test/device/esp32");
  world = await startWorld("esp32", testAppLaunch(app.mcso, "esp32"));
} catch (e) {
  failure = (e as Error).message;
}
test.after.always(async () => {
  await world?.close();
});

test.serial("ESP32-shaped heap: connects, answers signed commands, refuses a forged one, without memory full; peak memory logged", async (t) => {
  if (!world) return t.fail(failure);
  const w = world;
  await w.app.waitFor("the session online", (r) => r.kind === "state" && r.state === "online", 60_000);
  await until("a verified birth", () => w.operator.count("birth") > 0, 30_000);
  for (let i = 1; i <= 10; i++) t.is((await w.operator.command("probe", "invoke.increment", 1)).get("value"), i);
  const { message } = w.operator.sign("probe", "invoke.increment", 1);
  const forged = message.slice();
  forged[forged.length - 3] ^= 0x40;
  const refused = await w.operator.result(w.operator.publish("probe", forged));
  t.is(refused.get("code"), "bad-signature");
  const memory = (await w.operator.command("probe", "read.memory")).get("value") as Map<string, number>;
  t.true(memory.get("samples")! > 0, "an instrumented build reports memory");
  const figures = memoryFigures(w.app);
  t.true(figures.stackSlots > 0 && figures.stackSlots < 512, figures.text);
  t.log(`the test app on the ESP32-shaped heap: ${figures.text}`);
  t.is((await w.operator.command("probe", "invoke.exit", 0)).get("ok"), true);
  t.is((await w.app.exited).code, 0);
  t.deepEqual(xsFailures(w.app.output), []);
  t.deepEqual(w.operator.failures, []);
});
