// The architecture, checked: device code (sdk/) imports nothing outside sdk/ (no port, no host code,
// no Node built-in, no package); code outside it uses the SDK by its package name; and everything
// type-checks, including under device-only configurations without Node's types.
import test from "ava";
import { execFile } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
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

// An example is an app as a developer writes one: its own modules by path, everything of Gatehouse by
// package name (gatehouse/sdk, gatehouse/ports/..., gatehouse/boards/...), so no module exists only to
// re-export the SDK or the drivers to the examples.
test("examples import only their own modules by path; Gatehouse's by package name", (t) => {
  const examples = join(root, "examples");
  const files = tsFiles(examples).filter((f) => !f.endsWith(".d.ts"));
  const offenders: string[] = [];
  for (const file of files) {
    const own = join(examples, relative(examples, file).split("/")[0]) + "/";
    if (dirname(file) === examples) offenders.push(`${relative(root, file)} belongs to no example`);
    for (const match of readFileSync(file, "utf8").matchAll(/^\s*(?:import|export)\b[^'"]*from\s+["']([^"']+)["']/gm)) {
      const specifier = match[1];
      if (specifier.startsWith(".") && !resolve(dirname(file), specifier).startsWith(own)) offenders.push(`${relative(root, file)} imports ${specifier}`);
      if (!specifier.startsWith(".") && !/^(gatehouse\/|mc\/)/.test(specifier)) offenders.push(`${relative(root, file)} imports ${specifier}`);
    }
  }
  t.true(files.length >= 10);
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

// One set of package names: what package.json "exports" maps on Node, the Moddable manifests map too, so
// an import by package name resolves on both (ports/node runs only on Node, and is Node's only).
// What sdk/index.ts loads at run time (value imports, followed through relative imports) is what every
// app on Moddable loads: each of those modules must be mapped by the root manifest, or the app fails at
// load ("module not found"), and each costs heap on the device. Type-only imports are erased.
test("every module the SDK's index loads at run time is mapped by the root Moddable manifest", (t) => {
  const manifest = JSON.parse(readFileSync(join(root, "manifest.json"), "utf8")) as { modules: Record<string, unknown> };
  const patterns = Object.keys(manifest.modules);
  const mapped = (name: string) =>
    patterns.some((key) => (key.endsWith("/*") ? name.startsWith(key.slice(0, -1)) && !name.slice(key.length - 1).includes("/") : key === name));
  const seen = new Set<string>();
  const unmapped: string[] = [];
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const name = `gatehouse/${relative(root, file).replace(/\.ts$/, "")}`;
    if (!mapped(name)) unmapped.push(name);
    for (const match of readFileSync(file, "utf8").matchAll(/^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+["'](\.[^"']+)["']/gm)) {
      if (match[2]) continue;
      visit(resolve(dirname(file), `${match[3]}.ts`));
    }
  };
  visit(join(root, "sdk/index.ts"));
  t.true(seen.size > 20, [...seen].join(", "));
  t.deepEqual(unmapped, []);
});

test("package.json exports and the Moddable manifests map the same package names", (t) => {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { exports: Record<string, string> };
  const modules = ["manifest.json", "boards/manifest.json", "ports/moddable/manifest_update.json"].flatMap((m) => Object.keys((JSON.parse(readFileSync(join(root, m), "utf8")) as { modules: Record<string, unknown> }).modules));
  const names = Object.keys(pkg.exports)
    .filter((key) => key !== "./package.json" && key !== "./ports/node")
    .map((key) => `gatehouse/${key.slice(2)}`);
  t.true(names.includes("gatehouse/sdk") && names.includes("gatehouse/ports/moddable"));
  t.deepEqual(
    names.filter((name) => !modules.includes(name)),
    [],
  );
});

test("the project type-checks (strict), with the typed-door compile-time checks", async (t) => {
  const tsc = join(root, "node_modules/typescript/bin/tsc");
  await t.notThrowsAsync(run(process.execPath, [tsc, "-p", "tsconfig.json", "--noEmit"], { cwd: root }));
});

for (const config of ["ports/moddable/tsconfig.json", "examples/tsconfig.json"]) {
  test(`device code type-checks without Node's types: ${config}`, async (t) => {
    const tsc = join(root, "node_modules/typescript/bin/tsc");
    await t.notThrowsAsync(run(process.execPath, [tsc, "-p", config], { cwd: root }));
  });
}

// Stale references: every file of this repository that a comment, a document or a manifest names by its
// path (sdk/..., docs/..., test/..., with its extension) exists.
test("every repository path named in the code and the documents exists", async (t) => {
  const { stdout } = await run("git", ["ls-files", "*.ts", "*.js", "*.mjs", "*.md", "*.json"], { cwd: root });
  const files = stdout.split("\n").filter((f) => f && !f.startsWith("test/fixtures/") && f !== "package-lock.json");
  const missing: string[] = [];
  for (const file of files) {
    const text = readFileSync(join(root, file), "utf8");
    for (const match of text.matchAll(/(?<![\w./$-])((?:sdk|host|ports|boards|examples|test|bench|docs|scripts|bin)\/[\w./-]+\.(?:ts|md|json|js|mjs))/g)) {
      if (!existsSync(join(root, match[1]))) missing.push(`${file} names ${match[1]}`);
    }
  }
  t.true(files.length > 100);
  t.deepEqual([...new Set(missing)], []);
});
