// The `gatehouse` CLI as a user runs it: every case starts `node bin/gatehouse.js ...` as a real
// process in a temporary folder and checks exit codes, output and the files written.
import test, { type ExecutionContext } from "ava";
import { execFile, spawn } from "node:child_process";
import { openSync } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { decode } from "../sdk/cbor/decode";
import { encode } from "../sdk/cbor/encode";
import { CborTag } from "../sdk/cbor/types";
import { decodeKey } from "../sdk/cose/key";
import { COMMANDS } from "../host/cli/main";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = join(repoRoot, "bin", "gatehouse.js");
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const ERROR_LINE = /^gatehouse( [a-z0-9-]+)?: error [a-z0-9-]+: \S.*\n$/;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

let dir = "";

// Each CLI process costs about 0.3 s of CPU (Node, tsx's loader thread, esbuild's JS). More processes
// at once than cores only adds switching, so runs queue for a slot.
const slots = Math.max(2, availableParallelism());
let running = 0;
const queue: (() => void)[] = [];
async function slot<T>(work: () => Promise<T>): Promise<T> {
  if (running >= slots) await new Promise<void>((go) => queue.push(go));
  running++;
  try {
    return await work();
  } finally {
    running--;
    queue.shift()?.();
  }
}

/** Runs the CLI in the test folder. Every run is checked for stack traces and for the error format. */
function gatehouse(t: ExecutionContext, ...args: string[]): Promise<Result> {
  return slot(() => spawnCli(t, args));
}

function spawnCli(t: ExecutionContext, args: string[]): Promise<Result> {
  const started = performance.now();
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, NO_COLOR: "1", GATEHOUSE_DEBUG: "" } }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
      const result = { code, stdout, stderr, ms: performance.now() - started };
      t.false(stdout.includes("    at "), `stack trace in stdout of ${args.join(" ")}`);
      t.false(stderr.includes("    at "), `stack trace in stderr of ${args.join(" ")}`);
      if (code !== 0) t.regex(stderr, ERROR_LINE, `one error line for ${args.join(" ")}`);
      done(result);
    });
  });
}

async function ok(t: ExecutionContext, ...args: string[]): Promise<Result> {
  const result = await gatehouse(t, ...args);
  t.is(result.code, 0, `${args.join(" ")} failed: ${result.stderr}`);
  return result;
}

/** Expects a failure with the given exit code and error code. */
async function fails(t: ExecutionContext, exit: number, code: string, ...args: string[]): Promise<Result> {
  const result = await gatehouse(t, ...args);
  t.is(result.code, exit, `${args.join(" ")}: ${result.stderr}`);
  t.true(result.stderr.includes(`error ${code}:`), `${args.join(" ")}: expected ${code}, got ${result.stderr}`);
  return result;
}

const payloadJson = { temp: 21.5, open: false, n: [1, -2, 3], name: "door", nested: { a: null } };

test.before(async (t) => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-cli-"));
  // The same kid under two algorithms (for alg-not-allowed), and another kid (for unknown-kid).
  await Promise.all([
    ok(t, "keygen", "--alg", "ES256", "--kid", "alice", "--out", "es"),
    ok(t, "keygen", "--alg", "EdDSA", "--kid", "alice", "--out", "ed"),
    ok(t, "keygen", "--alg", "EdDSA", "--kid", "bob", "--out", "bob"),
  ]);
  // A signed message several tests look at: payloadJson signed by es/alice.
  await ok(t, "sign", "--key", "es/alice.key", "--json", JSON.stringify(payloadJson), "--out", "signed.cose");
});

test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

