// The architecture, checked: device code (sdk/) imports nothing outside sdk/ (no port, no host code,
// no Node built-in, no package), and everything type-checks, including under a device-only
// configuration without Node's types (ports/moddable/tsconfig.json).
import test from "ava";
import { execFile } from "node:child_process";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "..");

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

test("device code imports only device code", (t) => {
  const sdk = join(root, "sdk");
  const files = tsFiles(sdk);
  t.true(files.length > 10);
  const offenders: string[] = [];
  for (const file of files) {
    for (const match of readFileSync(file, "utf8").matchAll(/^\s*(?:import|export)\b[^'"]*from\s+["']([^"']+)["']/gm)) {
      const specifier = match[1];
      const target = specifier.startsWith(".") ? resolve(dirname(file), specifier) : specifier;
      if (!target.startsWith(sdk + "/")) offenders.push(`${relative(root, file)} imports ${specifier}`);
    }
  }
  t.deepEqual(offenders, []);
});

// XS on the device resolves one leading "../" in a relative import and no more (Moddable's
// xs/platforms/mc/xsHosts.c, fxFindModule): a run-time import of "../../x" is not found there.
test("device code that runs on Moddable never imports at run time across more than one \"../\"", (t) => {
  const deviceFolders = ["sdk", "ports/moddable", "ports/sdk.ts", "examples", "boards/esp32"].map((f) => join(root, f));
  const files = deviceFolders.flatMap((f) => (f.endsWith(".ts") ? [f] : tsFiles(f))).filter((f) => !f.endsWith(".d.ts"));
  const offenders: string[] = [];
  for (const file of files) {
    for (const match of readFileSync(file, "utf8").matchAll(/^\s*(import|export)\s+(?!type\b)[^'"]*from\s+["']([^"']+)["']/gm)) {
      if (match[2].startsWith("../../")) offenders.push(`${relative(root, file)} imports ${match[2]}`);
    }
  }
  t.true(files.length > 20);
  t.deepEqual(offenders, []);
});

test("the project type-checks (strict), with the typed-door compile-time checks", async (t) => {
  const tsc = join(root, "node_modules/typescript/bin/tsc");
  await t.notThrowsAsync(run(process.execPath, [tsc, "-p", "tsconfig.json", "--noEmit"], { cwd: root }));
});

for (const config of ["ports/moddable/tsconfig.json", "examples/thermostat/tsconfig.json"]) {
  test(`device code type-checks without Node's types: ${config}`, async (t) => {
    const tsc = join(root, "node_modules/typescript/bin/tsc");
    await t.notThrowsAsync(run(process.execPath, [tsc, "-p", config], { cwd: root }));
  });
}
