// Boards and examples as Moddable sees them, for every board: mcconfig configures an app for the board's
// platform without building it (no ESP-IDF here: ESP32 firmware cannot be linked), and this test checks
// what Moddable's manifest machinery made of boards/manifest.json (which module became
// "gatehouse/boards/board"), then type-checks every Gatehouse module of that build with the tsconfig
// mcconfig generated (Moddable's own typings from $MODDABLE/typings, its paths map, target es2025), strict.
// The apps: the board check (test/boards/check), each example's own manifest (its Moddable entry,
// examples/<name>/main.ts, the shared entry ports/moddable/app.ts, the app), and the suite's own builds.
// A board whose IO classes do not fit the board contract, a driver that misuses an ECMA-419 class, or an
// entry that calls an API in a shape Moddable does not have fails here; deliberately wrong ones must fail.
import test from "ava";
import { execFile } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { moddableSdk, repoRoot as root } from "./support/moddable";

const run = promisify(execFile);
const work = join(root, "build", "device", "typecheck");
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const MODDABLE = moddableSdk();
const MCCONFIG = join(MODDABLE, "build", "bin", "lin", "release", "mcconfig");

/** Runs mcconfig for `platform` on `manifest` (configure only); returns the build's folder (manifest_flat.json, modules/). */
async function configure(manifest: string, platform: string, label: string): Promise<{ folder: string; ok: boolean; output: string }> {
  const out = join(work, label);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const env = { ...process.env, MODDABLE, PATH: `${join(root, "node_modules", ".bin")}:${process.env.PATH}` };
  try {
    const { stdout, stderr } = await run(MCCONFIG, ["-p", platform, "-t", "build", "-o", out, join(root, manifest)], { cwd: root, env });
    const flat = find(out, "manifest_flat.json");
    return { folder: flat ? dirname(flat) : out, ok: true, output: stdout + stderr };
  } catch (e) {
    const error = e as { stdout?: string; stderr?: string };
    return { folder: out, ok: false, output: `${error.stdout ?? ""}${error.stderr ?? ""}` };
  }
}

function find(dir: string, name: string): string | undefined {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (entry === name) return path;
    if (statSync(path).isDirectory()) {
      const found = find(path, name);
      if (found) return found;
    }
  }
  return undefined;
}

function boardModule(folder: string): string {
  const flat = JSON.parse(readFileSync(join(folder, "manifest_flat.json"), "utf8")) as { modules: Record<string, string[]> };
  return flat.modules["gatehouse/boards/board"]?.[0] ?? "(none)";
}

/** The repository's TypeScript files mcconfig would compile in this build (from its per-file tsconfigs). */
function ourTypeScript(folder: string): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (entry.endsWith("-tsconfig.json")) files.push(...(JSON.parse(readFileSync(path, "utf8")) as { files: string[] }).files);
    }
  };
  walk(join(folder, "modules"));
  return files.filter((f) => f.startsWith(`${root}/`)).sort();
}

/** Type-checks `files` with the build's generated base tsconfig, strict; returns tsc's output (empty: clean). */
async function typeCheck(folder: string, name: string, files: string[]): Promise<{ ok: boolean; output: string }> {
  const config = join(folder, `gatehouse-${name}-tsconfig.json`);
  const base = join(folder, "modules", "tsconfig-base.json");
  // noCheck: false, because the suite's own builds skip mcconfig's per-file check (manifest_device.json,
  // test/device/examples/manifest_examples.json): their code is checked here, once per build configuration.
  writeFileSync(config, JSON.stringify({ extends: base, compilerOptions: { strict: true, noEmit: true, noCheck: false, skipLibCheck: false }, files }, null, 2));
  try {
    await run(process.execPath, [tsc, "-p", config], { cwd: root });
    return { ok: true, output: "" };
  } catch (e) {
    return { ok: false, output: (e as { stdout?: string }).stdout ?? String(e) };
  }
}

