// The update tools as a user runs them (real processes): provisioning with update keys and a threshold,
// `update create --integrate` (the image inside the file as SUIT's integrated payload) and `update
// inspect` showing it, and `update trust` writing a trust update that a device with the provisioned
// trust accepts.
import test, { type ExecutionContext } from "ava";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { toHex } from "../sdk/bytes";
import { decode } from "../sdk/cbor/decode";
import { encode } from "../sdk/cbor/encode";
import type { CborTag } from "../sdk/cbor/types";
import { acceptTrustUpdate, decodeTrustDocument } from "../sdk/update/trust";
import { nodeCrypto } from "../ports/node/crypto";
import { readIdentity } from "../host/identity-files";
import { prepareUpdate } from "../host/server/update-transfer";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = join(repoRoot, "bin", "gatehouse.js");
const VENDOR = "fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe";
const CLASS = "1492af1425695e48bf429b2d51f2ab45";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function gatehouse(dir: string, ...args: string[]): Promise<Result> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, NO_COLOR: "1", GATEHOUSE_DEBUG: "" } }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

async function setup(t: ExecutionContext): Promise<{ dir: string; run: (...args: string[]) => Promise<Result>; ok: (...args: string[]) => Promise<Result>; fails: (code: string, ...args: string[]) => Promise<Result> }> {
  const dir = await mkdtemp(join(tmpdir(), "gh-update-cli-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const run = (...args: string[]) => gatehouse(dir, ...args);
  const ok = async (...args: string[]) => {
    const r = await run(...args);
    t.is(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    return r;
  };
  const fails = async (code: string, ...args: string[]) => {
    const r = await run(...args);
    t.not(r.code, 0, `${args.join(" ")} should fail`);
    t.regex(r.stderr, new RegExp(`^gatehouse [a-z]+: error ${code}: \\S.*\\n$`), `${args.join(" ")}: ${r.stderr}`);
    return r;
  };
  for (const kid of ["rel-1", "rel-2", "rel-3", "rel-4"]) await ok("keygen", "--alg", "ES256", "--kid", kid, "--out", "keys");
  return { dir, run, ok, fails };
}

test("provision --update-key x3 --update-threshold 2 writes the update trust beside device.key; bad thresholds are refused", async (t) => {
  const { dir, ok, fails } = await setup(t);
  const r = await ok("provision", "--id", "thermo-1", "--out", "ids", "--update-key", "keys/rel-1.pub", "--update-key", "keys/rel-2.pub", "--update-key", "keys/rel-3.pub", "--update-threshold", "2");
  t.regex(r.stdout, /update-trust\.cbor {2}updates need 2 of 3 update keys: "rel-1", "rel-2", "rel-3"/);
  const document = decodeTrustDocument(new Uint8Array(await readFile(join(dir, "ids", "thermo-1", "update-trust.cbor"))));
  t.like(document, { seq: 0, threshold: 2, minEpoch: 0 });
  t.deepEqual(document.keys.map((k) => new TextDecoder().decode(k.kid)), ["rel-1", "rel-2", "rel-3"]);
  t.true(document.keys.every((k) => k.d === undefined), "public keys only");
  t.is(readIdentity(join(dir, "ids", "thermo-1")).updateTrust?.threshold, 2, "the identity reads it back");

  await fails("usage", "provision", "--id", "t2", "--out", "ids", "--update-key", "keys/rel-1.pub", "--update-threshold", "2");
  await fails("usage", "provision", "--id", "t2", "--out", "ids", "--update-threshold", "1");
  await fails("usage", "provision", "--id", "t2", "--out", "ids", "--update-key", "keys/rel-1.pub", "--update-threshold", "0");
  await fails("suit-trust-invalid", "provision", "--id", "t2", "--out", "ids", "--update-key", "keys/rel-1.pub", "--update-key", "keys/rel-1.pub");
  const none = await ok("provision", "--id", "t3", "--out", "ids");
  t.regex(none.stderr, /no update keys, so it will refuse every update/);
});

test("update create --integrate carries the image; inspect shows and checks it; the server's reader takes it", async (t) => {
  const { dir, ok, fails } = await setup(t);
  const image = new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff);
  await writeFile(join(dir, "fw.bin"), image);
  const created = await ok("update", "create", "--image", "fw.bin", "--seq", "7", "--vendor-id", VENDOR, "--class-id", CLASS, "--key", "keys/rel-1.key", "--key", "keys/rel-2.key", "--integrate", "--epoch", "3", "--out", "fw.suit");
  t.regex(created.stdout, /with the image integrated as "#image"/);
  const file = new Uint8Array(await readFile(join(dir, "fw.suit")));
  t.true(file.length > image.length);
  const prepared = prepareUpdate(file);
  t.is(prepared.imageSize, image.length);
  t.is(toHex(prepared.imageDigest), toHex(nodeCrypto.sha256(image)));
  t.true(prepared.envelope.length < 1024, "what devices are offered carries no image");

  const shown = await ok("update", "inspect", "fw.suit", "--key", "keys/rel-1.pub", "--key", "keys/rel-2.pub", "--threshold", "2");
  t.regex(shown.stdout, /^verified {7}yes: 2 distinct/m);
  t.regex(shown.stdout, /^ {2}uri {10}#image$/m);
  t.regex(shown.stdout, new RegExp(`^integrated {5}"#image": 100000 bytes sha256 ${toHex(nodeCrypto.sha256(image))}: the image of component 0$`, "m"));
  const json = JSON.parse((await ok("update", "inspect", "fw.suit", "--json")).stdout);
  t.deepEqual(json.integrated, [{ key: "#image", size: 100000, digest: toHex(nodeCrypto.sha256(image)), component: 0, matches: true }]);

  // Another image in the same signed file: shown as not matching, and refused when verifying.
  const tag = decode(file, { maxLength: 1 << 24, maxStringLength: 1 << 24, maxDepth: 4, maxItems: 64 }) as CborTag;
  (tag.value as Map<unknown, unknown>).set("#image", image.map((b) => b ^ 1));
  await writeFile(join(dir, "swapped.suit"), encode(tag));
  const unverified = await ok("update", "inspect", "swapped.suit");
  t.regex(unverified.stdout, /"#image": 100000 bytes sha256 [0-9a-f]+: DOES NOT match: the manifest says sha256/);
  await fails("suit-image-digest-mismatch", "update", "inspect", "swapped.suit", "--key", "keys/rel-1.pub");
  t.throws(() => prepareUpdate(encode(tag)), { message: /SHA-256/ }, "the server refuses it too");
  await fails("usage", "update", "create", "--image", "fw.bin", "--seq", "7", "--vendor-id", VENDOR, "--class-id", CLASS, "--key", "keys/rel-1.key", "--integrate", "--uri", "https://x", "--out", "x.suit");
});

test("update trust writes a trust update that a device with the provisioned trust accepts under its threshold", async (t) => {
  const { dir, ok, fails } = await setup(t);
  await ok("provision", "--id", "thermo-1", "--out", "ids", "--update-key", "keys/rel-1.pub", "--update-key", "keys/rel-2.pub", "--update-key", "keys/rel-3.pub", "--update-threshold", "2");
  const current = readIdentity(join(dir, "ids", "thermo-1")).updateTrust!;
  const r = await ok("update", "trust", "--key", "keys/rel-1.key", "--key", "keys/rel-2.key", "--new-key", "keys/rel-1.pub", "--new-key", "keys/rel-2.pub", "--new-key", "keys/rel-4.pub", "--threshold", "2", "--seq", "1", "--min-epoch", "5", "--out", "t1.trust");
  t.regex(r.stdout, /seq 1, 2 of 3 keys \("rel-1", "rel-2", "rel-4"\), minimum epoch 5, signed by "rel-1", "rel-2"/);
  const next = acceptTrustUpdate(nodeCrypto, new Uint8Array(await readFile(join(dir, "t1.trust"))), current);
  t.like(next, { seq: 1, threshold: 2, minEpoch: 5 });
  t.deepEqual(next.keys.map((k) => new TextDecoder().decode(k.kid)), ["rel-1", "rel-2", "rel-4"]);

  // One signer where two are needed: written (the tool cannot know the device's threshold), refused by the device.
  await ok("update", "trust", "--key", "keys/rel-3.key", "--new-key", "keys/rel-4.pub", "--threshold", "1", "--seq", "2", "--out", "t2.trust");
  t.throws(() => acceptTrustUpdate(nodeCrypto, new Uint8Array(readFileSync(join(dir, "t2.trust"))), current), { message: /of the required 2/ });
  await fails("usage", "update", "trust", "--key", "keys/rel-1.key", "--new-key", "keys/rel-4.pub", "--threshold", "2", "--seq", "1", "--out", "x");
  await fails("usage", "update", "trust", "--key", "keys/rel-1.key", "--new-key", "keys/rel-4.pub", "--threshold", "1", "--seq", "0", "--out", "x");
  await fails("key-file", "update", "trust", "--key", "keys/rel-1.pub", "--new-key", "keys/rel-4.pub", "--threshold", "1", "--seq", "1", "--out", "x");
  t.regex((await gatehouse(dir, "update", "trust", "--help")).stdout, /gatehouse update trust --key CURRENT\.key/);
});
