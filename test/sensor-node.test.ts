// The sensor node (examples/sensor-node) on a real Device and the simulated board: readings batched so that
// ONE signature covers batchSize of them, the batch verified with the device's key; a read-only door;
// sensor faults dropped and counted; options bounded.
import test from "ava";
import type { CborMap } from "../sdk/cbor/types";
import { GatehouseError } from "../sdk/errors";
import { installSensorNode, type SensorNodeOptions } from "../examples/sensor-node/app";
import { AppBench } from "./support/app-bench";

function nodeBench(options: Partial<SensorNodeOptions> = {}, world: ConstructorParameters<typeof AppBench>[0] = {}) {
  const bench = new AppBench({ id: "node-1", ...world });
  const errors: unknown[] = [];
  const node = installSensorNode({ device: bench.device, provider: bench.provider, clock: bench.clock, timers: bench.timers, onError: (e) => errors.push(e), ...options });
  bench.online();
  return { bench, node, errors };
}

function batches(bench: AppBench) {
  return bench
    .published("telemetry")
    .filter(({ body }) => body.get("door") === "environment" && body.get("event") === "batch")
    .map(({ body, bytes }) => ({ bytes, readings: (body.get("data") as CborMap[]).map((r) => Object.fromEntries(r)) }));
}

test("one signature covers a whole batch: batchSize readings, timestamped, in order, verified with the device key", (t) => {
  const { bench, node } = nodeBench({ batchSize: 4, sampleEveryMs: 1000 });
  bench.advance(3000);
  t.is(node.pending, 3);
  t.deepEqual(batches(bench), [], "nothing is published before the batch is full");

  bench.advance(1000);
  const [first, ...more] = batches(bench); // bench.published verified every one's COSE_Sign1 signature
  t.is(more.length, 0, "four readings, one publication");
  t.is(first.readings.length, 4);
  t.deepEqual(
    first.readings.map((r) => [r.uptime, r.time]),
    [1000, 2000, 3000, 4000].map((ms) => [ms, bench.clock.wallTime() - 4000 + ms]),
  );
  for (const r of first.readings) {
    t.true(Math.abs((r.celsius as number) - 16) < 0.2, `the room is at 16 °C: ${r.celsius}`);
    t.true(Math.abs((r.light as number) - 70.7) < 1, `9 am daylight is 70.7 %: ${r.light}`);
  }
  t.is(node.pending, 0);

  bench.advance(8000);
  const all = batches(bench);
  t.is(all.length, 3, "twelve readings, three signatures");
  const uptimes = all.flatMap((b) => b.readings.map((r) => r.uptime));
  t.deepEqual(uptimes, Array.from({ length: 12 }, (_, i) => (i + 1) * 1000));
});

test("a full batch of 32 readings stays one small message", (t) => {
  const { bench } = nodeBench({ batchSize: 32, sampleEveryMs: 100 });
  bench.advance(3200);
  const [batch] = batches(bench);
  t.is(batch.readings.length, 32);
  t.true(batch.bytes < 2048, `${batch.bytes} bytes for 32 readings and one signature`);
  t.log(`32 readings in one signed telemetry message: ${batch.bytes} bytes`);
});

test("the door is read-only: operators read the latest reading and the settings; nothing can be written or invoked", (t) => {
  const { bench } = nodeBench({ batchSize: 2, sampleEveryMs: 500 });
  t.like(bench.command("viewer", "environment", "read.latest"), { ok: false, code: "no-reading" });
  bench.advance(500);
  const latest = bench.command("viewer", "environment", "read.latest");
  t.true(latest.ok);
  t.is((latest.value as CborMap).get("uptime"), 500);
  t.deepEqual(Object.fromEntries(bench.command("viewer", "environment", "read.settings").value as CborMap), { batchSize: 2, sampleEveryMs: 500, faults: 0 });
  t.like(bench.command("admin", "environment", "write.settings", new Map([["batchSize", 1]])), { ok: false, code: "unknown-op" });
  t.like(bench.command("admin", "environment", "invoke.flush"), { ok: false, code: "unknown-op" });
  const birth = bench.published("birth")[0].body;
  const door = (birth.get("doors") as CborMap[])[0];
  t.deepEqual([...(door.get("properties") as CborMap).values()].map((p) => (p as CborMap).get("write")), [undefined, undefined], "the birth shows no writable property");
});

test("an implausible temperature is a fault: that sample is dropped and counted, never published", (t) => {
  // A room at 200 °C saturates the TMP36's ADC: the driver reads 195 °C, outside -50..150.
  const { bench, node, errors } = nodeBench({ batchSize: 2, sampleEveryMs: 1000 }, { world: { room: { initial: 200, loss: 1e-9 } } });
  bench.advance(3000);
  t.is(node.pending, 0);
  t.deepEqual(batches(bench), []);
  t.is(errors.length, 3);
  t.true(errors.every((e) => e instanceof GatehouseError && e.code === "sensor-fault"));
  t.is((bench.command("viewer", "environment", "read.settings").value as CborMap).get("faults"), 3);
});

test("batch size and period are bounded options", (t) => {
  for (const options of [{ batchSize: 0 }, { batchSize: 33 }, { batchSize: 2.5 }, { sampleEveryMs: 99 }, { sampleEveryMs: 86_400_001 }]) {
    const error = t.throws(() => nodeBench(options), { instanceOf: GatehouseError });
    t.is(error?.code, "invalid-options", JSON.stringify(options));
  }
});
