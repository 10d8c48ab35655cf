// The embedded aedes broker of `npm start` (host/sim/broker.ts) with the fleet's broker identities and the
// one rules table (host/broker/access.ts): the same refusals as mosquitto, seen from MQTT.js clients.
// Anonymous, wrong and revoked logins are refused; a device cannot publish under another device's topics
// (a forged retained birth never reaches a subscriber) nor subscribe to or receive another's commands; a
// device must use its id as client id and nobody may take another identity's client id.
import test from "ava";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MqttClient } from "mqtt";
import { errorCode } from "../sdk/errors";
import { connectMqtt, endMqtt } from "../host/client/mqtt";
import { brokerAccess } from "../host/broker/access";
import { ensurePasswordIdentities, listBrokerIdentities, readBrokerCredentials, revokeBrokerIdentity, type BrokerCredentials } from "../host/broker/identities";
import { startEmbeddedBroker, type EmbeddedBroker } from "../host/sim/broker";

const dir = mkdtempSync(join(tmpdir(), "gatehouse-aedes-rules-"));
ensurePasswordIdentities(dir, ["dev-a", "dev-b", "dev-r", "server.main", "operator.alice"]);
const credentials = (username: string): BrokerCredentials => readBrokerCredentials(join(dir, username));
// dev-r is revoked before the broker reads the identities.
const revokedPassword = credentials("dev-r").password;
revokeBrokerIdentity(join(dir, "dev-r"));

let broker: EmbeddedBroker;
const refusals: string[] = [];

test.before(async () => {
  broker = await startEmbeddedBroker({ access: brokerAccess(listBrokerIdentities(dir)), log: (line) => refusals.push(line) });
});
test.after.always(async () => {
  await broker?.stop();
});

interface Listener {
  client: MqttClient;
  messages: { topic: string; text: string; retain: boolean }[];
  next(topic: string, text?: string): Promise<{ topic: string; text: string; retain: boolean }>;
}

async function listen(who: BrokerCredentials | undefined, clientId?: string): Promise<Listener> {
  const messages: Listener["messages"] = [];
  const waiters = new Set<() => void>();
  const client = await connectMqtt(broker.url, {
    credentials: who,
    clientId: clientId ?? who?.username,
    reconnectPeriodMs: 0,
    onMessage(topic, payload, retain) {
      messages.push({ topic, text: new TextDecoder().decode(payload), retain });
      for (const w of [...waiters]) w();
    },
  });
  return {
    client,
    messages,
    next(topic, text) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = messages.find((m) => m.topic === topic && (text === undefined || m.text === text));
          if (!found) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => reject(new Error(`nothing on ${topic} within 10 s; got ${JSON.stringify(messages)}`)), 10_000);
        waiters.add(check);
        check();
      });
    },
  };
}

/** The granted QoS of each filter (128: refused; MQTT.js rejects then, with the SUBACK). */
async function subscribe(client: MqttClient, filters: string[]): Promise<number[]> {
  try {
    return (await client.subscribeAsync(filters, { qos: 1 })).map((g) => g.qos);
  } catch (e) {
    const granted = (e as { packet?: { granted?: number[] } }).packet?.granted;
    if (!granted) throw e;
    return granted;
  }
}

async function refused(t: import("ava").ExecutionContext, who: BrokerCredentials | undefined, clientId: string | undefined, what: string): Promise<void> {
  const error = await t.throwsAsync(connectMqtt(broker.url, { credentials: who, clientId, reconnectPeriodMs: 0, onMessage() {} }), undefined, what);
  t.is(errorCode(error), "broker-auth", `${what}: ${error?.message}`);
}

