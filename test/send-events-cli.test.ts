// `gatehouse server`, `gatehouse send` and `gatehouse events` as a user runs them: real processes
// (node bin/gatehouse.js ...) against a real mosquitto, a simulated thermostat (the real device code over
// the Node ports) with a provisioned identity, and the fleet server started by the CLI itself.
import test, { type ExecutionContext } from "ava";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { toHex } from "../sdk/bytes";
import { utf8 } from "../sdk/cbor/encode";
import { encodeKey, publicKey } from "../sdk/cose/key";
import { TrustList } from "../sdk/trust";
import { nodeCrypto } from "../ports/node/crypto";
import { generateDeviceKey, writeIdentity } from "../host/identity-files";
import { Simulator } from "../host/sim/simulator";
import type { Thermostat } from "../examples/thermostat/app";
import { startMosquitto, type MosquittoBroker } from "./support/brokers";
import { bearer, tokenInFile } from "./support/api-access";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = join(repoRoot, "bin", "gatehouse.js");
const DEVICE = "thermo-1";
const ERROR_LINE = /^gatehouse [a-z]+: error [a-z0-9-]+: \S.*\n$/;

const dir = mkdtempSync(join(tmpdir(), "gatehouse-send-events-"));
const identities = join(dir, "identities");
const operatorKeyPath = join(dir, "operator.key");
const operator = nodeCrypto.generateKey("ES256", utf8("operator"));
writeFileSync(operatorKeyPath, encodeKey(operator, true), { mode: 0o600 });
const deviceKey = generateDeviceKey(DEVICE);
writeIdentity(identities, { id: DEVICE, key: deviceKey, trust: new TrustList([{ key: publicKey(operator), role: "operate" }]) });
const devicePub = join(identities, DEVICE, "device.pub");
// The server's API needs a token: the clients below take it from GATEHOUSE_TOKEN (role operate: reading
// events needs view, relaying commands operate).
const token = tokenInFile(join(dir, "fleet.db"), "operate");

interface Running {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
  exit(): Promise<number>;
}

