// The broker is a door too: a real mosquitto configured from the files `gatehouse broker-config` writes
// (test/support/broker-fleet.ts), probed with two independent clients, MQTT.js and mosquitto_pub/sub.
// Anonymous and wrong logins are refused; a device cannot publish under another device's topics (so a
// forged retained birth never reaches a subscriber) nor read its commands; the server and an operator do
// what their roles allow and no more; a revoked identity (password or certificate) can no longer connect
// once the configuration is written again and mosquitto reloaded.
import test from "ava";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { MqttClient } from "mqtt";
import { errorCode } from "../sdk/errors";
import { connectMqtt, endMqtt } from "../host/client/mqtt";
import type { BrokerCredentials } from "../host/broker/identities";
import { startBrokerFleet, gatehouseIn, gatehouseOk, type BrokerFleet } from "./support/broker-fleet";

let fleet: BrokerFleet;
// Serial: every client's id is its username (use_username_as_clientid), so two tests connecting as dev-a
// at once would throw each other off.

test.before(async () => {
  fleet = await startBrokerFleet();
});

test.after.always(async () => {
  await fleet?.stop();
});

interface Listener {
  client: MqttClient;
  messages: { topic: string; text: string; retain: boolean }[];
  /** Resolves with the first message on `topic` (already received or still to come). */
  next(topic: string, ms?: number): Promise<{ topic: string; text: string; retain: boolean }>;
  close(): Promise<void>;
}

