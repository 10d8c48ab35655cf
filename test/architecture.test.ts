// The architecture, checked: device code (sdk/) imports nothing outside sdk/ (no port, no host code,
// no Node built-in, no package); code outside it uses the SDK by its package name; and everything
// type-checks, including under device-only configurations without Node's types.
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

// Code outside the SDK (apps, platform ports) uses the SDK as a package: through "gatehouse/sdk", never
// a path into sdk/, so the SDK's own layout stays free to change. (On Moddable the root manifest.json maps
// the name; relative imports at any depth also resolve on XS 17, as the device suite shows.)
test("apps and the Moddable port reach the SDK only through its package name", (t) => {
  // ports/moddable/exports holds the manifest's aliases that define the package names on Moddable.
  const aliases = join(root, "ports/moddable/exports") + "/";
  const files = ["ports/moddable", "examples"].flatMap((f) => tsFiles(join(root, f))).filter((f) => !f.endsWith(".d.ts") && !f.startsWith(aliases));
  const offenders: string[] = [];
  for (const file of files) {
    for (const match of readFileSync(file, "utf8").matchAll(/^\s*(?:import|export)\b[^'"]*from\s+["']([^"']+)["']/gm)) {
      const specifier = match[1];
      const target = specifier.startsWith(".") ? resolve(dirname(file), specifier) : "";
      if (target.startsWith(join(root, "sdk") + "/") || specifier.startsWith("gatehouse/sdk/")) offenders.push(`${relative(root, file)} imports ${specifier}`);
    }
  }
  t.true(files.length > 8);
  t.deepEqual(offenders, []);
});

// The examples are apps like any other: they reach the drivers and the board contract as the package
// `gatehouse/boards` (package.json "exports" on Node, boards/manifest.json on Moddable), never by a path
// out of their folder, and no module stands in between (the old examples/drivers.ts shim is gone).
test("the examples import nothing outside their own folder by path: the SDK, the boards and the port by package name", (t) => {
  const examples = join(root, "examples");
  const files = tsFiles(examples).filter((f) => !f.endsWith(".d.ts"));
  t.deepEqual(files.filter((f) => dirname(f) === examples).map((f) => relative(root, f)), [], "no module directly in examples/");
  const offenders: string[] = [];
  for (const file of files) {
    for (const match of readFileSync(file, "utf8").matchAll(/^\s*(?:import|export)\b[^'"]*from\s+["']([^"']+)["']/gm)) {
      if (match[1].startsWith("../")) offenders.push(`${relative(root, file)} imports ${match[1]}`);
    }
  }
  t.true(files.length > 8);
  t.deepEqual(offenders, []);
});

test("Node code imports the package by name: gatehouse/sdk and gatehouse/ports/node are the modules of sdk/ and ports/node/", async (t) => {
  const byName = await import("gatehouse/sdk");
  const byPath = await import("../sdk/device");
  const errors = await import("../sdk/errors");
  t.is(byName.Device, byPath.Device, "one module instance, whichever way it is reached");
  t.is(byName.GatehouseError, errors.GatehouseError);
  t.is(typeof byName.defineDoor, "function");
  t.is(typeof byName.decodeTrust, "function");
  const node = await import("gatehouse/ports/node");
  const nodeCrypto = (await import("../ports/node/crypto")).nodeCrypto;
  t.is(node.nodeCrypto, nodeCrypto);
  t.is(typeof node.NodeMqttTransport, "function");
});

test("the project type-checks (strict), with the typed-door compile-time checks", async (t) => {
  const tsc = join(root, "node_modules/typescript/bin/tsc");
  await t.notThrowsAsync(run(process.execPath, [tsc, "-p", "tsconfig.json", "--noEmit"], { cwd: root }));
});

for (const config of ["ports/moddable/tsconfig.json"]) {
  test(`device code type-checks without Node's types: ${config}`, async (t) => {
    const tsc = join(root, "node_modules/typescript/bin/tsc");
    await t.notThrowsAsync(run(process.execPath, [tsc, "-p", config], { cwd: root }));
  });
}