const BOARDS = [
  { platform: "esp32", board: "boards/esp32/devkitc/provider", name: "ESP32-DevKitC" },
  { platform: "esp32/esp32s3", board: "boards/esp32/s3-devkitc-1/provider", name: "ESP32-S3-DevKitC-1" },
  { platform: "esp32/esp32s3_cdc", board: "boards/esp32/s3-devkitc-1/provider", name: "ESP32-S3-DevKitC-1 (USB CDC)" },
  { platform: "esp32/m5stack_core2", board: "boards/esp32/m5stack-core2/provider", name: "M5Stack Core2" },
  { platform: "esp32/moddable_two", board: "boards/esp32/moddable-two/provider", name: "Moddable Two" },
  { platform: "lin", board: "boards/lin", name: "lin (the simulated board)" },
];

const EXAMPLES = ["thermostat", "smart-lock", "sensor-node"];

for (const { platform, board, name } of BOARDS) {
  test(`-p ${platform} selects ${name}, and its modules type-check strictly against Moddable's typings`, async (t) => {
    const build = await configure("test/boards/check/manifest.json", platform, `check-${platform.replaceAll("/", "_")}`);
    t.true(build.ok, build.output);
    t.is(boardModule(build.folder), join(root, board));
    const files = ourTypeScript(build.folder);
    t.true(files.includes(`${join(root, board)}.ts`), `the board module is compiled: ${files.join(", ")}`);
    for (const driver of ["relay", "thermometer", "light", "lock"]) t.true(files.includes(join(root, "boards", "drivers", `${driver}.ts`)), driver);
    const checked = await typeCheck(build.folder, "boards", files);
    t.true(checked.ok, checked.output);
  });
}

// Every example on every board the README names (plus lin), each from its own manifest, as a user builds it.
for (const { platform, board, name } of BOARDS.filter((b) => b.platform !== "esp32/esp32s3_cdc")) {
  for (const example of EXAMPLES) {
    test(`${example} for -p ${platform} (${name}): its entry, the shared device entry and the app type-check strictly against Moddable's typings`, async (t) => {
      const build = await configure(`examples/${example}/manifest.json`, platform, `${example}-${platform.replaceAll("/", "_")}`);
      t.true(build.ok, build.output);
      t.is(boardModule(build.folder), join(root, board));
      const files = ourTypeScript(build.folder);
      for (const file of [`examples/${example}/main.ts`, `examples/${example}/app.ts`, "ports/moddable/app.ts", `${board}.ts`]) t.true(files.includes(join(root, file)), `${file} is compiled`);
      const checked = await typeCheck(build.folder, example, files);
      t.true(checked.ok, checked.output);
    });
  }
}

// The suite's own apps are built with mcconfig's per-file type check off (noCheck: it type-checks a file's
// whole import graph once per file, which doubled the suite's build time); this checks their TypeScript
// once, strictly, as mcconfig would have: the test app (conformance, ports, e2e and bench modes) and the
// examples as the suite wraps them (test/device/examples: the example, an ESP32's memory, a memory watch).
for (const app of ["test/device/app", ...EXAMPLES.map((e) => `test/device/examples/${e}`)]) {
  test(`the suite's build of ${app} for -p lin type-checks strictly against Moddable's typings`, async (t) => {
    const build = await configure(`${app}/manifest.json`, "lin", `suite-${app.replaceAll("/", "_")}`);
    t.true(build.ok, build.output);
    const files = ourTypeScript(build.folder).filter((f) => !f.includes("/node_modules/"));
    t.true(files.length > 30, files.join(", "));
    const checked = await typeCheck(build.folder, "suite", files);
    t.true(checked.ok, checked.output);
  });
}

