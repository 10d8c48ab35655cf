// mqtts from XS 17 (Moddable's lin simulator): the suite's test app built with Moddable's TLS MQTT client
// (app/manifest_tls.json: device.network.mqtts over its TLS socket) logs in with its broker identity to a
// real mosquitto configured by `gatehouse broker-config` with certificates from `gatehouse ca`, and
// publishes its signed birth under the ACLs. A broker certificate from another CA, an expired one, and one
// for another host name are refused: the device never comes online, the port reports "tls-refused ..."
// and the app lives on to retry (without the port's guard, Moddable's TLS socket throws from a socket
// callback and XS aborts), and Moddable's TLS traces why where it does. The TLS handshake is measured on the wire by a TCP relay in front of the broker (from the client's
// first byte to its first application-data record, the CONNECT), for XS and for Node's transport alike.
import test from "ava";
import { createServer, connect as netConnect, type AddressInfo, type Server } from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { toHex } from "../../sdk/bytes";
import { openPublication } from "../../sdk/session/publications";
import { nodeCrypto } from "../../ports/node/crypto";
import { NodeMqttTransport } from "../../ports/node/transport";
import { connectMqtt, endMqtt } from "../../host/client/mqtt";
import { readIdentity } from "../../host/identity-files";
import { tlsOptions } from "../../host/broker/identities";
import { badCertificates, gatehouseOk, startBrokerFleet, type BrokerFleet } from "../support/broker-fleet";
import { appEnv, buildApp, deviceFolder, RunningApp } from "./support/moddable";

const DEVICE = "lin-tls";

/** A TCP relay to `port` that times each connection's TLS handshake as the client's bytes show it. */
interface Relay {
  readonly port: number;
  /** Milliseconds from each connection's first client byte to its first application-data record. */
  readonly handshakes: number[];
  close(): Promise<void>;
}