function start(args: string[]): Running {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, NO_COLOR: "1", GATEHOUSE_DEBUG: "", GATEHOUSE_TOKEN: token } });
  let stdout = "";
  let stderr = "";
  const listeners = new Set<() => void>();
  child.stdout.setEncoding("utf8").on("data", (text: string) => {
    stdout += text;
    for (const l of [...listeners]) l();
  });
  child.stderr.setEncoding("utf8").on("data", (text: string) => {
    stderr += text;
    for (const l of [...listeners]) l();
  });
  const exited = new Promise<number>((done) => child.once("exit", (code, signal) => done(code ?? (signal ? 128 : -1))));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    waitFor(pattern, ms = 10_000) {
      return new Promise((resolveMatch, reject) => {
        const check = () => {
          const match = (stdout + stderr).match(pattern);
          if (!match) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolveMatch(match);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no ${pattern} within ${ms} ms; stdout:\n${stdout}\nstderr:\n${stderr}`));
        }, ms);
        listeners.add(check);
        check();
      });
    },
    exit: () => exited,
  };
}

async function gatehouse(t: ExecutionContext, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const run = start(args);
  const code = await run.exit();
  const result = { code, stdout: run.stdout(), stderr: run.stderr() };
  t.false(result.stdout.includes("    at ") || result.stderr.includes("    at "), `stack trace from ${args.join(" ")}`);
  if (code !== 0 && result.stderr !== "") t.regex(result.stderr, ERROR_LINE, `one error line from ${args.join(" ")}`);
  return result;
}

let broker: MosquittoBroker;
let server: Running;
let serverUrl = "";
let sim: Simulator<Thermostat>;

test.before(async () => {
  broker = await startMosquitto();
  server = start(["server", "--broker", broker.url, "--db", join(dir, "fleet.db"), "--http", "127.0.0.1:0", "--identities", identities, "--client-id", "cli-test-server"]);
  serverUrl = (await server.waitFor(/HTTP API on (http:\/\/[^\s,]+)/))[1];
  sim = await Simulator.start({ brokerUrl: broker.url, devices: 1, example: "thermostat", identitiesDir: identities });
  await sim.waitOnline(1, 10_000);
  await server.waitFor(new RegExp(`● ${DEVICE} online`));
});

test.after.always(async () => {
  await sim?.stop(false);
  server?.child.kill("SIGKILL");
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

// Commands signed with one key by processes running at the same time can reach the device out of order:
// their sequence numbers are microsecond clocks, and one more than 32 below the highest accepted is
// refused as too-old (the replay window, protocol section 3). So every send that reaches the device runs
// after the previous one has finished, as one operator at a terminal would.
test.serial("send --broker: verified results, refusals exit 1 with the code", async (t) => {
  const common = ["--device", DEVICE, "--door", "setpoint", "--key", operatorKeyPath, "--broker", broker.url];
    const read = await gatehouse(t, "send", ...common, "--op", "read.target", "--identities", identities);
  const write = await gatehouse(t, "send", ...common, "--op", "write.target", "--args", "21.5", "--device-key", devicePub);
  const refused = await gatehouse(t, "send", ...common, "--op", "write.limits", "--args", '{"min": 12, "max": 25}', "--device-key", devicePub);
  const unverified = await gatehouse(t, "send", ...common, "--op", "read.limits");
  t.is(read.code, 0, read.stderr);
  t.regex(read.stdout, /^✓ thermo-1 setpoint read\.target → [\d.]+ {2}\(verified\)\n$/);
  t.is(write.code, 0, write.stderr);
  t.is(write.stdout, "✓ thermo-1 setpoint write.target → (no value)  (verified)\n");
  t.is(refused.code, 1);
  t.regex(refused.stdout, /^✗ thermo-1 setpoint write\.limits refused: not-allowed: .+ {2}\(verified\)\n$/);
  t.is(refused.stderr, "");
  t.is(unverified.code, 0, unverified.stderr);
  t.regex(unverified.stdout, /^✓ thermo-1 setpoint read\.limits → \{"max":30,"min":10\} {2}\(UNVERIFIED: no device key given; .+\)\n$/);
  t.is(sim.devices[0].app.doors.setpoint.read("target"), 21.5);

  // The server printed the refusal as it recorded it.
  await server.waitFor(/⚠ device event not-allowed thermo-1 setpoint write\.limits by [0-9a-f]+/);
});

test.serial("send --server: relayed by the fleet server, verified locally or by the server", async (t) => {
  const common = ["--device", DEVICE, "--door", "setpoint", "--key", operatorKeyPath, "--server", serverUrl];
  const local = await gatehouse(t, "send", ...common, "--op", "write.target", "--args", "19", "--device-key", devicePub);
  const byServer = await gatehouse(t, "send", ...common, "--op", "read.limits");
  const refused = await gatehouse(t, "send", ...common, "--op", "write.limits", "--args", '{"min": 5, "max": 35}', "--identities", identities);
  t.is(local.code, 0, local.stderr);
  t.is(local.stdout, "✓ thermo-1 setpoint write.target → (no value)  (verified)\n");
  t.is(byServer.code, 0, byServer.stderr);
  t.is(byServer.stdout, '✓ thermo-1 setpoint read.limits → {"max":30,"min":10}  (verified by the server)\n');
  t.is(refused.code, 1);
  t.regex(refused.stdout, /^✗ thermo-1 setpoint write\.limits refused: not-allowed: .+ {2}\(verified\)\n$/);
});

test.serial("send: errors are one line with a stable code", async (t) => {
  const [offline, viaServer, usage, badJson, unknown, badExpiry] = await Promise.all([
    gatehouse(t, "send", "--device", "ghost", "--door", "setpoint", "--op", "read.target", "--key", operatorKeyPath, "--broker", broker.url, "--timeout", "300"),
    gatehouse(t, "send", "--device", "ghost", "--door", "setpoint", "--op", "read.target", "--key", operatorKeyPath, "--server", serverUrl),
    gatehouse(t, "send", "--device", DEVICE, "--door", "setpoint", "--op", "read.target", "--broker", broker.url),
    gatehouse(t, "send", "--device", DEVICE, "--door", "setpoint", "--op", "write.target", "--args", "{oops", "--key", operatorKeyPath, "--broker", broker.url),
    gatehouse(t, "send", "--device", DEVICE, "--door", "setpoint", "--op", "read.target", "--key", operatorKeyPath, "--broker", "mqtt://127.0.0.1:1"),
    gatehouse(t, "send", "--device", DEVICE, "--door", "setpoint", "--op", "read.target", "--key", operatorKeyPath, "--broker", broker.url, "--expires", "0"),
  ]);
  t.is(badExpiry.code, 2);
  t.is(badExpiry.stderr, "gatehouse send: error usage: --expires must be a number of seconds from 1 to 31536000, or never\n");
  t.is(offline.code, 1);
  // The timeout says what is known, and only that: the broker took the command, nothing announced the
  // device, and the command expires (60 s by default).
  t.regex(offline.stderr, /^gatehouse send: error no-result: no result from ghost within 300 ms\. The broker acknowledged the command; nothing says whether it reached the device\. Nothing tells whether the device is connected \(no valid birth or death of the device arrived, retained or live\)\. .* The command expires at \d{4}-\d\d-\d\dT[\d:.]+Z: delivered later, a device with trusted time refuses it \(expired\)\.\n$/);
  t.is(viaServer.code, 1);
  t.regex(viaServer.stderr, /^gatehouse send: error unknown-device: /);
  t.is(usage.code, 2);
  t.is(usage.stderr, "gatehouse send: error usage: missing --key\n");
  t.is(badJson.code, 2);
  t.regex(badJson.stderr, /error usage: --args is not valid JSON/);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /^gatehouse send: error broker-unreachable: /);
});

test.serial("events --server prints the recorded table; --follow prints new ones as they come", async (t) => {
  const table = await gatehouse(t, "events", "--server", serverUrl, "--device", DEVICE);
  t.is(table.code, 0, table.stderr);
  const lines = table.stdout.trimEnd().split("\n");
  t.regex(lines[0], /^TIME\s+DEVICE\s+CODE\s+PRINCIPAL\s+DOOR\s+OP\s+SUPP\s+SOURCE$/);
  t.true(lines.length >= 3, table.stdout);
  for (const row of lines.slice(1)) {
    t.regex(row, new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\s+thermo-1\\s+not-allowed\\s+${toHex(operator.kid)}\\s+setpoint\\s+write\\.limits\\s+0\\s+device$`));
  }

  const follow = start(["events", "--server", serverUrl, "--device", DEVICE, "--follow"]);
  const rows = lines.length - 1;
  // The header and the rows already recorded.
  await follow.waitFor(new RegExp(`^TIME[^\\n]+\\n(\\d{4}-[^\\n]+\\n){${rows}}`));
  const send = await gatehouse(t, "send", "--device", DEVICE, "--door", "relay", "--op", "write.on", "--args", "true", "--key", operatorKeyPath, "--broker", broker.url);
  t.is(send.code, 0, send.stderr); // relay.on is "operate": allowed, no event
  await gatehouse(t, "send", "--device", DEVICE, "--door", "setpoint", "--op", "write.limits", "--args", '{"min": 6, "max": 7}', "--key", operatorKeyPath, "--broker", broker.url);
  await follow.waitFor(new RegExp(`^TIME[^\\n]+\\n(\\d{4}-[^\\n]+\\n){${rows + 1}}`));
  await new Promise((r) => setTimeout(r, 1200)); // one more poll: nothing else arrives
  const now = follow.stdout().trimEnd().split("\n");
  t.is(now.length, rows + 2, "exactly the one new event");
  t.regex(now[now.length - 1], /thermo-1\s+not-allowed\s+[0-9a-f]+\s+setpoint\s+write\.limits\s+0\s+device$/);
  follow.child.kill("SIGINT");
  t.is(await follow.exit(), 0);
});

