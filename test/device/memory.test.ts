// The device on an ESP32's memory: the e2e device (app/e2e.ts) built with the XS creation settings of
// $MODDABLE/build/devices/esp32/targets/*/manifest.json (78,848-byte chunk heap, 4,928 slots, a 512-slot
// stack, no growth: test/device/esp32/manifest.json), instrumented. It must connect, answer signed commands
// and refuse a forged one without "memory full" or a stack overflow; its peak live memory is logged.
// (On lin a slot and a pointer take twice the bytes they take on the ESP32, so this is the harder case.)
import test from "ava";
import { until } from "../support/devices";
import { buildApp } from "./support/moddable";
import { startWorld, xsFailures, type World } from "./support/scenario";

let world: World | undefined;
let failure: string | undefined;
try {
  const app = await buildApp("esp32");
  world = await startWorld(app.mcso, "esp32");
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
  t.log(
    `peak live memory on the ESP32-shaped heap (sampled after a forced GC, ${memory.get("samples")} samples): ` +
      `chunks ${memory.get("chunks")} of 78848 bytes, slots ${memory.get("slots")} bytes (${(memory.get("slots")! / 32) | 0} of 4928 slots, 32 bytes each on lin), ` +
      `stack ${memory.get("stack")} bytes (${(memory.get("stack")! / 32) | 0} of 512 slots)`,
  );
  t.is((await w.operator.command("probe", "invoke.exit", 0)).get("ok"), true);
  t.is((await w.app.exited).code, 0);
  t.deepEqual(xsFailures(w.app.output), []);
  t.deepEqual(w.operator.failures, []);
});
