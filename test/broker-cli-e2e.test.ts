// The whole fleet with the broker's door shut: a real mosquitto from `gatehouse broker-config` (no
// anonymous clients, the ACL file), everything over mqtts with the CA from `gatehouse ca`, and every
// part a real CLI process with its own broker identity: `gatehouse server --broker-identity`, `gatehouse
// sim --identities` (the device logs in as itself), `gatehouse send --broker --broker-identity` and
// `gatehouse events --broker --broker-identity`. A tool without an identity is refused with broker-auth.
import test from "ava";
import { spawn, type ChildProcess } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startBrokerFleet, gatehouseOk, type BrokerFleet } from "./support/broker-fleet";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = join(repoRoot, "bin", "gatehouse.js");
const DEVICE = "thermo-1";

interface Running {
  child: ChildProcess;
  output(): string;
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
  exit(): Promise<number>;
}

let fleet: BrokerFleet;
const running: Running[] = [];

function start(args: string[]): Running {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: fleet.dir, env: { ...process.env, NO_COLOR: "1", GATEHOUSE_DEBUG: "" } });
  let output = "";
  const listeners = new Set<() => void>();
  const take = (text: string) => {
    output += text;
    for (const l of [...listeners]) l();
  };
  child.stdout.setEncoding("utf8").on("data", take);
  child.stderr.setEncoding("utf8").on("data", take);
  const exited = new Promise<number>((done) => child.once("exit", (code, signal) => done(code ?? (signal ? 128 : -1))));
  const run: Running = {
    child,
    output: () => output,
    waitFor(pattern, ms = 20_000) {
      return new Promise((resolveMatch, reject) => {
        const check = () => {
          const match = output.match(pattern);
          if (!match) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolveMatch(match);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no ${pattern} within ${ms} ms; output:\n${output}`));
        }, ms);
        listeners.add(check);
        check();
      });
    },
    exit: () => exited,
  };
  running.push(run);
  return run;
}

async function finished(args: string[]): Promise<{ code: number; output: string }> {
  const run = start(args);
  const code = await run.exit();
  return { code, output: run.output() };
}

let brokerUrl = "";

test.before(async () => {
  fleet = await startBrokerFleet({
    passwordDevices: [],
    certificateDevices: [],
    async prepare(dir) {
      await gatehouseOk(dir, "keygen", "--alg", "ES256", "--kid", "alice", "--out", "keys");
      await gatehouseOk(dir, "provision", "--id", DEVICE, "--out", "identities", "--ca", "ca", "--operator", "keys/alice.pub:operate");
      await gatehouseOk(dir, "provision", "--role", "operator", "--id", "bob", "--out", "identities", "--ca", "ca");
    },
  });
  brokerUrl = `mqtts://localhost:${fleet.passwordTlsPort}`;
});

test.after.always(async () => {
  for (const run of running) if (run.child.exitCode === null) run.child.kill("SIGKILL");
  await fleet?.stop();
});

test.serial("server, simulated device, send and events, each with its own identity over mqtts, with the ACLs on", async (t) => {
  const server = start(["server", "--broker", brokerUrl, "--broker-identity", "identities/server.main", "--db", "fleet.db", "--http", "127.0.0.1:0", "--identities", "identities"]);
  await server.waitFor(/HTTP API on http:\/\/127\.0\.0\.1:\d+/);
  const sim = start(["sim", "--broker", brokerUrl, "--devices", "1", "--example", "thermostat", "--identities", "identities"]);
  await server.waitFor(new RegExp(`● ${DEVICE} online`));
  const events = start(["events", "--broker", brokerUrl, "--broker-identity", "identities/operator.bob", "--identities", "identities", "--follow"]);
  await events.waitFor(/listening on gh\/\+\/events/);

  const common = ["send", "--broker", brokerUrl, "--broker-identity", "identities/operator.alice", "--key", "keys/alice.key", "--identities", "identities", "--device", DEVICE, "--door", "setpoint"];
  const write = await finished([...common, "--op", "write.target", "--args", "21.5"]);
  t.is(write.code, 0, write.output);
  t.is(write.output, `✓ ${DEVICE} setpoint write.target → (no value)  (verified)\n`);
  const refused = await finished([...common, "--op", "write.limits", "--args", '{"min": 12, "max": 25}']);
  t.is(refused.code, 1, refused.output);
  t.regex(refused.output, /refused: not-allowed: .+\(verified\)/);
  // The device's security event reaches the server and the operator reading events from the broker.
  await server.waitFor(new RegExp(`⚠ device event not-allowed ${DEVICE} setpoint write\\.limits`));
  await events.waitFor(new RegExp(`${DEVICE}\\s+not-allowed\\s+[0-9a-f]+\\s+setpoint\\s+write\\.limits\\s+0\\s+verified`));

  // Without an identity the broker refuses the tool.
  const anonymous = await finished(["send", "--broker", brokerUrl, "--key", "keys/alice.key", "--device", DEVICE, "--door", "setpoint", "--op", "read.target"]);
  t.is(anonymous.code, 1, anonymous.output);
  t.regex(anonymous.output, /^gatehouse send: error broker-tls: .*(not issued by the CA|chains to a CA other)|^gatehouse send: error broker-auth: /);
  // With the identity's CA but no login: broker-auth.
  const noLogin = await finished(["events", "--broker", brokerUrl, "--broker-identity", "identities/operator.nobody"]);
  t.is(noLogin.code, 1, noLogin.output);
  t.regex(noLogin.output, /error identity-invalid: .*operator\.nobody/);

  events.child.kill("SIGTERM");
  sim.child.kill("SIGTERM");
  await sim.exit();
  server.child.kill("SIGTERM");
  await server.exit();
});
