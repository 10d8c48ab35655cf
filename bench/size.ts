// Size of the device SDK core: esbuild-minified ESM bundle of bench/size-entry.ts (the project's device
// bundle settings, test/support/bundle.ts, minified), without crypto primitives. Gzip size for information only.
//
//   node --import tsx bench/size.ts
//
// Machine-readable lines:
//   size device-core 23.4 KiB
//   BENCH_RESULT {"bench":"size",...}

import { gzipSync } from "node:zlib";
import { bundleDeviceCode } from "../test/support/bundle";

const ENTRY = "bench/size-entry.ts";
const GOAL_KIB = 32;

const result = await bundleDeviceCode(ENTRY, { format: "esm", minify: true });
const bytes = result.bytes;
const inputs = Object.keys(result.metafile.inputs);
// The core must not pull in crypto primitives or any package: only sdk/ (and the entry itself).
const foreign = inputs.filter((p) => !p.startsWith("sdk/") && p !== ENTRY);
if (foreign.length > 0) throw new Error(`the device core bundle includes files outside sdk/: ${foreign.join(", ")}`);

const gzip = gzipSync(bytes, { level: 9 }).length;
const kib = bytes.length / 1024;
// Per-file share of the minified output, biggest first, for whoever wants to shrink it.
const output = Object.values(result.metafile.outputs)[0];
const shares = Object.entries(output.inputs)
  .map(([path, info]) => [path, info.bytesInOutput] as const)
  .filter(([, n]) => n > 0)
  .sort((a, b) => b[1] - a[1]);

console.log(`size: ${ENTRY} -> esm, platform neutral, target es2020, minified; ${inputs.length - 1} sdk files, no ports`);
console.log(`  minified ${bytes.length.toLocaleString("en-US")} bytes (${kib.toFixed(1)} KiB), gzip -9 ${gzip.toLocaleString("en-US")} bytes (${(gzip / 1024).toFixed(1)} KiB); goal < ${GOAL_KIB} KiB: ${kib < GOAL_KIB ? "met" : "NOT met"}`);
console.log(`  largest: ${shares.slice(0, 6).map(([p, n]) => `${p} ${(n / 1024).toFixed(1)} KiB`).join(", ")}`);
console.log(`size device-core ${kib.toFixed(1)} KiB`);
console.log(`size device-core gzip ${(gzip / 1024).toFixed(1)} KiB`);
console.log(`BENCH_RESULT ${JSON.stringify({ bench: "size", bytes: bytes.length, kib: Number(kib.toFixed(2)), gzipBytes: gzip, goalKib: GOAL_KIB, files: inputs.length - 1 })}`);