async function listen(credentials: BrokerCredentials | undefined, url = fleet.plainUrl): Promise<Listener> {
  const messages: Listener["messages"] = [];
  const waiters = new Set<() => void>();
  const client = await connectMqtt(url, {
    credentials,
    reconnectPeriodMs: 0,
    onMessage(topic, payload, retain) {
      messages.push({ topic, text: new TextDecoder().decode(payload), retain });
      for (const w of [...waiters]) w();
    },
  });
  return {
    client,
    messages,
    next(topic, ms = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = messages.find((m) => m.topic === topic);
          if (!found) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`nothing on ${topic} within ${ms} ms; got ${JSON.stringify(messages)}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
    close: () => endMqtt(client),
  };
}

/** Subscribes; returns the granted QoS of each filter (128: refused). */
async function subscribe(client: MqttClient, filters: string[]): Promise<number[]> {
  const granted = await client.subscribeAsync(filters, { qos: 1 });
  return granted.map((g) => g.qos);
}

function run(tool: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(tool, args, { timeout: 20_000 }, (error, stdout, stderr) => done({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr }));
  });
}

/** mosquitto_pub (or _sub) as `username`, with its password, on the plain listener. */
function mosquittoArgs(username: string | undefined): string[] {
  const login = username === undefined ? [] : ["-u", username, "-P", fleet.credentials(username).password as string, "-i", username];
  return ["-h", "127.0.0.1", "-p", String(fleet.broker.port), "-V", "mqttv311", ...login];
}

async function refusedLogin(t: import("ava").ExecutionContext, credentials: BrokerCredentials | undefined, what: string): Promise<void> {
  const error = await t.throwsAsync(connectMqtt(fleet.plainUrl, { credentials, reconnectPeriodMs: 0, onMessage() {} }), undefined, what);
  t.is(errorCode(error), "broker-auth", `${what}: ${error?.message}`);
}

test.serial("anonymous clients and wrong passwords are refused (MQTT.js and mosquitto_pub)", async (t) => {
  await refusedLogin(t, undefined, "anonymous");
  const devA = fleet.credentials("dev-a");
  await refusedLogin(t, { ...devA, password: `${devA.password}x` }, "wrong password");
  await refusedLogin(t, { username: "dev-z", password: devA.password }, "unknown username");
  const anonymous = await run("mosquitto_pub", [...mosquittoArgs(undefined), "-t", "gh/dev-a/birth", "-m", "x", "-q", "1"]);
  t.not(anonymous.code, 0);
  t.regex(anonymous.stderr, /not authori[sz]ed|refused/i, anonymous.stderr);
  const wrong = await run("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(fleet.broker.port), "-u", "dev-a", "-P", "not-the-password", "-t", "gh/dev-a/birth", "-m", "x", "-q", "1"]);
  t.not(wrong.code, 0);
  t.regex(wrong.stderr, /not authori[sz]ed|refused/i, wrong.stderr);
});

test.serial("a device cannot publish under another device's topics: a forged retained birth never reaches a subscriber", async (t) => {
  const server = await listen(fleet.credentials("server.main"));
  t.deepEqual(await subscribe(server.client, ["gh/+/birth", "gh/+/death"]), [1, 1]);
  // dev-b's real birth, retained.
  const devB = await listen(fleet.credentials("dev-b"));
  await devB.client.publishAsync("gh/dev-b/birth", "real birth of dev-b", { qos: 1, retain: true });
  t.is((await server.next("gh/dev-b/birth")).text, "real birth of dev-b");

  // dev-a forges dev-b's birth and death, retained, with MQTT.js; then publishes its own birth: mosquitto
  // handles one connection's packets in order, so once the server has that, the forgeries were handled.
  const devA = await listen(fleet.credentials("dev-a"));
  await devA.client.publishAsync("gh/dev-b/birth", "FORGED birth from dev-a", { qos: 1, retain: true });
  await devA.client.publishAsync("gh/dev-b/death", "FORGED death from dev-a", { qos: 1, retain: true });
  await devA.client.publishAsync("gh/dev-a/birth", "marker from dev-a", { qos: 1, retain: true });
  t.is((await server.next("gh/dev-a/birth")).text, "marker from dev-a");
  // The same with mosquitto_pub (it exits once mosquitto acknowledged the QoS 1 publication).
  const forged = await run("mosquitto_pub", [...mosquittoArgs("dev-a"), "-t", "gh/dev-b/birth", "-m", "FORGED by mosquitto_pub", "-q", "1", "-r"]);
  t.is(forged.code, 0, `mosquitto drops a publication the ACL forbids without telling (MQTT 3.1.1): ${forged.stderr}`);

  // A new subscriber gets dev-b's real birth as the retained one, and nobody saw a forgery.
  const operator = await listen(fleet.credentials("operator.alice"));
  t.deepEqual(await subscribe(operator.client, ["gh/+/birth"]), [1]);
  const retained = await operator.next("gh/dev-b/birth");
  t.deepEqual(retained, { topic: "gh/dev-b/birth", text: "real birth of dev-b", retain: true });
  // mosquitto_sub as a second, independent reader of the retained births.
  const sub = await run("mosquitto_sub", [...mosquittoArgs("server.main"), "-t", "gh/dev-b/birth", "-C", "1", "-W", "15"]);
  t.is(sub.code, 0, sub.stderr);
  t.is(sub.stdout.trim(), "real birth of dev-b");
  for (const listener of [server, operator]) t.false(listener.messages.some((m) => m.text.includes("FORGED")), JSON.stringify(listener.messages));
  await Promise.all([server.close(), devA.close(), devB.close(), operator.close()]);
});

test.serial("a device cannot read another device's commands, even with wildcards; the server's commands reach the right device", async (t) => {
  const devA = await listen(fleet.credentials("dev-a"));
  const devB = await listen(fleet.credentials("dev-b"));
  t.deepEqual(await subscribe(devA.client, ["gh/dev-a/cmd/+"]), [1]);
  t.deepEqual(await subscribe(devB.client, ["gh/dev-b/cmd/+"]), [1]);
  // mosquitto 2.0 grants these subscriptions (MQTT 3.1.1) but checks the read rule for every message it
  // would deliver: nothing of dev-b's reaches dev-a.
  await subscribe(devA.client, ["gh/dev-b/cmd/+", "gh/#", "#"]);
  const server = await listen(fleet.credentials("server.main"));
  await server.client.publishAsync("gh/dev-b/cmd/setpoint", "for dev-b only", { qos: 1 });
  await server.client.publishAsync("gh/dev-a/cmd/setpoint", "for dev-a", { qos: 1 });
  t.is((await devB.next("gh/dev-b/cmd/setpoint")).text, "for dev-b only");
  t.is((await devA.next("gh/dev-a/cmd/setpoint")).text, "for dev-a");
  t.deepEqual(
    devA.messages.map((m) => m.topic),
    ["gh/dev-a/cmd/setpoint"],
    "dev-a got its own command only (messages from one publisher arrive in order)",
  );
  // mosquitto_sub as dev-a, on dev-b's commands then its own: the first message it prints is its own.
  const sub = run("mosquitto_sub", [...mosquittoArgs("dev-a"), "-c", "-q", "1", "-t", "gh/dev-b/cmd/+", "-t", "gh/dev-a/cmd/+", "-v", "-C", "1", "-W", "15"]);
  // mosquitto_sub with the same client id replaces the MQTT.js dev-a: wait until it has subscribed (its
  // session then exists), by publishing until it prints something.
  await devA.close();
  let printed: { code: number; stdout: string; stderr: string } | undefined;
  void sub.then((r) => (printed = r));
  for (let i = 0; printed === undefined && i < 100; i++) {
    await server.client.publishAsync("gh/dev-b/cmd/setpoint", `for dev-b ${i}`, { qos: 1 });
    await server.client.publishAsync("gh/dev-a/cmd/setpoint", `for dev-a ${i}`, { qos: 1 });
    await new Promise((r) => setTimeout(r, 100));
  }
  const result = await sub;
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^gh\/dev-a\/cmd\/setpoint for dev-a \d+\n$/);
  // A device may not write commands, not even to itself, nor read what the server reads.
  await devB.client.publishAsync("gh/dev-a/cmd/setpoint", "FORGED command from dev-b", { qos: 1 });
  await devB.client.publishAsync("gh/dev-b/cmd/setpoint", "FORGED command to itself", { qos: 1 });
  await server.client.publishAsync("gh/dev-b/cmd/setpoint", "after the forgeries", { qos: 1 });
  await devB.next("gh/dev-b/cmd/setpoint");
  const seen = () => devB.messages.filter((m) => m.text === "after the forgeries");
  for (let i = 0; seen().length === 0 && i < 100; i++) await new Promise((r) => setTimeout(r, 50));
  t.false(devB.messages.some((m) => m.text.includes("FORGED")), JSON.stringify(devB.messages));
  await Promise.all([devB.close(), server.close()]);
});

test.serial("the server and an operator: the operator writes commands and reads results, but writes no birth and reads no telemetry", async (t) => {
  const operator = await listen(fleet.credentials("operator.alice"));
  await subscribe(operator.client, ["gh/+/result", "gh/+/telemetry", "gh/+/update/block"]);
  const server = await listen(fleet.credentials("server.main"));
  await subscribe(server.client, ["gh/+/cmd/+", "gh/+/telemetry"]);
  const devB = await listen(fleet.credentials("dev-b"));
  t.deepEqual(await subscribe(devB.client, ["gh/dev-b/cmd/+"]), [1]);
  await operator.client.publishAsync("gh/dev-b/cmd/relay", "command from alice", { qos: 1 });
  t.is((await devB.next("gh/dev-b/cmd/relay")).text, "command from alice");
  await operator.client.publishAsync("gh/dev-b/birth", "FORGED birth from alice", { qos: 1, retain: true });
  await devB.client.publishAsync("gh/dev-b/telemetry", "telemetry", { qos: 1 });
  await devB.client.publishAsync("gh/dev-b/result", "result of dev-b", { qos: 1 });
  t.is((await operator.next("gh/dev-b/result")).text, "result of dev-b");
  t.is((await server.next("gh/dev-b/telemetry")).text, "telemetry");
  // The operator's command went to dev-b, never to the server (which writes commands but does not read
  // them); dev-b's telemetry to the server, never to the operator. Both read in order after later messages.
  t.false(operator.messages.some((m) => m.topic.endsWith("/telemetry")), JSON.stringify(operator.messages));
  t.false(server.messages.some((m) => m.topic.includes("/cmd/")), JSON.stringify(server.messages));
  const births = await run("mosquitto_sub", [...mosquittoArgs("server.main"), "-t", "gh/dev-b/birth", "-C", "1", "-W", "15"]);
  t.false(births.stdout.includes("FORGED"), births.stdout);
  await Promise.all([operator.close(), server.close(), devB.close()]);
});

test.serial("a revoked device (provision --revoke, broker-config again, SIGHUP) can no longer connect, with a password or a certificate", async (t) => {
  const local = await startBrokerFleet({ passwordDevices: ["dev-r"], certificateDevices: ["dev-s"] });
  t.teardown(() => local.stop());
  const passwordCredentials = local.credentials("dev-r");
  const certificateCredentials = local.credentials("dev-s");
  const certificateUrl = `mqtts://127.0.0.1:${local.certificateTlsPort}`;
  const before = await connectMqtt(local.plainUrl, { credentials: passwordCredentials, reconnectPeriodMs: 0, onMessage() {} });
  const cut = new Promise<void>((resolve) => before.once("close", () => resolve()));
  const beforeCert = await connectMqtt(certificateUrl, { credentials: certificateCredentials, reconnectPeriodMs: 0, onMessage() {} });
  await endMqtt(beforeCert);

  const revoked = await gatehouseOk(local.dir, "provision", "--revoke", "dev-r", "--out", "identities");
  t.regex(revoked.stdout, /revoked: broker identity dev-r/);
  // A certificate's revocation needs the CA.
  const noCa = await gatehouseIn(local.dir, "provision", "--revoke", "dev-s", "--out", "identities");
  t.is(noCa.code, 2, noCa.stderr);
  t.regex(noCa.stderr, /error usage: .*--ca/);
  await gatehouseOk(local.dir, "provision", "--revoke", "dev-s", "--out", "identities", "--ca", "ca");
  // Before the reload, mosquitto still has the old files: the revocation takes effect with the reload.
  await local.reconfigure();
  // mosquitto applies the reloaded password file to the connections already open: the revoked one is cut.
  await cut;
  t.false(before.connected);
  await endMqtt(before);

  const error = await t.throwsAsync(connectMqtt(local.plainUrl, { credentials: passwordCredentials, reconnectPeriodMs: 0, onMessage() {} }));
  t.is(errorCode(error), "broker-auth", error?.message);
  const pub = await run("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(local.broker.port), "-u", "dev-r", "-P", passwordCredentials.password as string, "-t", "gh/dev-r/birth", "-m", "x", "-q", "1"]);
  t.not(pub.code, 0);
  t.regex(pub.stderr, /not authori[sz]ed|refused/i, pub.stderr);
  // The certificate: mosquitto checks the revocation list in the TLS handshake.
  const certError = await t.throwsAsync(connectMqtt(certificateUrl, { credentials: certificateCredentials, reconnectPeriodMs: 0, onMessage() {} }));
  t.is(errorCode(certError), "broker-tls", certError?.message);
  // mosquitto_pub with the revoked certificate (kept aside before the revocation deleted it).
  writeFileSync(join(local.dir, "kept-cert.pem"), certificateCredentials.cert as string);
  writeFileSync(join(local.dir, "kept-key.pem"), certificateCredentials.key as string, { mode: 0o600 });
  const certPub = await run("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(local.certificateTlsPort), "--cafile", join(local.dir, "ca/ca.pem"), "--cert", join(local.dir, "kept-cert.pem"), "--key", join(local.dir, "kept-key.pem"), "-t", "gh/dev-s/birth", "-m", "x", "-q", "1"]);
  t.not(certPub.code, 0, certPub.stderr);
  // The identity files know it, too: a client refuses to use a revoked identity.
  t.throws(() => local.credentials("dev-r"), { message: /revoked/ });
  // The ACL file no longer names it.
  const acl = readFileSync(join(local.dir, "broker/acl"), "utf8");
  t.false(/^user dev-r$/m.test(acl));
  t.false(/^user dev-s$/m.test(acl));
  t.false(readFileSync(join(local.dir, "broker/passwd"), "utf8").includes("dev-r:"));
});