// Serial tests run before the concurrent ones: nothing else competes for the CPU while this one
// measures how long a CLI process takes.
test.serial("--help works at the top and on every command; startup time", async (t) => {
  const names = Object.keys(COMMANDS);
  const top = await ok(t, "--help");
  for (const name of names) t.true(top.stdout.includes(`  ${name} `), `${name} listed`);
  t.is((await ok(t, "help")).stdout, top.stdout);
  const times: number[] = [];
  for (const name of names) {
    const result = await ok(t, name, "--help");
    t.true(result.stdout.startsWith(`Usage: gatehouse ${name}`), `${name} --help`);
    t.is(result.stderr, "");
    times.push(result.ms);
  }
  times.sort((a, b) => a - b);
  t.log(`CLI process start to exit (gatehouse <command> --help): median ${times[times.length >> 1].toFixed(0)} ms, all ${times.map((x) => x.toFixed(0)).join(", ")} ms`);
});

test("keygen writes NAME.key (0600) and NAME.pub with kid and alg, and refuses to overwrite", async (t) => {
  for (const [folder, name, alg] of [["es", "alice", "ES256"], ["ed", "alice", "EdDSA"]] as const) {
    const pub = decodeKey(new Uint8Array(await readFile(join(dir, folder, `${name}.pub`))));
    t.deepEqual(pub.kid, utf8(name));
    t.is(pub.alg, alg);
    t.is(pub.d, undefined);
    const priv = decodeKey(new Uint8Array(await readFile(join(dir, folder, `${name}.key`))));
    t.deepEqual(priv.kid, utf8(name));
    t.is(priv.alg, alg);
    t.is(priv.d?.length, 32);
    t.deepEqual(priv.x, pub.x);
    if (process.platform !== "win32") t.is((await stat(join(dir, folder, `${name}.key`))).mode & 0o777, 0o600);
  }
  const alice = await readFile(join(dir, "es", "alice.key"));
  const refused = await fails(t, 1, "file-exists", "keygen", "--alg", "ES256", "--kid", "alice", "--out", "es");
  t.is(refused.stdout, "");
  t.deepEqual(await readFile(join(dir, "es", "alice.key")), alice);

  // --force replaces (bob is only ever used as "some other kid", so a new bob changes no other test).
  const bob = await readFile(join(dir, "bob", "bob.key"));
  const forced = await ok(t, "keygen", "--alg", "EdDSA", "--kid", "bob", "--out", "bob", "--force");
  t.true(forced.stdout.includes(join("bob", "bob.key")) && forced.stdout.includes(join("bob", "bob.pub")));
  t.notDeepEqual(await readFile(join(dir, "bob", "bob.key")), bob);
  if (process.platform !== "win32") t.is((await stat(join(dir, "bob", "bob.key"))).mode & 0o777, 0o600);

  // A kid is also a file name: no way out of --out.
  await fails(t, 2, "usage", "keygen", "--alg", "ES256", "--kid", "../escape", "--out", "kg");
});

for (const alg of ["ES256", "EdDSA"] as const) {
  test(`sign --json and verify round trip (${alg})`, async (t) => {
    const keys = alg === "ES256" ? "es" : "ed";
    // The ES256 message is the one test.before signed.
    const file = alg === "ES256" ? "signed.cose" : "signed-eddsa.cose";
    if (alg === "EdDSA") await ok(t, "sign", "--key", `${keys}/alice.key`, "--json", JSON.stringify(payloadJson), "--out", file);
    const message = decode(new Uint8Array(await readFile(join(dir, file))));
    t.true(message instanceof CborTag && message.tag === 18);
    const [protectedBytes, , payload] = (message as CborTag).value as Uint8Array[];
    const header = decode(protectedBytes) as Map<number, unknown>;
    t.is(header.get(1), alg === "ES256" ? -7 : -8);
    t.deepEqual(header.get(4), utf8("alice"));
    t.deepEqual(payload, encode(payloadJson)); // the deterministic CBOR of the JSON value

    const result = await ok(t, "verify", "--key", `${keys}/alice.pub`, file);
    t.deepEqual(JSON.parse(result.stdout), payloadJson);
  });
}

test("--aad must match", async (t) => {
  await ok(t, "sign", "--key", "ed/alice.key", "--json", "[1,2]", "--aad", "0A0b0c", "--out", "aad.cose");
  const [good] = await Promise.all([
    ok(t, "verify", "--key", "ed/alice.pub", "--aad", "0a0b0c", "aad.cose"),
    fails(t, 1, "bad-signature", "verify", "--key", "ed/alice.pub", "--aad", "0a0b0d", "aad.cose"),
  ]);
  t.deepEqual(JSON.parse(good.stdout), [1, 2]);
});

