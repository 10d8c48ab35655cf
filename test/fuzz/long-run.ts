// The long fuzz run: `npm run fuzz -- [--iterations N] [--seconds S] [--seed N]`, or directly
// `node --import tsx test/fuzz/long-run.ts ...`. Host-side (Node) script.
//
// Runs the targets of test/fuzz/targets.ts round-robin (default 1,000,000 inputs; with --seconds alone,
// until the time is up), prints progress, the histogram of outcome codes per target and the heap before
// and after, and exits with status 1 on an untyped exception, printing the seed and the input as hex.
// A run repeats exactly for the same seed and iteration count.

import { runInNewContext } from "node:vm";
import { setFlagsFromString } from "node:v8";
import { nodeCrypto } from "../../ports/node/crypto";
import { createTargets } from "./targets";
import { Fuzzer } from "./harness";

interface Args {
  iterations: number;
  seconds: number | undefined;
  seed: number;
}

function usage(message: string): never {
  process.stderr.write(`${message}\nusage: long-run.ts [--iterations N] [--seconds S] [--seed N]\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  let iterations: number | undefined;
  let seconds: number | undefined;
  let seed = (Date.now() ^ (process.pid << 16)) >>> 0;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [name, inline] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const value = (): number => {
      const text = inline ?? argv[++i];
      const n = Number(text);
      if (text === undefined || !Number.isFinite(n) || n < 0) usage(`${name} needs a non-negative number`);
      return n;
    };
    if (name === "--iterations" || name === "-n") iterations = Math.floor(value());
    else if (name === "--seconds" || name === "-t") seconds = value();
    else if (name === "--seed" || name === "-s") seed = value() >>> 0;
    else if (name === "--help" || name === "-h") usage("Fuzzes CBOR decode, COSE_Sign1 verification and the command receiver.");
    else usage(`unknown argument ${arg}`);
  }
  // --seconds alone runs until the time is up; otherwise a fixed count (default one million).
  if (iterations === undefined) iterations = seconds === undefined ? 1_000_000 : Number.MAX_SAFE_INTEGER;
  return { iterations, seconds, seed };
}

/** global.gc when node runs with --expose-gc; otherwise turned on at run time. */
function garbageCollector(): () => void {
  if (typeof globalThis.gc === "function") return globalThis.gc as () => void;
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

const args = parseArgs(process.argv.slice(2));
const gc = garbageCollector();
const fuzzer = new Fuzzer(createTargets(nodeCrypto), args.seed);
const started = performance.now();
const deadline = args.seconds === undefined ? Infinity : started + args.seconds * 1000;
const CHUNK = 10_000;
const WARM_UP = Math.min(CHUNK, args.iterations);

console.log(`fuzz: seed ${args.seed}, ${args.iterations === Number.MAX_SAFE_INTEGER ? "unbounded" : args.iterations} iterations` + (args.seconds === undefined ? "" : `, at most ${args.seconds} s`));
const shouldStop = () => fuzzer.escapes.length > 0 || performance.now() > deadline;

// A warm-up chunk first, so the heap figure "before" includes compiled code and caches.
fuzzer.run(WARM_UP, shouldStop);
gc();
gc();
const heapBefore = process.memoryUsage().heapUsed;
let lastReport = performance.now();
while (fuzzer.iterations < args.iterations && !shouldStop()) {
  fuzzer.run(Math.min(CHUNK, args.iterations - fuzzer.iterations), shouldStop);
  const now = performance.now();
  if (now - lastReport > 5000) {
    lastReport = now;
    const rate = fuzzer.iterations / ((now - started) / 1000);
    console.log(`  ${fuzzer.iterations} inputs, ${rate.toFixed(0)}/s, ${fuzzer.codes().size} distinct outcomes, heap ${mib(process.memoryUsage().heapUsed)}`);
  }
}
gc();
gc();
const heapAfter = process.memoryUsage().heapUsed;
const elapsed = (performance.now() - started) / 1000;

console.log(fuzzer.report());
console.log(`${fuzzer.iterations} inputs in ${elapsed.toFixed(1)} s; heap after warm-up ${mib(heapBefore)}, at the end ${mib(heapAfter)} (${heapAfter >= heapBefore ? "+" : ""}${mib(heapAfter - heapBefore)})`);

if (fuzzer.escapes.length > 0) {
  for (const e of fuzzer.escapes) {
    console.error(`\nUNTYPED ESCAPE in target "${e.target}" at iteration ${e.iteration}, seed ${e.seed}`);
    console.error(e.message);
    console.error(`input (hex): ${e.inputHex}`);
    if (e.stack) console.error(e.stack);
    console.error(`reproduce: node --import tsx test/fuzz/long-run.ts --seed ${e.seed} --iterations ${e.iteration + 1}`);
  }
  process.exit(1);
}
console.log("no untyped exceptions");