test("a board whose IO does not fit the contract fails the check (here: PWM, which cannot read, given as Analog)", async (t) => {
  const build = await configure("test/boards/check/manifest.json", "esp32/moddable_two", "wrong-board");
  t.true(build.ok, build.output);
  const wrong = join(build.folder, "wrong-board.ts");
  const contract = join(root, "boards", "provider");
  writeFileSync(
    wrong,
    [
      `import builtin from "embedded:provider/builtin";`,
      `import type { BoardProvider } from "${contract}";`,
      `const board = { ...builtin, io: { ...builtin.io, Analog: builtin.io.PWM }, pin: { ...builtin.pin, heater: 26, temperature: 33, lock: 27, doorContact: 16, light: 35 } };`,
      `export default board satisfies BoardProvider;`,
      "",
    ].join("\n"),
  );
  const checked = await typeCheck(build.folder, "wrong", [wrong]);
  t.false(checked.ok);
  t.regex(checked.output, /wrong-board\.ts.*error TS\d+/s);
  t.regex(checked.output, /Property 'read' is missing/, "the missing read() is named");
  t.log(checked.output.trim().split("\n")[0]);
});

test("an entry that gives the shared device entry the wrong shape fails the check (here: a board without pins)", async (t) => {
  const build = await configure("examples/thermostat/manifest.json", "esp32", "wrong-entry");
  t.true(build.ok, build.output);
  const wrong = join(build.folder, "wrong-entry.ts");
  writeFileSync(
    wrong,
    [
      `import { startDevice } from "gatehouse/ports/moddable";`,
      `import { installThermostat } from "${join(root, "examples", "thermostat", "app")}";`,
      `startDevice({ name: "thermostat", firmware: "x", provider: { io: {} }, install: (c) => { installThermostat({ ...c }); } });`,
      "",
    ].join("\n"),
  );
  const checked = await typeCheck(build.folder, "wrong-entry", [wrong]);
  t.false(checked.ok);
  t.regex(checked.output, /wrong-entry\.ts.*error TS\d+/s);
  t.log(checked.output.trim().split("\n")[0]);
});

test("a platform without a Gatehouse board fails the build with a message naming the supported ones", async (t) => {
  for (const platform of ["esp32/nodemcu", "esp32/esp32c3"]) {
    const build = await configure("examples/smart-lock/manifest.json", platform, `no-board-${platform.replaceAll("/", "_")}`);
    t.false(build.ok, platform);
    t.regex(build.output, /Gatehouse has no board for this ESP32 subplatform: build with -p esp32 \(ESP32-DevKitC\), esp32\/esp32s3/);
  }
});

// The ESP32 update port (ports/moddable/update-esp32: ESP-IDF's OTA calls, resume and rollback through FFI)
// as an app builds it for -p esp32: configured with OTA partitions and the port's sdkconfig, type-checked
// strictly against Moddable's typings (embedded:storage/flash, the generated mc/ffi).
test("the ESP32 update port for -p esp32: OTA partitions, rollback enabled in its sdkconfig, FFI bindings; type-checks strictly", async (t) => {
  const build = await configure("test/device/update-esp32/manifest.json", "esp32", "update-esp32");
  t.true(build.ok, build.output);
  t.regex(build.output, /divided into OTA partitions/);
  const flat = JSON.parse(readFileSync(join(build.folder, "manifest_flat.json"), "utf8")) as { ffi?: { functions?: Record<string, unknown> }; build?: Record<string, string> };
  t.deepEqual(Object.keys(flat.ffi?.functions ?? {}).sort(), [
    "esp_ota_mark_app_valid_cancel_rollback",
    "esp_restart",
    "gatehouse_ota_abort",
    "gatehouse_ota_boot",
    "gatehouse_ota_finish",
    "gatehouse_ota_open",
    "gatehouse_ota_rollback",
    "gatehouse_ota_write",
  ]);
  t.regex(readFileSync(join(root, "ports/moddable/update-esp32/sdkconfig/sdkconfig.defaults"), "utf8"), /^CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE=y$/m);
  const files = ourTypeScript(build.folder);
  for (const file of ["ports/moddable/update-esp32/port.ts", "sdk/ports/update.ts", "test/device/update-esp32/main.ts"]) t.true(files.includes(join(root, file)), `${file} is compiled`);
  const checked = await typeCheck(build.folder, "update-esp32", files);
  t.true(checked.ok, checked.output);
});
