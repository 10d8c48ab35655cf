// `gatehouse update create` and `gatehouse update inspect` as a user runs them: real processes in a
// temporary folder, checked for exit codes, one-line coded errors, and envelopes that the device code
// verifies.
import test, { type ExecutionContext } from "ava";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { utf8 } from "../sdk/cbor/encode";
import { encodeKey, publicKey, type CoseKey } from "../sdk/cose/key";
import { toHex } from "../sdk/bytes";
import { nodeCrypto } from "../ports/node/crypto";
import { verifyEnvelope } from "../sdk/suit/envelope";
import { parseManifest } from "../sdk/suit/manifest";
import { summarizeManifest } from "../sdk/suit/inspect";
import { createUpdateTrust } from "../sdk/suit/trust";
import { SUIT_EXAMPLE_KEY, vectorEnvelope } from "./conformance/suit-support";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = join(repoRoot, "bin", "gatehouse.js");
const ERROR_LINE = /^gatehouse update: error [a-z0-9-]+: \S.*\n$/;
const VENDOR = "fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe";
const CLASS = "1492af1425695e48bf429b2d51f2ab45";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

let dir = "";
let alice: CoseKey;
let bob: CoseKey;
/** A 3 MiB image: bigger than a device message, streamed by create. */
let image: Uint8Array;

function gatehouse(...args: string[]): Promise<Result> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, NO_COLOR: "1", GATEHOUSE_DEBUG: "" } }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

async function ok(t: ExecutionContext, ...args: string[]): Promise<Result> {
  const result = await gatehouse(...args);
  t.is(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
  t.false(result.stderr.includes("    at "), "no stack trace");
  return result;
}

async function fails(t: ExecutionContext, exit: number, code: string, ...args: string[]): Promise<Result> {
  const result = await gatehouse(...args);
  t.is(result.code, exit, `${args.join(" ")}: ${result.stderr}`);
  t.regex(result.stderr, ERROR_LINE, `${args.join(" ")}: one error line`);
  t.true(result.stderr.includes(`error ${code}:`), `${args.join(" ")}: expected ${code}, got ${result.stderr}`);
  t.false(result.stderr.includes("    at "), "no stack trace");
  return result;
}

const createArgs = (out: string, ...more: string[]): string[] => [
  "update", "create", "--image", "fw.bin", "--seq", "12", "--vendor-id", VENDOR, "--class-id", CLASS, "--key", "alice.key", "--out", out, ...more,
];

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-update-"));
  alice = nodeCrypto.generateKey("ES256", utf8("alice"));
  bob = nodeCrypto.generateKey("EdDSA", utf8("bob"));
  for (const [name, key] of [["alice", alice], ["bob", bob]] as const) {
    await writeFile(join(dir, `${name}.key`), encodeKey(key, true), { mode: 0o600 });
    await writeFile(join(dir, `${name}.pub`), encodeKey(publicKey(key)));
  }
  await writeFile(join(dir, "stranger.pub"), encodeKey(publicKey(nodeCrypto.generateKey("EdDSA", utf8("stranger")))));
  await writeFile(join(dir, "example.pub"), encodeKey(publicKey(SUIT_EXAMPLE_KEY)));
  await writeFile(join(dir, "example0.suit"), vectorEnvelope("example0.hex"));
  await writeFile(join(dir, "unsigned.suit"), vectorEnvelope("variants/example0-without-cose-auth.hex"));
  image = new Uint8Array(3 * 1024 * 1024);
  for (let i = 0; i < image.length; i++) image[i] = (i * 2654435761) >>> 24;
  await writeFile(join(dir, "fw.bin"), image);
});

test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("update --help describes both subcommands", async (t) => {
  for (const args of [["update", "--help"], ["update", "create", "--help"], ["update", "inspect", "-h"]]) {
    const { stdout } = await ok(t, ...args);
    t.regex(stdout, /gatehouse update create --image FILE/);
    t.regex(stdout, /gatehouse update inspect FILE\.suit/);
  }
});

test("update create signs with two keys; the device code verifies 2 of 2 and reads what was asked", async (t) => {
  const { stdout } = await ok(t, ...createArgs("two.suit", "--key", "bob.key", "--uri", "mqtt:fw/12", "--epoch", "3"));
  const digest = createHash("sha256").update(image).digest("hex");
  t.regex(stdout, new RegExp(`^wrote two.suit \\(SUIT envelope, \\d+ bytes\\): seq 12, image ${image.length} bytes sha256 ${digest}, epoch 3, signed by "alice", "bob"\\n$`));
  const bytes = new Uint8Array(await readFile(join(dir, "two.suit")));
  const manifest = parseManifest(nodeCrypto, verifyEnvelope(nodeCrypto, bytes, createUpdateTrust([publicKey(alice), publicKey(bob)], 2)));
  const [component] = summarizeManifest(manifest).components;
  t.is(manifest.sequenceNumber, 12);
  t.is(toHex(component.imageDigest!.bytes), digest);
  t.is(component.imageSize, image.length);
  t.is(component.securityEpoch, 3);
  t.is(component.uri, "mqtt:fw/12");
  t.is(toHex(component.vendorId!), VENDOR.replace(/-/g, ""));
  t.is(toHex(component.classId!), CLASS);
});