test.serial("events --broker: live events, verified with --identities; without --follow it exits after a second", async (t) => {
  const follow = start(["events", "--broker", broker.url, "--identities", identities, "--follow"]);
  await follow.waitFor(/listening on gh\/\+\/events/);
  await gatehouse(t, "send", "--device", DEVICE, "--door", "setpoint", "--op", "write.limits", "--args", '{"min": 8, "max": 9}', "--key", operatorKeyPath, "--broker", broker.url);
  const [row] = await follow.waitFor(/thermo-1\s+not-allowed\s+[0-9a-f]+\s+setpoint\s+write\.limits\s+0\s+verified/);
  t.truthy(row);
  t.regex(follow.stdout(), /^TIME\s+DEVICE\s+CODE\s+PRINCIPAL\s+DOOR\s+OP\s+SUPP\s+CHECK\n/);
  follow.child.kill("SIGTERM");
  t.is(await follow.exit(), 0);

  const started = performance.now();
  const quiet = await gatehouse(t, "events", "--broker", broker.url, "--device", DEVICE);
  t.is(quiet.code, 0, quiet.stderr);
  t.regex(quiet.stdout, /no security events arrived from thermo-1/);
  t.true(performance.now() - started < 5000);
});

test.serial("server: prints devices going offline, and stops cleanly on SIGTERM", async (t) => {
  await sim.stop(false); // sockets dropped: the broker publishes the wills
  await server.waitFor(new RegExp(`○ ${DEVICE} offline`));
  // A command to the offline device: the timeout names the retained death it read, verified.
  const late = await gatehouse(t, "send", "--device", DEVICE, "--door", "setpoint", "--op", "read.target", "--key", operatorKeyPath, "--broker", broker.url, "--timeout", "500", "--device-key", devicePub, "--expires", "30");
  t.is(late.code, 1);
  t.regex(late.stderr, /error no-result: no result from thermo-1 within 500 ms\. The broker acknowledged the command; .* According to the device's latest birth and death \(verified\), the device is offline \(its session \d+ ended\)\. The broker delivers the command when the device reconnects only if it still holds the device's persistent session/);
  const never = await gatehouse(t, "send", "--device", DEVICE, "--door", "setpoint", "--op", "read.target", "--key", operatorKeyPath, "--broker", broker.url, "--timeout", "300", "--expires", "never");
  t.regex(never.stderr, /\(UNVERIFIED: no device key\), the device is offline .* The command has no expiry: delivered later, it may still run\.\n$/);
  const devices = (await (await fetch(`${serverUrl}/api/devices`, { headers: bearer(token) })).json()) as { devices: { id: string; online: boolean }[] };
  t.deepEqual(
    devices.devices.map((d) => [d.id, d.online]),
    [[DEVICE, false]],
  );
  server.child.kill("SIGTERM");
  t.is(await server.exit(), 0);
  t.regex(server.stdout(), /SIGTERM: stopping\n$/);
  t.is(server.stderr(), "");
});
