// The boards and the examples are device code: they must type-check without Node's types (no Buffer,
// no node: modules, no DOM), as ports/moddable does in architecture.test.ts. Each folder's tsconfig
// names the device-side declarations it may use (XS's TextEncoder, the Moddable runtime modules).
import test from "ava";
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "..");
const tsc = resolve(root, "node_modules/typescript/bin/tsc");

for (const config of ["boards/tsconfig.json", "examples/tsconfig.json"]) {
  test(`device code type-checks without Node's types: ${config}`, async (t) => {
    await t.notThrowsAsync(run(process.execPath, [tsc, "-p", config], { cwd: root }));
  });
}
