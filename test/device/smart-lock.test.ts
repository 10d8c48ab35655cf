// The smart-lock example on XS 17: built by mcconfig from its own manifest for lin (the simulated board,
// with its bolt and door), provisioned through the build's config, with an ESP32's memory
// (test/device/examples/smart-lock), against mosquitto and the fleet server. The checks every device
// passes (support/scenario.ts), then the lock's own: every attempt an event, admin-only code rotation, and
// the lockout after repeated wrong codes.
import test from "ava";
import { until } from "../support/devices";
import { deviceScenario, exampleConfig, launchExample, memoryFigures, startWorld, xsFailures, type World } from "./support/scenario";

let world: World | undefined;
let failure: string | undefined;
try {
  world = await startWorld("smart-lock", (broker, identity) => launchExample("smart-lock", exampleConfig(broker, identity)));
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

/** 1 to 8 distinct codes: each rotation leaves a different number of codes than the one before. */
const codes = (i: number) => Array.from({ length: (i % 8) + 1 }, (_, j) => String(4000 + 10 * i + j));

deviceScenario(get, {
  firmware: "smart-lock 0.1.0",
  doors: ["lock"],
  change: (i) => ({ door: "lock", op: "invoke.rotateCodes", args: { codes: codes(i) } }),
  state: { door: "lock", op: "read.codes", after: (changes) => (changes === 0 ? 0 : codes(changes - 1).length) },
});

const events = (w: World) => w.server.events({ device: w.id, limit: 1000 }).filter((e) => e.source === "device");

test.serial("only an administrator rotates the codes: an operator is refused with not-allowed, and the attempt is an event", async (t) => {
  const w = get();
  const refused = await w.operator.command("lock", "invoke.rotateCodes", { codes: ["1111"] }, { key: w.identity.operator });
  t.is(refused.get("code"), "not-allowed");
  await until("the refused rotation at the fleet server", () => events(w).find((e) => e.code === "not-allowed" && e.op === "invoke.rotateCodes" && !e.allowed), 20_000);
});

test.serial("every attempt is an event: a right code unlocks (an allowed event at the fleet server), and the bolt is thrown again", async (t) => {
  const w = get();
  t.is((await w.operator.command("lock", "invoke.rotateCodes", { codes: ["2468", "13579"] })).get("value"), 2);
  const before = events(w).filter((e) => e.allowed && e.op === "invoke.unlock").length;
  t.is((await w.operator.command("lock", "invoke.unlock", { code: "2468" }, { key: w.identity.operator })).get("ok"), true);
  await until("the allowed unlock at the fleet server", () => events(w).filter((e) => e.allowed && e.op === "invoke.unlock").length > before, 20_000);
  // The door stays closed in the simulated world: the bolt is thrown again relockAfterMs (5 s) later.
  await until("the relock as a changed event", () => (w.operator.seen.get("telemetry") ?? []).find((b) => b.get("event") === "changed" && (b.get("data") as Map<string, boolean>).get("locked") === true), 30_000);
  const state = (await w.operator.command("lock", "read.state")).get("value") as Map<string, unknown>;
  t.is(state.get("locked"), true);
});

test.serial("repeated wrong codes start a lockout: four wrong-code refusals, then lockout, then locked-out, each an event; a lockout telemetry event", async (t) => {
  const w = get();
  const operator = w.identity.operator;
  const outcomes: string[] = [];
  for (let i = 0; i < 5; i++) outcomes.push(String((await w.operator.command("lock", "invoke.unlock", { code: "0000" }, { key: operator })).get("code")));
  t.deepEqual(outcomes, ["wrong-code", "wrong-code", "wrong-code", "wrong-code", "lockout"]);
  t.is((await w.operator.command("lock", "invoke.unlock", { code: "2468" }, { key: operator })).get("code"), "locked-out", "even the right code, during the lockout");
  const telemetry = await until("the lockout telemetry event", () => (w.operator.seen.get("telemetry") ?? []).find((b) => b.get("event") === "lockout"), 20_000);
  t.is((telemetry.get("data") as Map<string, number>).get("level"), 1);
  t.true((telemetry.get("data") as Map<string, number>).get("seconds")! >= 1);
  const seen = await until("every attempt at the fleet server", () => {
    const refused = events(w).filter((e) => !e.allowed && e.op === "invoke.unlock");
    const codes = refused.map((e) => e.code);
    return codes.filter((c) => c === "wrong-code").length === 4 && codes.includes("lockout") && codes.includes("locked-out") && codes;
  }, 20_000);
  t.log(`refused unlock attempts at the fleet server: ${seen.join(", ")}`);
  const state = (await w.operator.command("lock", "read.state")).get("value") as Map<string, unknown>;
  t.true((state.get("lockedOutSeconds") as number) > 0);
});

test.serial("on an ESP32's memory: no memory full, no stack overflow; peak memory logged", (t) => {
  const w = get();
  const figures = memoryFigures(w.app);
  t.true(figures.slots > 0 && figures.slots < 4928 && figures.stackSlots > 0 && figures.stackSlots < 512, figures.text);
  t.deepEqual(xsFailures(w.app.output), []);
  t.deepEqual(w.operator.failures, []);
  t.log(`smart-lock on the ESP32-shaped heap: ${figures.text}`);
});