test("--untagged leaves out tag 18 and still verifies", async (t) => {
  await ok(t, "sign", "--key", "ed/alice.key", "--json", '{"u":1}', "--untagged", "--out", "untagged.cose");
  const bytes = new Uint8Array(await readFile(join(dir, "untagged.cose")));
  t.is(bytes[0], 0x84); // an array of four, no tag
  t.true(Array.isArray(decode(bytes)));
  const result = await ok(t, "verify", "--key", "ed/alice.pub", "untagged.cose");
  t.deepEqual(JSON.parse(result.stdout), { u: 1 });
});

test("a tampered message fails with bad-signature", async (t) => {
  // 0xf4 (false) -> 0xf5 (true) inside the payload: still well-formed, no longer what was signed.
  const bytes = new Uint8Array(await readFile(join(dir, "signed.cose")));
  const at = bytes.indexOf(0xf4);
  t.true(at > 0);
  bytes[at] = 0xf5;
  await writeFile(join(dir, "tampered.cose"), bytes);
  await fails(t, 1, "bad-signature", "verify", "--key", "es/alice.pub", "tampered.cose");
});

test("verify with the other algorithm's key or another kid gives the proper code", async (t) => {
  await Promise.all([
    fails(t, 1, "alg-not-allowed", "verify", "--key", "ed/alice.pub", "signed.cose"),
    fails(t, 1, "unknown-kid", "verify", "--key", "bob/bob.pub", "signed.cose"),
  ]);
});

test("verify prints diagnostic notation for non-JSON CBOR and hex for other bytes", async (t) => {
  await writeFile(join(dir, "bytes.cbor"), Uint8Array.of(0x82, 0x41, 0xab, 0xf9, 0x3c, 0x00)); // [h'ab', 1.0]
  await writeFile(join(dir, "raw.bin"), Uint8Array.of(0xff, 0x00, 0x01));
  await Promise.all([
    ok(t, "sign", "--key", "ed/alice.key", "--payload", "bytes.cbor", "--out", "bytes.cose"),
    ok(t, "sign", "--key", "ed/alice.key", "--payload", "raw.bin", "--out", "raw.cose"),
  ]);
  const [diag, hex] = await Promise.all([ok(t, "verify", "--key", "ed/alice.pub", "bytes.cose"), ok(t, "verify", "--key", "ed/alice.pub", "raw.cose")]);
  t.is(diag.stdout, "[h'ab', 1.0]\n");
  t.is(hex.stdout, "ff0001\n");
  t.true(hex.stderr.includes("not CBOR"));
});

test("sign and verify refuse bad input", async (t) => {
  await writeFile(join(dir, "junk.key"), Uint8Array.of(0xa1, 0x01, 0x01));
  await Promise.all([
    fails(t, 2, "usage", "sign", "--key", "es/alice.key", "--json", "1", "--payload", "signed.cose", "--out", "x.cose"),
    fails(t, 2, "usage", "sign", "--key", "es/alice.key", "--json", "1", "--aad", "xyz", "--out", "x.cose"),
    fails(t, 1, "key-file", "sign", "--key", "es/alice.pub", "--json", "1", "--out", "x.cose"),
    fails(t, 1, "key-file", "verify", "--key", "junk.key", "signed.cose"),
  ]);
});

