// The one rules table (host/broker/rules.ts) and what it means, role by role, written out here by hand so
// that a change to the table shows as a failing expectation; its topic matching against the MQTT
// specification's examples; the publication topics of the SDK's codec all in it; and docs/broker.md
// listing every rule for EMQX and HiveMQ.
import test from "ava";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { PUBLICATION_KINDS, PUBLICATIONS } from "../sdk/session/publications";
import { brokerUsername, parseBrokerUsername } from "../host/broker/identities";
import { emqxAcl, hivemqRoles } from "../host/broker/other-brokers";
import { filterCovers, mayPublish, mayReceive, maySubscribe, permissions, topicMatches, TOPIC_RULES } from "../host/broker/rules";

const root = resolve(import.meta.dirname, "..");

test("a device publishes only its own publications and reads only its own commands and updates", (t) => {
  const p = permissions("device", "dev-a");
  for (const kind of ["birth", "death", "result", "telemetry", "events", "update/get", "update/status"]) {
    t.true(mayPublish(p, `gh/dev-a/${kind}`), kind);
    t.false(mayPublish(p, `gh/dev-b/${kind}`), `${kind} of another device`);
  }
  for (const topic of ["gh/dev-a/cmd/setpoint", "gh/dev-a/update/offer", "gh/dev-a/update/block", "gh/dev-a/update/trust"]) {
    t.false(mayPublish(p, topic), `no publishing on its own inbound ${topic}`);
    t.true(maySubscribe(p, topic), topic);
    t.true(mayReceive(p, topic), topic);
  }
  t.true(maySubscribe(p, "gh/dev-a/cmd/+"));
  for (const filter of ["gh/dev-b/cmd/+", "gh/+/cmd/+", "gh/#", "#", "gh/dev-a/#", "gh/dev-a/+", "gh/dev-a/birth", "$SYS/#"]) t.false(maySubscribe(p, filter), filter);
  t.false(mayReceive(p, "gh/dev-b/cmd/setpoint"));
  t.false(mayReceive(p, "gh/dev-b/birth"));
});

test("the server reads every device publication and writes commands and update transfers; it publishes nothing a device signs", (t) => {
  const p = permissions("server", "main");
  for (const kind of ["birth", "death", "result", "telemetry", "events", "update/get", "update/status"]) {
    t.true(maySubscribe(p, `gh/+/${kind}`), kind);
    t.true(mayReceive(p, `gh/dev-a/${kind}`), kind);
    t.false(mayPublish(p, `gh/dev-a/${kind}`), `no ${kind} in a device's name`);
  }
  for (const topic of ["gh/dev-a/cmd/setpoint", "gh/dev-a/update/offer", "gh/dev-a/update/block", "gh/dev-a/update/trust"]) {
    t.true(mayPublish(p, topic), topic);
    t.false(mayReceive(p, topic), `it does not read ${topic}`);
  }
  t.false(maySubscribe(p, "gh/#"));
});

test("an operator writes commands and reads results, births, deaths and security events; nothing else", (t) => {
  const p = permissions("operator", "alice");
  t.true(mayPublish(p, "gh/dev-a/cmd/setpoint"));
  for (const kind of ["result", "birth", "death", "events"]) t.true(maySubscribe(p, `gh/+/${kind}`), kind);
  for (const kind of ["telemetry", "update/get", "update/status", "cmd/setpoint", "update/offer"]) t.false(mayReceive(p, `gh/dev-a/${kind}`), kind);
  for (const topic of ["gh/dev-a/birth", "gh/dev-a/death", "gh/dev-a/result", "gh/dev-a/update/offer", "gh/dev-a/update/block"]) t.false(mayPublish(p, topic), topic);
});

test("the topic prefix is the fleet's", (t) => {
  const p = permissions("device", "dev-a", "fleet7");
  t.true(mayPublish(p, "fleet7/dev-a/birth"));
  t.false(mayPublish(p, "gh/dev-a/birth"));
});

