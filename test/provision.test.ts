// `gatehouse provision` as a user runs it (a real process in a temporary folder), and host/identity-files.ts:
// the files it writes (modes, kid, the key pair), the trust list and its roles, and one-line errors with
// stable codes for every bad input.
import test, { type ExecutionContext } from "ava";
import { execFile } from "node:child_process";
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { utf8 } from "../sdk/cbor/encode";
import { decodeKey, publicKey } from "../sdk/cose/key";
import { toHex } from "../sdk/bytes";
import { decodeTrust, TrustList } from "../sdk/trust";
import { errorCode } from "../sdk/errors";
import { nodeCrypto } from "../ports/node/crypto";
import { listIdentities, readIdentity, writeIdentity, generateDeviceKey, checkDeviceId } from "../host/identity-files";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = join(repoRoot, "bin", "gatehouse.js");
const ERROR_LINE = /^gatehouse provision: error [a-z0-9-]+: \S.*\n$/;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

let dir = "";

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
  return result;
}

/** A failure with exit status `exit`, one error line naming `code`, and nothing written to stdout. */
async function fails(t: ExecutionContext, exit: number, code: string, ...args: string[]): Promise<void> {
  const result = await gatehouse(...args);
  t.is(result.code, exit, `${args.join(" ")}: ${result.stderr}`);
  t.regex(result.stderr, ERROR_LINE, `${args.join(" ")}: one error line`);
  t.true(result.stderr.includes(`error ${code}:`), `${args.join(" ")}: expected ${code}, got ${result.stderr}`);
  t.false(result.stderr.includes("    at "), "no stack trace");
  t.is(result.stdout, "");
}

test.before(async (t) => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-provision-"));
  await Promise.all([
    ok(t, "keygen", "--alg", "ES256", "--kid", "admin", "--out", "keys"),
    ok(t, "keygen", "--alg", "EdDSA", "--kid", "ops", "--out", "keys"),
  ]);
});

test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("writes device.key (0600), device.pub and trust.cbor with kid = device id and the operators' roles", async (t) => {
  const result = await ok(t, "provision", "--id", "thermo-1", "--out", "ids", "--operator", "keys/admin.pub:administer", "--operator", "keys/ops.pub:operate");
  t.regex(result.stdout, /provisioned device "thermo-1"/);
  t.regex(result.stdout, /"admin" \(ES256\) as administer/);
  t.regex(result.stdout, /"ops" \(EdDSA\) as operate/);

  const deviceDir = join(dir, "ids", "thermo-1");
  t.is((await stat(join(deviceDir, "device.key"))).mode & 0o777, 0o600);
  t.is((await stat(deviceDir)).mode & 0o077, 0, "the device folder is private too");
  const key = decodeKey(new Uint8Array(await readFile(join(deviceDir, "device.key"))));
  const pub = decodeKey(new Uint8Array(await readFile(join(deviceDir, "device.pub"))));
  t.is(key.alg, "ES256", "ES256 by default");
  t.deepEqual(key.kid, utf8("thermo-1"));
  t.truthy(key.d);
  t.is(pub.d, undefined);
  t.deepEqual([pub.alg, pub.kid, pub.x, pub.y], [key.alg, key.kid, key.x, key.y], "device.pub is the public half");
  // The key pair works: what the private half signs, the public half verifies.
  const signature = nodeCrypto.sign("ES256", key, utf8("hello"));
  t.true(nodeCrypto.verify("ES256", pub, utf8("hello"), signature));

  const trust = decodeTrust(new Uint8Array(await readFile(join(deviceDir, "trust.cbor"))));
  t.is(trust.entries().length, 2, "the device trusts these two and nothing else");
  t.is(trust.roleOf(toHex(utf8("admin"))), "administer");
  t.is(trust.roleOf(toHex(utf8("ops"))), "operate");
  t.is(trust.entries().find((e) => e.role === "operate")?.key.alg, "EdDSA");
  for (const entry of trust.entries()) t.is(entry.key.d, undefined, "no private key in a trust list");

  const identity = readIdentity(deviceDir);
  t.is(identity.id, "thermo-1");
  t.deepEqual(identity.publicKey.x, pub.x);
  t.deepEqual(listIdentities(join(dir, "ids")), ["thermo-1"]);
});