test.serial("anonymous, wrong, unknown and revoked logins are refused; a device must use its id as client id", async (t) => {
  await refused(t, undefined, undefined, "anonymous");
  const devA = credentials("dev-a");
  await refused(t, { ...devA, password: `${devA.password}x` }, "dev-a", "wrong password");
  await refused(t, { username: "dev-z", password: devA.password }, "dev-z", "unknown username");
  await refused(t, { username: "dev-r", password: revokedPassword }, "dev-r", "revoked");
  await refused(t, devA, "not-dev-a", "a device with another client id");
  await refused(t, credentials("operator.alice"), "dev-a", "an operator taking a device's client id");
  await refused(t, credentials("operator.alice"), "server.main", "an operator taking the server's client id");
  const ok = await listen(credentials("operator.alice"), "alice-console-1");
  await endMqtt(ok.client);
  t.true(refusals.some((line) => line.includes("bad username or password")), refusals.join("\n"));
});

test.serial("a device cannot publish under another device's topics: a forged retained birth never reaches a subscriber", async (t) => {
  const devB = await listen(credentials("dev-b"));
  await devB.client.publishAsync("gh/dev-b/birth", "real birth of dev-b", { qos: 1, retain: true });
  const devA = await listen(credentials("dev-a"));
  const closed = new Promise<void>((resolve) => devA.client.once("close", () => resolve()));
  // aedes ends the connection of a client whose publication is refused (MQTT 3.1.1 cannot refuse one alone).
  devA.client.publish("gh/dev-b/birth", "FORGED birth from dev-a", { qos: 1, retain: true });
  await closed;
  t.true(refusals.some((line) => line.includes("refused a publication on gh/dev-b/birth by dev-a")), refusals.join("\n"));
  await endMqtt(devA.client);
  const server = await listen(credentials("server.main"));
  t.deepEqual(await subscribe(server.client, ["gh/+/birth"]), [1]);
  t.deepEqual(await server.next("gh/dev-b/birth"), { topic: "gh/dev-b/birth", text: "real birth of dev-b", retain: true });
  t.false(server.messages.some((m) => m.text.includes("FORGED")));
  // The operator may not write a birth either.
  const operator = await listen(credentials("operator.alice"), "alice-console-2");
  const operatorClosed = new Promise<void>((resolve) => operator.client.once("close", () => resolve()));
  operator.client.publish("gh/dev-b/birth", "FORGED birth from alice", { qos: 1, retain: true });
  await operatorClosed;
  await endMqtt(operator.client);
  await devB.client.publishAsync("gh/dev-b/birth", "second birth of dev-b", { qos: 1, retain: true });
  await server.next("gh/dev-b/birth", "second birth of dev-b");
  t.false(server.messages.some((m) => m.text.includes("FORGED")), JSON.stringify(server.messages));
  await Promise.all([endMqtt(devB.client), endMqtt(server.client)]);
});

test.serial("subscriptions outside the rules are refused (0x80), and nothing outside them is delivered", async (t) => {
  const devA = await listen(credentials("dev-a"));
  t.deepEqual(await subscribe(devA.client, ["gh/dev-a/cmd/+", "gh/dev-b/cmd/+", "gh/+/cmd/+", "gh/#", "#", "gh/dev-a/cmd/#"]), [1, 128, 128, 128, 128, 128]);
  const devB = await listen(credentials("dev-b"));
  await devB.client.subscribeAsync(["gh/dev-b/cmd/+"], { qos: 1 });
  const server = await listen(credentials("server.main"));
  await server.client.publishAsync("gh/dev-b/cmd/setpoint", "for dev-b", { qos: 1 });
  await server.client.publishAsync("gh/dev-a/cmd/setpoint", "for dev-a", { qos: 1 });
  await devB.next("gh/dev-b/cmd/setpoint");
  await devA.next("gh/dev-a/cmd/setpoint");
  t.deepEqual(devA.messages.map((m) => m.topic), ["gh/dev-a/cmd/setpoint"]);
  const operator = await listen(credentials("operator.alice"), "alice-console-3");
  t.deepEqual(await subscribe(operator.client, ["gh/+/result", "gh/+/telemetry", "gh/+/cmd/+"]), [1, 128, 128]);
  await Promise.all([devA, devB, server, operator].map((l) => endMqtt(l.client)));
});
