// The device end to end on XS 17 (Moddable's lin simulator): the suite's test app runs a Gatehouse Device
// over the Moddable ports against a real mosquitto, with one small door (app/e2e.ts), through the checks
// every device passes (support/scenario.ts): its signed birth, signed commands answered and verified on
// Node, a forged and a replayed command refused with security events at the fleet server, a mosquitto
// restart survived with nothing executed twice. The app also logs each execution itself.
import test from "ava";
import { buildApp } from "./support/moddable";
import { deviceScenario, startWorld, testAppLaunch, xsFailures, type World } from "./support/scenario";

let world: World | undefined;
let failure: string | undefined;
try {
  const app = await buildApp("test/device/app");
  world = await startWorld("e2e", testAppLaunch(app.mcso, "e2e"));
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
  firmware: "gatehouse device suite",
  doors: ["probe"],
  change: () => ({ door: "probe", op: "invoke.increment", args: 1 }),
  state: { door: "probe", op: "read.count", after: (changes) => changes },
});

test.serial("the device's own log of executions has no repeat", (t) => {
  const executed = get().app.reports.filter((r) => r.kind === "executed").map((r) => r.count);
  t.true(executed.length >= 10);
  t.is(new Set(executed).size, executed.length);
});

test.serial("a signed invoke.exit ends the app with exit(0); XS reported no failure on the way", async (t) => {
  const w = get();
  const result = await w.operator.command("probe", "invoke.exit", 0);
  t.is(result.get("ok"), true);
  const exit = await w.app.exited;
  t.is(exit.code, 0);
  t.deepEqual(xsFailures(w.app.output), []);
});