test("--alg EdDSA; no operators is allowed but noted; an existing identity needs --force", async (t) => {
  const result = await ok(t, "provision", "--id", "lonely", "--out", "ids2", "--alg", "EdDSA");
  t.regex(result.stderr, /trusts no operator/);
  const key = decodeKey(new Uint8Array(await readFile(join(dir, "ids2", "lonely", "device.key"))));
  t.is(key.alg, "EdDSA");
  t.is(decodeTrust(new Uint8Array(await readFile(join(dir, "ids2", "lonely", "trust.cbor")))).entries().length, 0);

  const before = await readFile(join(dir, "ids2", "lonely", "device.key"));
  await fails(t, 1, "file-exists", "provision", "--id", "lonely", "--out", "ids2");
  t.deepEqual(await readFile(join(dir, "ids2", "lonely", "device.key")), before, "the existing key is untouched");
  await ok(t, "provision", "--id", "lonely", "--out", "ids2", "--force", "--operator", "keys/admin.pub:view");
  const replaced = decodeKey(new Uint8Array(await readFile(join(dir, "ids2", "lonely", "device.key"))));
  t.notDeepEqual(replaced.d, key.d, "--force makes a new key pair");
  t.is(replaced.alg, "ES256");
});

test("bad input: one error line with a stable code, and nothing written", async (t) => {
  await fails(t, 2, "usage", "provision", "--out", "bad");
  await fails(t, 2, "usage", "provision", "--id", "x");
  await fails(t, 2, "usage", "provision", "--id", "Thermo", "--out", "bad");
  await fails(t, 2, "usage", "provision", "--id", "a".repeat(33), "--out", "bad");
  await fails(t, 2, "usage", "provision", "--id", "a/b", "--out", "bad");
  await fails(t, 2, "usage", "provision", "--id", "ok-1", "--out", "bad", "--alg", "RS256");
  await fails(t, 2, "usage", "provision", "--id", "ok-1", "--out", "bad", "--operator", "keys/admin.pub");
  await fails(t, 2, "usage", "provision", "--id", "ok-1", "--out", "bad", "--operator", "keys/admin.pub:root");
  await fails(t, 2, "usage", "provision", "--id", "ok-1", "--out", "bad", "--operator", ":operate");
  await fails(t, 2, "usage", "provision", "--id", "ok-1", "--out", "bad", "--bogus");
  await fails(t, 1, "key-file", "provision", "--id", "ok-1", "--out", "bad", "--operator", "keys/missing.pub:view");
  await writeFile(join(dir, "garbage.pub"), "not a key");
  await fails(t, 1, "key-file", "provision", "--id", "ok-1", "--out", "bad", "--operator", "garbage.pub:view");
  await fails(t, 1, "trust-invalid", "provision", "--id", "ok-1", "--out", "bad", "--operator", "keys/admin.pub:view", "--operator", "keys/admin.pub:operate");
  await t.throwsAsync(stat(join(dir, "bad")), undefined, "nothing was written");
});

test("identity files: the library refuses what does not fit together", async (t) => {
  const root = join(dir, "lib");
  t.is(errorCode(catching(() => checkDeviceId("UPPER"))), "identity-invalid");
  const key = generateDeviceKey("dev-a");
  t.deepEqual(key.kid, utf8("dev-a"));
  // The kid must name the device.
  t.is(errorCode(catching(() => writeIdentity(root, { id: "dev-b", key, trust: new TrustList() }))), "identity-invalid");
  // A public key cannot be a device's identity.
  t.is(errorCode(catching(() => writeIdentity(root, { id: "dev-a", key: publicKey(key), trust: new TrustList() }))), "identity-invalid");
  writeIdentity(root, { id: "dev-a", key, trust: new TrustList() });
  t.is(readIdentity(join(root, "dev-a")).id, "dev-a");
  // A device.pub that is not the private key's public half is caught.
  const other = generateDeviceKey("dev-a");
  const { encodeKey } = await import("../sdk/cose/key");
  await writeFile(join(root, "dev-a", "device.pub"), encodeKey(publicKey(other)));
  t.is(errorCode(catching(() => readIdentity(join(root, "dev-a")))), "identity-invalid");
  t.is(errorCode(catching(() => readIdentity(join(root, "nothing-here")))), "identity-invalid");
  t.deepEqual(listIdentities(join(dir, "no-such-folder")), []);
});

