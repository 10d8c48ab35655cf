// `gatehouse user`, `gatehouse token`, and the CLI's clients with tokens and TLS, as a user runs them:
// real processes (node bin/gatehouse.js ...), a real `gatehouse server` over mosquitto with a database
// file, HTTPS with a certificate openssl makes for the test.
import test, { type ExecutionContext } from "ava";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startMosquitto } from "./support/brokers";
import { until } from "./support/devices";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = join(repoRoot, "bin", "gatehouse.js");
const ERROR_LINE = /^gatehouse [a-z]+: error [a-z0-9-]+: \S.*\n$/;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function gatehouse(args: string[], options: { stdin?: string; env?: Record<string, string>; cwd?: string } = {}): Promise<Run> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd, env: { ...process.env, NO_COLOR: "1", GATEHOUSE_DEBUG: "", GATEHOUSE_TOKEN: "", ...options.env } });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    child.stdin.end(options.stdin ?? "");
    child.on("close", (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-access-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const PASSWORD = "a sufficiently long password";

test("gatehouse user: add (password from standard input), list, passwd, remove; errors are one line with a code", async (t) => {
  const dir = tempDir(t);
  const db = join(dir, "fleet.db");
  const added = await gatehouse(["user", "add", "--db", db, "--name", "alice", "--role", "operate"], { stdin: `${PASSWORD}\n` });
  t.is(added.code, 0, added.stderr);
  t.is(added.stdout, "user alice added with role operate\n");
  t.regex(added.stderr, /created the database .*fleet\.db/);
  const second = await gatehouse(["user", "add", "--db", db, "--name", "bob", "--role", "administer"], { stdin: PASSWORD });
  t.is(second.code, 0, second.stderr);
  t.is(second.stderr, "", "the database exists now: no note");

  const list = await gatehouse(["user", "list", "--db", db]);
  t.is(list.code, 0);
  t.regex(list.stdout, /^NAME +ROLE +ADDED +PASSWORD SET +SESSIONS\nalice +operate +\d{4}-\d\d-\d\d \d\d:\d\d +\d{4}-[^\n]+ +0\nbob +administer /);
  const json = await gatehouse(["user", "list", "--db", db, "--json"]);
  t.deepEqual(
    json.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { name: string; role: string }).name),
    ["alice", "bob"],
  );
  const stored = readFileSync(db).toString("latin1");
  t.false(stored.includes(PASSWORD), "the password is not in the database file");

  const failures: [string[], string | undefined, number, RegExp][] = [
    [["user", "add", "--db", db, "--name", "alice", "--role", "view"], PASSWORD, 1, /error user-exists: user alice exists already/],
    [["user", "add", "--db", db, "--name", "carol", "--role", "view"], "short\n", 1, /error password-invalid: the password must be at least 12 characters/],
    [["user", "add", "--db", db, "--name", "carol", "--role", "view"], `${PASSWORD}\nsecond line\n`, 1, /error password-invalid: standard input holds more than one line/],
    [["user", "add", "--db", db, "--name", "carol", "--role", "view"], "", 1, /error password-invalid: no password on standard input/],
    [["user", "add", "--db", db, "--name", "Carol!", "--role", "view"], PASSWORD, 2, /error usage: --name is 1 to 64 of/],
    [["user", "add", "--db", db, "--name", "carol", "--role", "root"], PASSWORD, 2, /error usage: --role must be view, operate, manage or administer/],
    [["user", "add", "--db", db, "--name", "carol", "--role", "view", "--password", PASSWORD], undefined, 2, /error usage: Unknown option '--password'/],
    [["user", "remove", "--db", db, "--name", "nobody"], undefined, 1, /error user-unknown: no user nobody/],
    [["user", "list", "--db", join(dir, "typo.db")], undefined, 1, /error file: no database at .*typo\.db/],
    [["user", "frobnicate"], undefined, 2, /error usage: unknown subcommand "frobnicate"/],
  ];
  for (const [args, stdin, code, pattern] of failures) {
    const run = await gatehouse(args, { stdin });
    t.is(run.code, code, args.join(" "));
    t.regex(run.stderr, ERROR_LINE, args.join(" "));
    t.regex(run.stderr, pattern, args.join(" "));
  }

  const passwd = await gatehouse(["user", "passwd", "--db", db, "--name", "alice"], { stdin: "another long password\n" });
  t.is(passwd.code, 0, passwd.stderr);
  t.is(passwd.stdout, "user alice: new password; their sessions ended\n");
  const removed = await gatehouse(["user", "remove", "--db", db, "--name", "alice"]);
  t.is(removed.code, 0);
  const after = await gatehouse(["user", "list", "--db", db, "--json"]);
  t.deepEqual(
    after.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { name: string }).name),
    ["bob"],
  );
  const help = await gatehouse(["user", "--help"]);
  t.is(help.code, 0);
  t.regex(help.stdout, /never from the command line/);
});