async function startRelay(port: number): Promise<Relay> {
  const handshakes: number[] = [];
  const server: Server = createServer((client) => {
    const upstream = netConnect({ host: "127.0.0.1", port });
    let started = 0;
    let pending = Buffer.alloc(0);
    let done = false;
    client.on("data", (chunk: Buffer) => {
      if (!done) {
        const now = performance.now();
        if (started === 0) started = now;
        // TLS records: type (1 byte), version (2), length (2), body. Type 23 is application data.
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 5 && !done) {
          if (pending[0] === 23) {
            handshakes.push(now - started);
            done = true;
            break;
          }
          const length = 5 + pending.readUInt16BE(3);
          if (pending.length < length) break;
          pending = pending.subarray(length);
        }
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk) => client.write(chunk));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end);
    upstream.on("close", end);
    client.on("error", end);
    upstream.on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    handshakes,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

let fleet: BrokerFleet;
let mcso = "";
let relay: Relay;

test.before(async () => {
  const built = buildApp("test/device/app", {}, { manifest: "manifest_tls.json" });
  fleet = await startBrokerFleet({
    passwordDevices: [],
    certificateDevices: [],
    async prepare(dir) {
      await gatehouseOk(dir, "provision", "--id", DEVICE, "--out", "identities", "--ca", "ca");
      return badCertificates(dir);
    },
  });
  relay = await startRelay(fleet.passwordTlsPort);
  mcso = (await built).mcso;
});

test.after.always(async () => {
  await relay?.close();
  await fleet?.stop();
});

function der(pemFile: string): string {
  const pem = readFileSync(pemFile, "utf8");
  return toHex(new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64")));
}

function launch(port: number, ca: string, name: string): RunningApp {
  const credentials = fleet.credentials(DEVICE);
  return new RunningApp(
    mcso,
    appEnv({
      GATEHOUSE_MODE: "e2e",
      GATEHOUSE_BROKER_PORT: String(port),
      GATEHOUSE_BROKER_HOST: "127.0.0.1",
      GATEHOUSE_BROKER_CA: ca,
      GATEHOUSE_BROKER_USER: credentials.username,
      GATEHOUSE_BROKER_PASSWORD: credentials.password as string,
      GATEHOUSE_DEVICE_KEY: toHex(readFileSync(join(fleet.identities, DEVICE, "device.key"))),
      GATEHOUSE_TRUST: toHex(readFileSync(join(fleet.identities, DEVICE, "trust.cbor"))),
    }),
    { cwd: deviceFolder(`tls-${name}`, { fresh: true }), timeoutMs: 240_000 },
  );
}

/** Waits until the app failed to connect `times` times; it must never have come online. */
async function refusedTimes(app: RunningApp, times: number): Promise<void> {
  const failed = () => app.reports.filter((r) => r.kind === "state" && r.state === "waiting").length;
  for (let n = 1; n <= times; n++) await app.waitFor(`connection failure ${n}`, () => failed() >= n, 120_000);
}

test.serial("XS 17 over mqtts: verifies the broker with the CA, logs in as itself, and its signed birth passes the ACLs", async (t) => {
  const server = await (async () => {
    const births: Uint8Array[] = [];
    const client = await connectMqtt(`mqtts://127.0.0.1:${fleet.passwordTlsPort}`, { credentials: fleet.credentials("server.main"), reconnectPeriodMs: 0, onMessage: (_topic, payload) => births.push(payload) });
    await client.subscribeAsync(`gh/${DEVICE}/birth`, { qos: 1 });
    return { client, births };
  })();
  const app = launch(relay.port, der(join(fleet.dir, "ca/ca.pem")), "ok");
  t.teardown(() => app.kill());
  await app.waitFor("online over mqtts", (r) => r.kind === "state" && r.state === "online", 120_000);
  const deadline = Date.now() + 30_000;
  while (server.births.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.true(server.births.length > 0, "the server read the device's birth");
  const key = readIdentity(join(fleet.identities, DEVICE)).publicKey;
  t.is(openPublication(nodeCrypto, server.births[0], key, "birth", DEVICE).firmware, "gatehouse device suite");
  app.kill();
  await app.exited;
  await endMqtt(server.client);

  // The same handshake from Node's transport, through the same relay, for comparison.
  const fromXs = [...relay.handshakes];
  t.true(fromXs.length >= 1);
  const credentials = fleet.credentials(DEVICE);
  for (let i = 0; i < 5; i++) {
    const transport = new NodeMqttTransport({ url: `mqtts://127.0.0.1:${relay.port}`, tls: tlsOptions(credentials) });
    const result = await new Promise<string>((resolve) =>
      transport.open(
        { clientId: DEVICE, keepAlive: 30, cleanSession: true, username: credentials.username, password: new TextEncoder().encode(credentials.password) },
        { onConnected: () => resolve("connected"), onMessage() {}, onAcknowledged() {}, onClosed: (reason) => resolve(reason) },
      ),
    );
    t.is(result, "connected");
    transport.close(true);
  }
  const fromNode = relay.handshakes.slice(fromXs.length);
  t.log(`TLS 1.2 handshake to mosquitto (ECDSA P-256 broker certificate, chain of 2), client's first byte to its CONNECT: XS 17 on lin ${fromXs.map((ms) => ms.toFixed(0)).join(", ")} ms; Node ${fromNode.map((ms) => ms.toFixed(1)).join(", ")} ms`);
});

test.serial("XS 17 refuses a broker certificate from another CA, an expired one, and one for another host name", async (t) => {
  const cases = [
    { name: "other-ca", port: fleet.passwordTlsPort, ca: der(join(fleet.dir, "other-ca/ca.pem")), reason: /^certificate: auth err$/, trace: undefined },
    { name: "expired", port: fleet.broker.listenerPorts[2], ca: der(join(fleet.dir, "ca/ca.pem")), reason: /^date validation failed$/, trace: undefined },
    { name: "other-host", port: fleet.broker.listenerPorts[3], ca: der(join(fleet.dir, "ca/ca.pem")), reason: /./, trace: /subjectAltName match failed for 127\.0\.0\.1/ },
  ];
  for (const c of cases) {
    const app = launch(c.port, c.ca, c.name);
    try {
      await refusedTimes(app, 2);
      t.false(app.reports.some((r) => r.kind === "state" && r.state === "online"), `${c.name}: never online`);
      // The port reports the TLS stack's refusal, and the app lives on (no XS abort) to retry.
      const waiting = app.reports.filter((r) => r.kind === "state" && r.state === "waiting").map((r) => String(r.detail));
      t.true(waiting.length >= 2 && waiting.every((detail) => { const m = /^tls-refused (.+); retry in \d+ ms$/.exec(detail); return m !== null && c.reason.test(m[1]); }), `${c.name}: ${waiting.join(" | ")}`);
      t.false(app.output.some((line) => /XS abort|unhandled exception/.test(line)), `${c.name}: ${app.output.join("\n")}`);
      if (c.trace) t.true(app.output.some((line) => c.trace!.test(line)), `${c.name}: ${app.output.slice(-10).join("\n")}`);
      t.log(`${c.name}: ${waiting[0]}; traced: ${[...new Set(app.output.filter((l) => !l.startsWith("instruments")))].slice(0, 4).join(" | ")}`);
    } finally {
      app.kill();
      await app.exited;
    }
  }
});
