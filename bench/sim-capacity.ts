// Simulator capacity: how many simulated devices one Node process holds, and what each costs in memory.
//
//   node --expose-gc --import tsx bench/sim-capacity.ts [--devices 1000] [--timeout 120] [--stagger 5]
//
// Starts a mosquitto (test/support/brokers.ts startMosquitto: loopback, its own port and temp dir;
// max_connections is unlimited by default, so only the file-descriptor limit bounds the connections),
// then, in THIS process, a Simulator (host/sim/simulator.ts) with N thermostat devices: ephemeral ES256
// identities, in-memory state, each with its own Device, simulated board, control loop and MQTT
// connection (NodeMqttTransport). It waits until all N are online (counted by the simulator from the
// devices' own session states), lets them settle (births acknowledged, a few control ticks), collects
// garbage and compares process.memoryUsage() with the same figures taken before the simulator started
// (also after garbage collection). heap = heapUsed (JS objects), rss = resident set size (heap, buffers,
// sockets, code), both divided by N.
//
// Machine-readable lines:
//   sim devices 1000 online 1000 heap/device 26.1 KiB rss/device 75.9 KiB
//   sim all online after 5.3 s
//   BENCH_RESULT {"bench":"sim-capacity",...}

import { execFileSync } from "node:child_process";
import { utf8 } from "../sdk/cbor/encode";
import { publicKey } from "../sdk/cose/key";
import { TrustList } from "../sdk/trust";
import { nodeCrypto } from "../ports/node/crypto";
import { Simulator } from "../host/sim/simulator";
import { startMosquitto } from "../test/support/brokers";

function argument(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  return value;
}

const N = argument("devices", 1000);
const TIMEOUT_S = argument("timeout", 120);
/** Milliseconds between device connects (the simulator's own default above 20 devices). */
const STAGGER_MS = process.argv.includes("--stagger") ? Number(process.argv[process.argv.indexOf("--stagger") + 1]) : 5;
if (!Number.isInteger(STAGGER_MS) || STAGGER_MS < 0) throw new Error("--stagger must be a whole number of ms");
const GOAL_KIB = 100;
const SETTLE_MS = 3000;

const gc = (globalThis as { gc?: () => void }).gc;
if (typeof gc !== "function") {
  console.error("sim-capacity: run with --expose-gc (node --expose-gc --import tsx bench/sim-capacity.ts)");
  process.exit(2);
}
const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/** Several collections, with a pause between: what is left is what is really held. */
async function settledMemory(): Promise<NodeJS.MemoryUsage> {
  for (let i = 0; i < 4; i++) {
    gc!();
    await sleep(50);
  }
  return process.memoryUsage();
}

function fdLimit(): string {
  try {
    return execFileSync("sh", ["-c", "ulimit -n"], { encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

const kib = (bytes: number) => bytes / 1024;
const limit = fdLimit();
const needed = N + 64; // one socket per device, plus the broker pipe, files, the loader
console.log(`sim capacity: ${N} thermostat devices in one process against mosquitto on loopback (node ${process.version})`);
console.log(`  file descriptors: ulimit -n ${limit} (this process needs about ${needed}; mosquitto, its child, inherits the same limit)`);
if (limit !== "unlimited" && Number(limit) < needed) console.log(`  WARNING: the fd limit is below what ${N} devices need; raise it (ulimit -n ${needed * 2}) or use fewer --devices`);

const broker = await startMosquitto();
// The devices' trust list: one operator (nobody sends commands here; it only keeps the simulator from
// warning that the devices trust nobody).
const operator = publicKey(nodeCrypto.generateKey("EdDSA", utf8("capacity-operator")));

const before = await settledMemory();
const t0 = performance.now();
const sim = await Simulator.start({ brokerUrl: broker.url, devices: N, example: "thermostat", idPrefix: "cap", staggerMs: STAGGER_MS, trust: new TrustList([{ key: operator, role: "operate" }]) });
const builtMs = performance.now() - t0;
let waitError: Error | undefined;
await sim.waitOnline(N, TIMEOUT_S * 1000).catch((e: Error) => (waitError = e));
const onlineMs = performance.now() - t0;
const online = sim.onlineCount;
await sleep(SETTLE_MS);
const after = await settledMemory();
const stillOnline = sim.onlineCount;

const heapPerDevice = kib(after.heapUsed - before.heapUsed) / N;
const rssPerDevice = kib(after.rss - before.rss) / N;
const externalPerDevice = kib(after.external - before.external) / N;
const stagger = STAGGER_MS;
console.log(`  built ${N} devices (keys, boards, doors) in ${(builtMs / 1000).toFixed(2)} s; connects staggered ${stagger} ms apart (${((stagger * (N - 1)) / 1000).toFixed(1)} s for the last to start)`);
if (waitError) console.log(`  NOT ALL ONLINE: ${waitError.message}`);
console.log(`  online ${online} of ${N} after ${(onlineMs / 1000).toFixed(2)} s; ${stillOnline} still online after ${SETTLE_MS / 1000} s more`);
console.log(`  heapUsed ${(before.heapUsed / 1048576).toFixed(1)} -> ${(after.heapUsed / 1048576).toFixed(1)} MiB, rss ${(before.rss / 1048576).toFixed(1)} -> ${(after.rss / 1048576).toFixed(1)} MiB, external ${(before.external / 1048576).toFixed(1)} -> ${(after.external / 1048576).toFixed(1)} MiB (after gc)`);
console.log(`  per device: heap ${heapPerDevice.toFixed(1)} KiB, rss ${rssPerDevice.toFixed(1)} KiB, external ${externalPerDevice.toFixed(1)} KiB${rssPerDevice >= GOAL_KIB ? `   ABOVE GOAL ${GOAL_KIB} KiB` : ""}`);
console.log(`sim devices ${N} online ${online} heap/device ${heapPerDevice.toFixed(1)} KiB rss/device ${rssPerDevice.toFixed(1)} KiB`);
console.log(`sim all online after ${(onlineMs / 1000).toFixed(1)} s`);
console.log(
  `BENCH_RESULT ${JSON.stringify({
    bench: "sim-capacity",
    devices: N,
    online,
    allOnline: online === N,
    onlineSeconds: Number((onlineMs / 1000).toFixed(3)),
    buildSeconds: Number((builtMs / 1000).toFixed(3)),
    staggerMs: stagger,
    heapPerDeviceKib: Number(heapPerDevice.toFixed(3)),
    rssPerDeviceKib: Number(rssPerDevice.toFixed(3)),
    externalPerDeviceKib: Number(externalPerDevice.toFixed(3)),
    goalKib: GOAL_KIB,
    fdLimit: limit,
  })}`,
);

await sim.stop(false);
await broker.stop();