// Issue 11: provision wrote device.key.<pid>.tmp with flag "w" and renamed it: a symlink planted at that
// predictable name received the private key, and device.key became the symlink.
test("provisioning never writes through a planted symlink and keeps the device folder private", async (t) => {
  const root = join(dir, "planted");
  const deviceDir = join(root, "dev-s");
  const stolen = join(dir, "stolen-key");
  await mkdir(deviceDir, { recursive: true, mode: 0o755 });
  await chmod(deviceDir, 0o755); // an existing folder, readable by others
  await symlink(stolen, join(deviceDir, `device.key.${process.pid}.tmp`));
  await symlink(stolen, join(deviceDir, "device.key.tmp"));
  const key = generateDeviceKey("dev-s");
  writeIdentity(root, { id: "dev-s", key, trust: new TrustList() });
  await t.throwsAsync(stat(stolen), undefined, "nothing was written through the planted links");
  const written = await lstat(join(deviceDir, "device.key"));
  t.true(written.isFile() && !written.isSymbolicLink(), "device.key is a file of its own");
  t.is(written.mode & 0o777, 0o600);
  t.is((await stat(deviceDir)).mode & 0o777, 0o700, "an existing folder is made private");
  t.deepEqual(readIdentity(deviceDir).key.d, key.d);
  t.deepEqual((await readdir(deviceDir)).filter((n) => n.endsWith(".tmp")).sort(), [`device.key.${process.pid}.tmp`, "device.key.tmp"], "no temporary file left behind");

  // A symlink at device.key itself: an existing name (file-exists) without --force; replaced, not
  // followed, with it.
  const other = join(root, "dev-t");
  await mkdir(other, { recursive: true });
  await symlink(stolen, join(other, "device.key"));
  t.is(errorCode(catching(() => writeIdentity(root, { id: "dev-t", key: generateDeviceKey("dev-t"), trust: new TrustList() }))), "file-exists");
  writeIdentity(root, { id: "dev-t", key: generateDeviceKey("dev-t"), trust: new TrustList() }, { force: true });
  t.false((await lstat(join(other, "device.key"))).isSymbolicLink());
  await t.throwsAsync(stat(stolen), undefined, "the link's target was never written");

  // The device folder itself a symlink to somewhere else: refused, nothing written there.
  const elsewhere = join(dir, "elsewhere");
  await mkdir(elsewhere);
  await symlink(elsewhere, join(root, "dev-u"));
  t.is(errorCode(catching(() => writeIdentity(root, { id: "dev-u", key: generateDeviceKey("dev-u"), trust: new TrustList() }))), "file");
  t.deepEqual(await readdir(elsewhere), []);

  // Through the CLI: the same refusal, as one error line.
  await mkdir(join(dir, "ids3"));
  await symlink(elsewhere, join(dir, "ids3", "dev-v"));
  await fails(t, 1, "file", "provision", "--id", "dev-v", "--out", "ids3");
  t.deepEqual(await readdir(elsewhere), []);
});

test("identity files are read bounded and never through a symlink", async (t) => {
  const root = join(dir, "reading");
  writeIdentity(root, { id: "dev-r", key: generateDeviceKey("dev-r"), trust: new TrustList() });
  const deviceDir = join(root, "dev-r");
  // A device.key replaced by a link (to a valid key elsewhere): refused, not followed.
  const copy = join(dir, "dev-r.key");
  await writeFile(copy, await readFile(join(deviceDir, "device.key")));
  await rm(join(deviceDir, "device.key"));
  await symlink(copy, join(deviceDir, "device.key"));
  const refused = catching(() => readIdentity(deviceDir));
  t.is(errorCode(refused), "identity-invalid");
  t.regex((refused as Error).message, /symbolic link/);
  // A 3 GiB device.pub (sparse: no disk used): the server's identity scan skips it as too-large after
  // reading 64 KiB, instead of reading it whole.
  const { loadDeviceKeys } = await import("../host/client/device-keys");
  writeIdentity(root, { id: "dev-z", key: generateDeviceKey("dev-z"), trust: new TrustList() });
  await truncate(join(root, "dev-z", "device.pub"), 3 * 1024 ** 3);
  const scan = loadDeviceKeys(root);
  t.deepEqual([...scan.keys.keys()], ["dev-r"], "dev-r's public key is still read (a public key may be a link)");
  t.is(scan.skipped.length, 1);
  t.regex(scan.skipped[0], /too-large/);
});

function catching(run: () => unknown): unknown {
  try {
    run();
  } catch (e) {
    return e;
  }
  return undefined;
}
