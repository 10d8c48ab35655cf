// The device side of bench/update-memory.ts: one simulated thermostat (slot files on disk, as on a
// device with flash) in this process, its memory sampled while it takes an update. Every SAMPLE_MS the
// garbage is collected and the live memory read (heapUsed + external: JS objects and the buffers they
// hold), so the figure is what the device holds, not what the collector has not freed yet. On SIGTERM it
// prints one line, PEAK {"liveBytes", "baseLiveBytes", "hwmKib"}, and exits.
//
//   node --expose-gc --import tsx bench/update-memory-device.ts --broker URL --identities DIR --state DIR

import { readFileSync } from "node:fs";
import { Simulator } from "../host/sim/simulator";
import { thermostatApp } from "../host/sim/apps";

const arg = (name: string): string => {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) throw new Error(`--${name} is required`);
  return process.argv[at + 1];
};
const gc = (globalThis as { gc?: () => void }).gc;
if (typeof gc !== "function") throw new Error("run with --expose-gc");
const SAMPLE_MS = 25;

function live(): number {
  gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

function hwmKib(): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return match ? Number(match[1]) : 0;
}

const sim = await Simulator.start({
  example: thermostatApp({ tickMs: 5000 }),
  brokerUrl: arg("broker"),
  devices: 1,
  identitiesDir: arg("identities"),
  stateDir: arg("state"),
  updates: { healthDeadlineMs: 60_000, transfer: { retryMs: 1000 } },
});
await sim.waitOnline(1, 60_000);
await new Promise((done) => setTimeout(done, 500));
const base = live();
let peak = base;
const timer = setInterval(() => {
  peak = Math.max(peak, live());
}, SAMPLE_MS);
process.stdout.write("READY\n");
process.once("SIGTERM", () => {
  clearInterval(timer);
  peak = Math.max(peak, live());
  process.stdout.write(`PEAK ${JSON.stringify({ liveBytes: peak, baseLiveBytes: base, hwmKib: hwmKib() })}\n`);
  sim.stop().finally(() => process.exit(0));
});