test("gatehouse token: create prints the token once (or writes it with mode 600), list never shows it, revoke; errors are one line", async (t) => {
  const dir = tempDir(t);
  const db = join(dir, "fleet.db");
  const printed = await gatehouse(["token", "create", "--db", db, "--name", "ci", "--role", "view"]);
  t.is(printed.code, 0, printed.stderr);
  t.regex(printed.stdout, /^gh_[A-Za-z0-9_-]{43}\n$/);
  t.regex(printed.stderr, /token 1 \(ci\): role view, every device, never expires\. It is shown only now: keep it secret\./);
  const file = join(dir, "collector.token");
  const written = await gatehouse(["token", "create", "--db", db, "--name", "collector", "--role", "operate", "--device-pattern", "thermo-*", "--expires", "30", "--out", file]);
  t.is(written.code, 0, written.stderr);
  t.is(written.stdout, "");
  t.regex(written.stderr, /token 2 \(collector\): role operate, devices thermo-\*, expires \d{4}-\d\d-\d\d \d\d:\d\d UTC\. Written to .*collector\.token\./);
  t.is(statSync(file).mode & 0o777, 0o600);
  const secret = readFileSync(file, "utf8").trim();
  t.regex(secret, /^gh_[A-Za-z0-9_-]{43}$/);

  const list = await gatehouse(["token", "list", "--db", db]);
  t.is(list.code, 0);
  t.regex(list.stdout, /^ +ID +NAME +ROLE +DEVICES +EXPIRES +LAST USED +CREATED BY\n +1 +ci +view +\* +- +- +cli\n +2 +collector +operate +thermo-\* +\d{4}-/);
  t.false(list.stdout.includes(secret.slice(3)) || list.stdout.includes(printed.stdout.trim().slice(3)));
  t.false(readFileSync(db).toString("latin1").includes(secret.slice(3)), "the secret is not in the database file");

  const revoked = await gatehouse(["token", "revoke", "--db", db, "2"]);
  t.is(revoked.code, 0);
  t.is(revoked.stdout, "token 2 (collector) revoked\n");
  const failures: [string[], number, RegExp][] = [
    [["token", "revoke", "--db", db, "2"], 1, /error token-unknown: no token 2 \(or it is revoked already\)/],
    [["token", "revoke", "--db", db, "two"], 2, /error usage: ID must be a token id/],
    [["token", "create", "--db", db, "--name", "x", "--role", "view", "--expires", "0"], 2, /error usage: --expires must be a number of days from 1 to 3650/],
    [["token", "create", "--db", db, "--name", "x", "--role", "view", "--device-pattern", "thermo/1"], 2, /error usage: --device-pattern is 1 to 64 of/],
    [["token", "create", "--db", db, "--name", "x", "--role", "view", "--out", file], 1, /error file-exists: .*collector\.token already exists/],
    [["token", "create", "--db", db, "--role", "view"], 2, /error usage: missing --name/],
  ];
  for (const [args, code, pattern] of failures) {
    const run = await gatehouse(args);
    t.is(run.code, code, args.join(" "));
    t.regex(run.stderr, ERROR_LINE, args.join(" "));
    t.regex(run.stderr, pattern, args.join(" "));
  }
  const json = await gatehouse(["token", "list", "--db", db, "--json"]);
  t.deepEqual(
    json.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { id: number }).id),
    [1],
  );
});

