// The device end to end on XS 17 (Moddable's lin simulator): the suite's app runs a Gatehouse Device over
// the Moddable ports against a real mosquitto. Signed commands are answered and the results verify with the
// device's public key on Node; a forged and a replayed command are refused with security events that reach
// the fleet server; after a mosquitto restart the device reconnects and executes nothing twice.
import test from "ava";
import { toHex } from "../../sdk/bytes";
import { buildApp } from "./support/moddable";
import { median, startWorld, xsFailures, type World } from "./support/scenario";

let world: World | undefined;
let failure: string | undefined;
try {
  const app = await buildApp("app");
  world = await startWorld(app.mcso, "e2e");
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

/** Accepted increments so far: each must have executed exactly once. */
let expectedCount = 0;

test.serial("the device publishes its signed birth and comes online at the fleet server", async (t) => {
  const w = get();
  await w.app.waitFor("the session online", (r) => r.kind === "state" && r.state === "online");
  const birth = await w.operator.result("", 1, 1).catch(() => undefined); // (no result yet: births are not results)
  t.is(birth, undefined);
  await import("../support/devices").then(({ until }) => until("a verified birth", () => w.operator.count("birth") > 0, 20_000));
  const body = w.operator.seen.get("birth")![0];
  t.is(body.get("firmware"), "gatehouse device suite");
  t.true(Array.isArray(body.get("doors")));
  await import("../support/devices").then(({ until }) => until("the fleet server sees the device online", () => w.server.device(w.id)?.online === true, 20_000));
  t.deepEqual(w.operator.failures, []);
});

test.serial("signed commands are answered; each result verifies with the device's public key; p50 round trip logged", async (t) => {
  const w = get();
  for (let i = 0; i < 20; i++) {
    const result = await w.operator.command("probe", "invoke.increment", 1);
    expectedCount += 1;
    t.is(result.get("ok"), true, String(result.get("code") ?? ""));
    t.is(result.get("value"), expectedCount);
  }
  const read = await w.operator.command("probe", "read.count");
  t.is(read.get("value"), expectedCount);
  t.log(`command round trip (send -> verified result) on lin: p50 ${median(w.operator.roundTrips).toFixed(1)} ms over ${w.operator.roundTrips.length}`);
  t.deepEqual(w.operator.failures, []);
});

test.serial("a forged command (signature altered) is refused with bad-signature, and its security event reaches the fleet server", async (t) => {
  const w = get();
  const { message } = w.operator.sign("probe", "invoke.increment", 5);
  const forged = message.slice();
  forged[forged.length - 3] ^= 0x40; // inside the signature
  const result = await w.operator.result(w.operator.publish("probe", forged));
  t.is(result.get("ok"), false);
  t.is(result.get("code"), "bad-signature");
  const { until } = await import("../support/devices");
  const event = await until("the bad-signature event at the fleet server", () => w.server.events({ limit: 100 }).find((e) => e.device === w.id && e.code === "bad-signature" && e.source === "device"), 20_000);
  t.false(event.allowed);
  t.is((await w.operator.command("probe", "read.count")).get("value"), expectedCount, "nothing executed");
});

test.serial("a replayed command is not executed again: it gets its first result, and a duplicate event reaches the fleet server", async (t) => {
  const w = get();
  const { message, ref } = w.operator.sign("probe", "invoke.increment", 2);
  w.operator.publish("probe", message);
  const first = await w.operator.result(ref);
  expectedCount += 2;
  t.is(first.get("value"), expectedCount);
  w.operator.publish("probe", message); // the same bytes again, as an attacker who recorded them would
  const again = await w.operator.result(ref, 2);
  t.is(again.get("value"), expectedCount, "the first outcome, repeated");
  const { until } = await import("../support/devices");
  await until("the duplicate event at the fleet server", () => w.server.events({ limit: 100 }).find((e) => e.device === w.id && e.code === "duplicate"), 20_000);
  t.is((await w.operator.command("probe", "read.count")).get("value"), expectedCount, "executed once");
});

test.serial("after a mosquitto restart the device reconnects (a new birth) and executes nothing twice", async (t) => {
  const w = get();
  const births = w.operator.count("birth");
  const sent: string[] = [];
  // Commands keep coming while the broker goes down and comes back; MQTT.js and the broker keep them.
  const restart = w.broker.restart();
  for (let i = 0; i < 5; i++) {
    const { message } = w.operator.sign("probe", "invoke.increment", 1);
    sent.push(w.operator.publish("probe", message));
  }
  await restart;
  const { until } = await import("../support/devices");
  await until("a new birth after the restart", () => w.operator.count("birth") > births, 60_000);
  const results = await Promise.all(sent.map((ref) => w.operator.result(ref, 1, 60_000)));
  expectedCount += sent.length;
  t.deepEqual(results.map((r) => r.get("ok")), sent.map(() => true));
  t.deepEqual([...results.map((r) => r.get("value") as number)].sort((a, b) => a - b), sent.map((_, i) => expectedCount - sent.length + i + 1), "each ran once, in some order");
  t.is((await w.operator.command("probe", "read.count")).get("value"), expectedCount, "nothing executed twice");
  const executed = w.app.reports.filter((r) => r.kind === "executed").map((r) => r.count);
  t.is(new Set(executed).size, executed.length, "the device's own log of executions has no repeat");
  t.deepEqual(w.operator.failures, []);
});

test.serial("a signed invoke.exit ends the app with exit(0); XS reported no failure on the way", async (t) => {
  const w = get();
  const result = await w.operator.command("probe", "invoke.exit", 0);
  t.is(result.get("ok"), true);
  const exit = await w.app.exited;
  t.is(exit.code, 0);
  t.deepEqual(xsFailures(w.app.output), []);
  void toHex;
});
