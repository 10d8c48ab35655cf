// `gatehouse patch create` as a user runs it: a real process in a temporary folder; the envelope it writes
// is applied, with the .js file as its payload, by a Device whose patches run in ses's Compartment (this
// worker is locked down, as test/patch.test.ts's is).
import "./patch-ses";
import test from "ava";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { utf8 } from "../sdk/cbor/encode";
import { encodeKey, publicKey } from "../sdk/cose/key";
import { Device } from "../sdk/device";
import { defineDoor, t as types } from "../sdk/index";
import { TrustList } from "../sdk/trust";
import { Patches } from "../sdk/patch/patches";
import { createUpdateTrust } from "../sdk/suit/trust";
import { nodeCrypto } from "../ports/node/crypto";
import { nodeCompartments } from "../ports/node/compartment";
import { MemoryStorage } from "../ports/node/storage";
import { nodeClock } from "../ports/node/platform";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = join(repoRoot, "bin", "gatehouse.js");
const VENDOR = "fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe";
const CLASS = "1492af1425695e48bf429b2d51f2ab45";
const updateKey = nodeCrypto.generateKey("EdDSA", utf8("update-1"));

function gatehouse(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, NO_COLOR: "1", GATEHOUSE_DEBUG: "" } }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

const door = defineDoor({ name: "valve", properties: { open: { type: types.int({ min: 0, max: 100 }), read: "view", write: "operate" } } });

test("patch create writes an envelope a device applies with the .js file; a bad source is refused with one coded line", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "gatehouse-patch-cli-"));
  try {
    await writeFile(join(dir, "update.key"), encodeKey(updateKey, true), { mode: 0o600 });
    const source = "export default { valve: { read: { open(_, ctx) { return ctx.original() > 50 ? 50 : ctx.original(); } } } };\n";
    await writeFile(join(dir, "cap.js"), source);
    const common = ["--vendor-id", VENDOR, "--class-id", CLASS, "--key", "update.key"];
    const made = await gatehouse(dir, "patch", "create", "cap.js", "--seq", "4", ...common, "--out", "cap.suit");
    t.is(made.code, 0, made.stderr);
    t.regex(made.stdout, /wrote cap\.suit \(patch envelope, \d+ bytes\): seq 4/);

    let opening = 80;
    const device = new Device({
      id: "valve-1",
      key: nodeCrypto.generateKey("ES256", utf8("valve-1")),
      trust: new TrustList([]),
      ports: { crypto: nodeCrypto, clock: nodeClock, timers: { set: () => 0, clear: () => undefined }, storage: new MemoryStorage(), transport: { open() {}, publish() {}, subscribe() {}, close() {} } },
      firmware: { version: "valve 1" },
      patches: (link) =>
        new Patches({ compartment: nodeCompartments, trust: createUpdateTrust([publicKey(updateKey)], 1), vendorId: Buffer.from(VENDOR.replace(/-/g, ""), "hex"), classId: Buffer.from(CLASS, "hex") }, link),
    });
    const valve = device.register(door, { read: { open: () => opening }, write: { open: (v) => void (opening = v) } });
    t.is(valve.read("open"), 80, "the original logic");
    const info = device.patches!.apply(new Uint8Array(await readFile(join(dir, "cap.suit"))), new Uint8Array(await readFile(join(dir, "cap.js"))));
    t.is(info.sequenceNumber, 4);
    t.is(valve.read("open"), 50, "the patched logic");

    await writeFile(join(dir, "loop.js"), "export default { valve: { read: { open() { while (true) {} } } } };\n");
    const refused = await gatehouse(dir, "patch", "create", "loop.js", "--seq", "5", ...common, "--out", "loop.suit");
    t.is(refused.code, 1);
    t.regex(refused.stderr, /^gatehouse patch: error patch-source-invalid: .*"while".*\n$/);
    const usage = await gatehouse(dir, "patch", "create", "cap.js", ...common, "--out", "x.suit");
    t.is(usage.code, 2, "a missing --seq is a usage error");
    const help = await gatehouse(dir, "patch", "--help");
    t.is(help.code, 0);
    t.true(help.stdout.includes("gatehouse patch create FILE.js"));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
