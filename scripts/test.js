// The README's test command: runs every ava test (Node unit tests, the XS conformance run, the broker
// tests) in TAP mode, passes the output through, and ends with the plain line `N passed, N failed`
// that CI reads. The exit code is ava's.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

const ava = spawn(process.execPath, ["node_modules/ava/entrypoints/cli.mjs", "--tap", ...process.argv.slice(2)], {
  stdio: ["ignore", "pipe", "inherit"],
});
let passed = 0;
let failed = 0;
let skipped = 0;
createInterface({ input: ava.stdout }).on("line", (line) => {
  process.stdout.write(line + "\n");
  if (/^not ok \d+/.test(line)) {
    if (/# (TODO|SKIP)/.test(line)) skipped++;
    else failed++;
  } else if (/^ok \d+/.test(line)) {
    if (/# (TODO|SKIP)/.test(line)) skipped++;
    else passed++;
  }
});
ava.on("close", (code) => {
  const tail = skipped ? `, ${skipped} skipped` : "";
  process.stdout.write(`${passed} passed, ${failed} failed${tail}\n`);
  process.exit(code ?? 1);
});