interface ServerProcess {
  url: string;
  output(): string;
  stop(): Promise<void>;
}

async function startServer(t: ExecutionContext, args: string[]): Promise<ServerProcess> {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const child = spawn(process.execPath, [BIN, "server", "--broker", broker.url, "--http", "127.0.0.1:0", "--client-id", `access-cli-${process.pid}-${Math.random().toString(16).slice(2)}`, ...args], {
    env: { ...process.env, NO_COLOR: "1" },
  });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (output += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (output += s));
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  t.teardown(() => {
    child.kill("SIGKILL");
  });
  const url = await until(
    "the server's address",
    () => {
      if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`);
      return /API on (https?:\/\/[\d.]+:\d+)/.exec(output)?.[1];
    },
    30_000,
  ).catch(async (e: Error) => {
    await exited;
    throw new Error(`${e.message}\n${output}`);
  });
  return {
    url,
    output: () => output,
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

test("the CLI's clients call the server with a token from --token-file or GATEHOUSE_TOKEN; without one, or below the role, the error says so", async (t) => {
  const dir = tempDir(t);
  const db = join(dir, "fleet.db");
  const viewer = join(dir, "viewer.token");
  t.is((await gatehouse(["token", "create", "--db", db, "--name", "viewer", "--role", "view", "--out", viewer])).code, 0);
  const server = await startServer(t, ["--db", db]);
  t.notRegex(server.output(), /no users or tokens yet/);

  const withFile = await gatehouse(["events", "--server", server.url, "--token-file", viewer]);
  t.is(withFile.code, 0, withFile.stderr);
  t.regex(withFile.stdout, /no security events/);
  const fromEnv = await gatehouse(["events", "--server", server.url], { env: { GATEHOUSE_TOKEN: readFileSync(viewer, "utf8").trim() } });
  t.is(fromEnv.code, 0, fromEnv.stderr);

  const without = await gatehouse(["events", "--server", server.url]);
  t.is(without.code, 1);
  t.regex(without.stderr, ERROR_LINE);
  t.regex(without.stderr, /^gatehouse events: error unauthenticated: this call needs credentials: .* \(give a token with --token-file FILE or GATEHOUSE_TOKEN\)\n$/);
  writeFileSync(join(dir, "junk.token"), "not a token\n");
  const junk = await gatehouse(["events", "--server", server.url, "--token-file", join(dir, "junk.token")]);
  t.regex(junk.stderr, /^gatehouse events: error token-file: .*junk\.token holds no Gatehouse token/);
  const missing = await gatehouse(["events", "--server", server.url, "--token-file", join(dir, "none.token")]);
  t.regex(missing.stderr, /^gatehouse events: error token-file: /);
  const misplaced = await gatehouse(["events", "--broker", "mqtt://127.0.0.1:1", "--token-file", viewer]);
  t.is(misplaced.code, 2);
  t.regex(misplaced.stderr, /error usage: --token-file goes with --server/);

  // A viewer may not relay commands: the server refuses before anything is published.
  const key = join(dir, "op");
  t.is((await gatehouse(["keygen", "--alg", "EdDSA", "--kid", "op", "--out", key])).code, 0);
  const send = await gatehouse(["send", "--server", server.url, "--token-file", viewer, "--key", join(key, "op.key"), "--device", "thermo-1", "--door", "setpoint", "--op", "read.target"]);
  t.is(send.code, 1);
  t.regex(send.stderr, /^gatehouse send: error not-allowed: POST \/api\/commands needs role operate; token viewer \(1\) has role view\n$/);
  await server.stop();
});

function openssl(dir: string): { cert: string; key: string } {
  const cert = join(dir, "server.crt");
  const key = join(dir, "server.key");
  try {
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], { stdio: "pipe" });
  } catch (e) {
    throw new Error(`openssl could not make a test certificate (Debian: apt-get install openssl): ${(e as Error).message}`);
  }
  return { cert, key };
}

function https(url: string, ca: string, method: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; cookie: string; text: string }> {
  return new Promise((done, fail) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const all = payload === undefined ? headers : { ...headers, "content-type": "application/json", "content-length": String(Buffer.byteLength(payload)) };
    const req = request(url, { method, ca, headers: all }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (s: string) => (text += s));
      res.on("end", () => done({ status: res.statusCode ?? 0, cookie: String(res.headers["set-cookie"] ?? ""), text }));
    });
    req.on("error", fail);
    req.end(payload);
  });
}

test("gatehouse server --tls-cert --tls-key serves HTTPS: clients trust it with --ca; the session cookie is __Host- and Secure", async (t) => {
  const dir = tempDir(t);
  const db = join(dir, "fleet.db");
  const { cert, key } = openssl(dir);
  const token = join(dir, "admin.token");
  t.is((await gatehouse(["token", "create", "--db", db, "--name", "admin", "--role", "administer", "--out", token])).code, 0);
  t.is((await gatehouse(["user", "add", "--db", db, "--name", "ada", "--role", "view"], { stdin: PASSWORD })).code, 0);
  const server = await startServer(t, ["--db", db, "--tls-cert", cert, "--tls-key", key]);
  t.regex(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);

  const events = await gatehouse(["events", "--server", server.url, "--token-file", token, "--ca", cert, "--format", "gatehouse", "--after", "0"]);
  t.is(events.code, 0, events.stderr);
  const untrusted = await gatehouse(["events", "--server", server.url, "--token-file", token]);
  t.is(untrusted.code, 1);
  t.regex(untrusted.stderr, /^gatehouse events: error server-unreachable: cannot reach https:\/\/127\.0\.0\.1:\d+: TLS: .*\(a server with a certificate of its own needs --ca FILE\)\n$/);
  const plain = await gatehouse(["events", "--server", server.url.replace("https:", "http:"), "--token-file", token]);
  t.is(plain.code, 1, "plain HTTP to the TLS port gets no answer it can use");
  const badCa = await gatehouse(["events", "--server", server.url, "--token-file", token, "--ca", token]);
  t.regex(badCa.stderr, /error tls-invalid: .*admin\.token holds no PEM certificate/);

  const ca = readFileSync(cert, "utf8");
  const login = await https(`${server.url}/api/session`, ca, "POST", {}, { name: "ada", password: PASSWORD });
  t.is(login.status, 201);
  t.regex(login.cookie, /^__Host-gh_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200; Secure$/);
  const cookie = login.cookie.split(";")[0];
  t.is((await https(`${server.url}/api/session`, ca, "GET", { cookie })).status, 200);
  t.is((await https(`${server.url}/api/session`, ca, "GET", { cookie: cookie.replace("__Host-", "") })).status, 401, "under TLS only the __Host- cookie counts");

  // The audit log has the calls, with the TLS peer's address.
  const audit = await https(`${server.url}/api/audit?limit=3`, ca, "GET", { authorization: `Bearer ${readFileSync(token, "utf8").trim()}` });
  t.is(audit.status, 200, audit.text);
  const entries = (JSON.parse(audit.text) as { entries: { route: string; principal: string | null; status: number; address: string }[] }).entries;
  t.deepEqual(
    entries.map((e) => [e.route, e.principal, e.status, e.address.replace(/^::ffff:/, "")]),
    [
      ["/api/session", "ada", 201, "127.0.0.1"],
      ["/api/session", "ada", 200, "127.0.0.1"],
      ["/api/session", null, 401, "127.0.0.1"],
    ],
  );

  const broken = await startServer(t, ["--db", db, "--tls-cert", key, "--tls-key", cert]).catch((e: Error) => e);
  t.true(broken instanceof Error);
  t.regex((broken as Error).message, /gatehouse server: error tls-invalid: cannot use the TLS certificate and key/);
  const half = await gatehouse(["server", "--broker", "mqtt://127.0.0.1:1", "--db", db, "--tls-cert", cert]);
  t.is(half.code, 2);
  t.regex(half.stderr, /error usage: give both --tls-cert and --tls-key, or neither/);
  await server.stop();
});