test("topic matching follows MQTT 3.1.1 section 4.7 (its examples)", (t) => {
  t.true(topicMatches("sport/tennis/player1/#", "sport/tennis/player1"));
  t.true(topicMatches("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
  t.true(topicMatches("sport/#", "sport"));
  t.true(topicMatches("sport/tennis/+", "sport/tennis/player1"));
  t.false(topicMatches("sport/tennis/+", "sport/tennis/player1/ranking"));
  t.false(topicMatches("sport/+", "sport"));
  t.true(topicMatches("+/+", "/finance"));
  t.true(topicMatches("/+", "/finance"));
  t.false(topicMatches("+", "/finance"));
  t.false(topicMatches("#", "$SYS/broker"));
  t.false(topicMatches("+/monitor/Clients", "$SYS/monitor/Clients"));
  t.true(topicMatches("$SYS/monitor/+", "$SYS/monitor/Clients"));
});

test("a subscription is granted only when the rule covers everything it can match", (t) => {
  t.true(filterCovers("gh/+/birth", "gh/+/birth"));
  t.true(filterCovers("gh/+/birth", "gh/dev-a/birth"));
  t.true(filterCovers("gh/dev-a/cmd/+", "gh/dev-a/cmd/setpoint"));
  t.true(filterCovers("gh/#", "gh/+/cmd/#"));
  t.false(filterCovers("gh/dev-a/birth", "gh/+/birth"));
  t.false(filterCovers("gh/+/birth", "gh/#"));
  t.false(filterCovers("gh/+/birth", "gh/+/+"));
  t.false(filterCovers("gh/dev-a/cmd/+", "gh/dev-a/cmd/#"), "# reaches deeper than one level");
  t.false(filterCovers("gh/dev-a/cmd/+", "gh/dev-a/cmd"));
  t.false(filterCovers("gh/+/birth", "gh/+/birth/x"));
});

test("every publication kind of the codec is in the table: the device publishes it, the server reads it", (t) => {
  for (const kind of PUBLICATION_KINDS) {
    const rule = TOPIC_RULES.find((r) => r.topic === PUBLICATIONS[kind].topic);
    t.truthy(rule, `${kind} (${PUBLICATIONS[kind].topic}) has a rule`);
    t.is(rule?.device, "publish", kind);
    t.is(rule?.server, "subscribe", kind);
  }
});

test("usernames: a device's is its id; servers and operators have names no device id can take", (t) => {
  t.is(brokerUsername("device", "thermo-1"), "thermo-1");
  t.is(brokerUsername("server", "main"), "server.main");
  t.is(brokerUsername("operator", "alice"), "operator.alice");
  t.deepEqual(parseBrokerUsername("server.main"), { role: "server", name: "main" });
  t.deepEqual(parseBrokerUsername("thermo-1"), { role: "device", name: "thermo-1" });
  for (const bad of ["", "Server.main", "server.", "server.Main", "admin.x", "server.a.b", "a b", "server.main\n"]) t.is(parseBrokerUsername(bad), undefined, JSON.stringify(bad));
  t.throws(() => brokerUsername("operator", "Alice"), { message: /operator name/ });
});

test("docs/broker.md shows the rules for EMQX and HiveMQ exactly as the table makes them, and every table row is in them", (t) => {
  const doc = readFileSync(join(root, "docs/broker.md"), "utf8");
  const emqx = emqxAcl();
  const hivemq = hivemqRoles();
  t.true(doc.includes(emqx), "docs/broker.md carries emqxAcl() verbatim");
  t.true(doc.includes(hivemq), "docs/broker.md carries hivemqRoles() verbatim");
  for (const rule of TOPIC_RULES) {
    for (const role of ["device", "server", "operator"] as const) {
      const access = rule[role];
      const device = role === "device" ? "${username}" : "+";
      const line = `, ${access}, ["gh/${device}/${rule.topic}"]}.`;
      t.is(emqx.split("\n").filter((l) => l.endsWith(line) && l.includes(role === "device" ? "^[a-z0-9-]" : `^${role}`)).length, access ? 1 : 0, `EMQX: ${role} ${rule.topic}`);
    }
  }
  t.true(emqx.trimEnd().endsWith("{deny, all}."), "EMQX: everything else denied");
  t.is((hivemq.match(/<permission>/g) ?? []).length, TOPIC_RULES.reduce((n, r) => n + (r.device ? 1 : 0) + (r.server ? 1 : 0) + (r.operator ? 1 : 0), 0));
});

test("mosquitto.conf from broker-config: listener settings come only after a listener line (before one, mosquitto opens an extra plain listener on 1883 for them)", async (t) => {
  const { mosquittoConfig } = await import("../host/broker/mosquitto");
  const LISTENER_ONLY = ["use_username_as_clientid", "use_identity_as_username", "certfile", "keyfile", "cafile", "crlfile", "require_certificate", "tls_version"];
  for (const tls of [undefined, { certfile: "/b.pem", keyfile: "/b-key.pem", cafile: "/ca.pem", crlfile: "/crl.pem" }]) {
    const lines = mosquittoConfig({ passwordFile: "/p", aclFile: "/a", tls }).split("\n").filter((l) => l && !l.startsWith("#"));
    const first = lines.findIndex((l) => l.startsWith("listener "));
    t.true(first > 0);
    t.deepEqual(lines.slice(0, first).filter((l) => LISTENER_ONLY.includes(l.split(" ")[0])), [], JSON.stringify(lines));
    t.true(lines.slice(first).includes("use_username_as_clientid true"));
    t.deepEqual(lines.slice(0, first), ["per_listener_settings false", "allow_anonymous false", "password_file /p", "acl_file /a"]);
  }
});

test("a damaged client certificate in a broker identity is identity-invalid, not an internal error", async (t) => {
  const { mkdtempSync, mkdirSync, writeFileSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { readBrokerIdentity } = await import("../host/broker/identities");
  const { errorCode } = await import("../sdk/errors");
  const dir = join(mkdtempSync(join(tmpdir(), "gatehouse-broker-identity-")), "dev-x");
  mkdirSync(dir);
  writeFileSync(join(dir, "broker-user"), "dev-x\n");
  writeFileSync(join(dir, "broker-cert.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  const error = t.throws(() => readBrokerIdentity(dir));
  t.is(errorCode(error), "identity-invalid");
  t.regex(error?.message ?? "", /broker-cert\.pem is not a PEM certificate/);
});
