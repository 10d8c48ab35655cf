// The README's app (section "An app") compiles and runs as written on Node: its blocks are written out
// as files, type-checked (app.ts with main-node.ts under Node's types; app.ts with main.ts under the
// Moddable typings, without Node's), and main-node.ts is run as the README says, with an identity from
// the provisioning code, against mosquitto. Operators then command it through the broker and verify its
// results with its key; the fleet server sees it. The same app on Moddable's lin simulator:
// test/device/readme.test.ts.
import test from "ava";
import { spawn } from "node:child_process";
import { execFile } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { utf8 } from "../sdk/cbor/encode";
import { publicKey } from "../sdk/cose/key";
import { TrustList } from "../sdk/trust";
import { nodeCrypto } from "../ports/node/crypto";
import { CommandClient } from "../host/client/command-client";
import { generateDeviceKey, writeIdentity } from "../host/identity-files";
import { FleetServer } from "../host/server/index";
import { startMosquitto } from "./support/brokers";
import { until } from "./support/devices";
import { writeReadmeApp } from "./support/readme";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "..");
const dir = join(root, ".tmp", "readme-app");
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");

const COMPILER = { target: "es2022", module: "preserve", moduleResolution: "bundler", strict: true, noEmit: true, verbatimModuleSyntax: true, isolatedModules: true, skipLibCheck: true };

const files = writeReadmeApp(dir);

test.serial("the README names the app's files: app.ts, main-node.ts, main.ts and manifest.json", (t) => {
  t.deepEqual([...files.keys()].sort(), ["app.ts", "main-node.ts", "main.ts", "manifest.json"]);
  t.true(files.get("app.ts")!.includes('from "gatehouse/sdk"'), "the app imports the SDK by its package name");
  t.notRegex(files.get("app.ts")!, /from "\.\.?\//, "and nothing by path");
  t.notThrows(() => JSON.parse(files.get("manifest.json")!));
});

test.serial("it type-checks as written: on Node, and for Moddable without Node's types", async (t) => {
  const node = join(dir, "tsconfig.node.json");
  writeFileSync(node, JSON.stringify({ compilerOptions: { ...COMPILER, lib: ["es2022", "dom"], types: ["node"] }, files: ["app.ts", "main-node.ts"] }));
  const types = readdirSync(join(root, "ports/moddable/types")).map((name) => join(root, "ports/moddable/types", name));
  const moddable = join(dir, "tsconfig.moddable.json");
  writeFileSync(moddable, JSON.stringify({ compilerOptions: { ...COMPILER, lib: ["es2022"], types: [] }, files: ["app.ts", "main.ts", ...types] }));
  for (const config of [node, moddable]) {
    const result = await run(process.execPath, [tsc, "-p", config], { cwd: dir }).then(
      () => "",
      (e: { stdout?: string }) => e.stdout ?? String(e),
    );
    t.is(result, "", config);
  }
});

test.serial("it runs as written on Node: online at the fleet server, commands answered and refused by its door, results verified with its key", async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const operatorKey = nodeCrypto.generateKey("EdDSA", utf8("readme-operator"));
  const adminKey = nodeCrypto.generateKey("EdDSA", utf8("readme-admin"));
  const trust = new TrustList([
    { key: publicKey(operatorKey), role: "operate" },
    { key: publicKey(adminKey), role: "administer" },
  ]);
  const id = "readme-1";
  const key = generateDeviceKey(id);
  const identities = join(dir, "identities");
  writeIdentity(identities, { id, key, trust }, { force: true });
  const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", identitiesDir: identities, clientId: `readme-server-${process.pid}` });
  t.teardown(() => server.stop());

  // As the README says: node --import tsx main-node.ts BROKER IDENTITY
  const child = spawn(process.execPath, ["--import", "tsx", "main-node.ts", broker.url, join(identities, id)], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  t.teardown(() => void child.kill("SIGKILL"));
  await until("the app online at the fleet server", () => server.device(id)?.online || (child.exitCode !== null && `exit ${child.exitCode}`), 30_000).then((v) => {
    if (typeof v === "string") throw new Error(`the app ended (${v}):\n${output}`);
  });
  t.is(server.device(id)?.firmware, "readme-app 1.0");

  const operator = await CommandClient.connect({ brokerUrl: broker.url, key: operatorKey });
  t.teardown(() => operator.close());
  const admin = await CommandClient.connect({ brokerUrl: broker.url, key: adminKey });
  t.teardown(() => admin.close());
  const deviceKey = publicKey(key);
  const send = (client: CommandClient, op: string, args?: unknown) => client.send({ device: id, door: "setpoint", op, args: args as never, deviceKey });

  t.like(await send(operator, "read.target"), { ok: true, value: 21, verified: true }, "the app wrote 21 through its own door");
  t.like(await send(operator, "write.target", 22.5), { ok: true, verified: true });
  t.like(await send(operator, "read.target"), { ok: true, value: 22.5 });
  t.like(await send(operator, "write.target", 40), { ok: false, code: "invalid-args" }, "outside the schema");
  t.like(await send(operator, "invoke.setLimits", { min: 10, max: 20 }), { ok: false, code: "not-allowed" }, "setLimits needs administer");
  t.like(await send(admin, "invoke.setLimits", { min: 10, max: 20 }), { ok: true, value: true });
  t.like(await send(operator, "write.target", 25), { ok: false, code: "out-of-limits" }, "the door's own refusal");
  const changed = await until("the changed event as telemetry at the server", () => server.device(id)?.telemetry.find((row) => row.event === "changed" && row.data === 22.5));
  t.is(changed.door, "setpoint");
  await until("the not-allowed event at the server", () => server.events({ device: id }).find((e) => e.code === "not-allowed" && e.source === "device"));
  t.is(child.exitCode, null, `the app is still running:\n${output}`);
});