test("update inspect prints the manifest; with keys it verifies, without it says it did not", async (t) => {
  await ok(t, ...createArgs("one.suit", "--key", "bob.key"));
  const plain = await ok(t, "update", "inspect", "one.suit");
  t.regex(plain.stdout, /^verified +NO: no --key given/m);
  t.regex(plain.stdout, /^sequence +12$/m);
  t.regex(plain.stdout, new RegExp(`^  vendor-id +${VENDOR}$`, "m"));
  t.regex(plain.stdout, /^  class-id +1492af14-2569-5e48-bf42-9b2d51f2ab45$/m);
  t.regex(plain.stdout, new RegExp(`^  image size +${image.length} bytes$`, "m"));
  t.regex(plain.stdout, /^  epoch +0$/m);
  t.regex(plain.stdout, /^  block 1 +kid "bob": not checked$/m);
  const checked = await ok(t, "update", "inspect", "one.suit", "--key", "alice.pub", "--key", "bob.pub", "--threshold", "2");
  t.regex(checked.stdout, /^verified +yes: 2 distinct update keys signed \(2 required\): "alice", "bob"$/m);
  const json = JSON.parse((await ok(t, "update", "inspect", "one.suit", "--key", "bob.pub", "--json")).stdout);
  t.is(json.verified, true);
  t.is(json.sequenceNumber, 12);
  t.is(json.components[0].imageDigest, createHash("sha256").update(image).digest("hex"));
  t.deepEqual(json.signatures.map((s: { result: string }) => s.result), ["unknown-kid", "ok"]);
});

test("update inspect exits 1 with a coded line on any verification failure", async (t) => {
  await ok(t, ...createArgs("alice.suit"));
  await fails(t, 1, "suit-threshold-not-met", "update", "inspect", "alice.suit", "--key", "stranger.pub");
  await fails(t, 1, "suit-threshold-not-met", "update", "inspect", "alice.suit", "--key", "alice.pub", "--key", "bob.pub", "--threshold", "2");
  const bytes = new Uint8Array(await readFile(join(dir, "alice.suit")));
  const tampered = bytes.slice();
  tampered[tampered.length - 3] ^= 1; // inside the manifest
  await writeFile(join(dir, "tampered.suit"), tampered);
  await fails(t, 1, "suit-manifest-digest-mismatch", "update", "inspect", "tampered.suit", "--key", "alice.pub");
  await fails(t, 1, "suit-unsigned", "update", "inspect", "unsigned.suit", "--key", "example.pub");
  await writeFile(join(dir, "big.suit"), new Uint8Array(9000));
  await fails(t, 1, "cbor-too-long", "update", "inspect", "big.suit");
  // The draft's example verifies with its published key (no kid: matched by trying the key).
  const example = await ok(t, "update", "inspect", "example0.suit", "--key", "example.pub");
  t.regex(example.stdout, /^  block 0 +kid \(no kid\): ok$/m);
});

test("update: usage errors exit 2, bad inputs exit 1, each with one line", async (t) => {
  await fails(t, 2, "usage", "update");
  await fails(t, 2, "usage", "update", "push");
  await fails(t, 2, "usage", "update", "create", "--image", "fw.bin", "--seq", "1", "--vendor-id", VENDOR, "--class-id", CLASS, "--out", "x.suit");
  await fails(t, 2, "usage", ...createArgs("x.suit").map((a) => (a === VENDOR ? "not-a-uuid" : a)));
  await fails(t, 2, "usage", ...createArgs("x.suit", "--epoch", "-1"));
  await fails(t, 2, "usage", ...createArgs("fw.bin"));
  await fails(t, 2, "usage", "update", "inspect", "alice.suit", "--key", "alice.pub", "--threshold", "2");
  await fails(t, 1, "key-file", ...createArgs("x.suit").map((a) => (a === "alice.key" ? "alice.pub" : a)));
  await fails(t, 1, "file", ...createArgs("x.suit").map((a) => (a === "fw.bin" ? "missing.bin" : a)));
  await fails(t, 1, "suit-duplicate-signer", ...createArgs("x.suit", "--key", "alice.key"));
});