test("inspect prints diagnostic notation", async (t) => {
  // [{1: 2, "a": 1.0}, {"a": 1, 1: 2}]: a float, and a map whose keys are not in deterministic order.
  const known = [0xa2, 0x01, 0x02, 0x61, 0x61, 0xf9, 0x3c, 0x00];
  const unsorted = [0xa2, 0x61, 0x61, 0x01, 0x01, 0x02];
  await writeFile(join(dir, "known.cbor"), Uint8Array.of(0x82, ...known, ...unsorted));
  await writeFile(join(dir, "truncated.cbor"), Uint8Array.of(0xa2, 0x01));
  const [diag, , sign1] = await Promise.all([
    ok(t, "inspect", "known.cbor"),
    fails(t, 1, "cbor-truncated", "inspect", "truncated.cbor"),
    ok(t, "inspect", "signed.cose"),
  ]);
  t.is(diag.stdout, '[{1: 2, "a": 1.0}, {"a": 1, 1: 2}]\n');
  const payloadHex = Buffer.from(encode(payloadJson)).toString("hex");
  t.regex(sign1.stdout, new RegExp(`^18\\(\\[h'[0-9a-f]+', \\{\\}, h'${payloadHex}', h'[0-9a-f]{128}'\\]\\)\n`));
  t.true(sign1.stdout.includes(`protected header: {1: -7, 4: h'616c696365'}`));
});

test("inspect redacts a private key's d unless --show-private", async (t) => {
  for (const keys of ["es", "ed"]) {
    const priv = decodeKey(new Uint8Array(await readFile(join(dir, keys, "alice.key"))));
    const d = Buffer.from(priv.d as Uint8Array).toString("hex");
    const [redacted, shown, pub] = await Promise.all([
      ok(t, "inspect", `${keys}/alice.key`),
      ok(t, "inspect", "--show-private", `${keys}/alice.key`),
      ok(t, "inspect", `${keys}/alice.pub`),
    ]);
    t.false(redacted.stdout.includes(d), `the private scalar of ${keys}/alice.key is not printed`);
    t.true(redacted.stdout.includes('-4: "<redacted: 32 bytes>"'), redacted.stdout);
    t.regex(redacted.stdout, /\n\/ private key material redacted: --show-private prints it \/\n$/);
    t.true(shown.stdout.includes(`-4: h'${d}'`), "--show-private prints it");
    t.false(pub.stdout.includes("redacted"), "a public key has nothing to redact");
  }
});

// /dev/zero reports size 0 and never ends: a size check alone read it forever (issue 11). Every command
// that reads a file stops after 16 MiB read, with too-large.
test("every file the CLI reads is bounded by bytes read: /dev/zero ends promptly with too-large", async (t) => {
  const zero = "/dev/zero";
  const send = ["send", "--broker", "mqtt://127.0.0.1:1", "--device", "d", "--door", "x", "--op", "read.x"];
  await Promise.all([
    fails(t, 1, "too-large", "inspect", zero),
    fails(t, 1, "too-large", "verify", "--key", "es/alice.pub", zero),
    fails(t, 1, "too-large", "verify", "--key", zero, "signed.cose"),
    fails(t, 1, "too-large", "sign", "--key", zero, "--json", "1", "--out", "z.cose"),
    fails(t, 1, "too-large", "sign", "--key", "es/alice.key", "--payload", zero, "--out", "z.cose"),
    fails(t, 1, "too-large", "provision", "--id", "z", "--out", "zids", "--operator", `${zero}:view`),
    fails(t, 1, "too-large", ...send, "--key", zero),
    fails(t, 1, "too-large", ...send, "--key", "es/alice.key", "--device-key", zero),
  ]);
  // Standard input too.
  const stdin = await new Promise<{ code: number | null; stderr: string }>((done) => {
    const child = spawn(process.execPath, [BIN, "inspect", "-"], { cwd: dir, env: { ...process.env, NO_COLOR: "1" }, stdio: [openSync(zero, "r"), "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.setEncoding("utf8").on("data", (text: string) => (stderr += text));
    child.on("close", (code) => done({ code, stderr }));
  });
  t.is(stdin.code, 1);
  t.regex(stdin.stderr, /^gatehouse inspect: error too-large: standard input is over 16777216 bytes\n$/);
});

test("unknown flags and commands are usage errors (exit 2)", async (t) => {
  await Promise.all([
    ...Object.keys(COMMANDS).map((name) => fails(t, 2, "usage", name, "--no-such-flag")),
    fails(t, 2, "usage", "no-such-command"),
  ]);
});
