// mqtts from Node to a real mosquitto configured by `gatehouse broker-config`, with certificates from
// `gatehouse ca`: the device transport (ports/node/transport.ts) and the MQTT.js host tools
// (host/client/mqtt.ts) verify the broker against the identity's CA, present a client certificate when
// the identity has one, and refuse — with a clear reason and a stable code — a broker whose certificate is
// from another CA, expired, or for another host name; mosquitto refuses a client without a certificate on
// the certificate listener, and mosquitto_pub agrees with both.
import test from "ava";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { errorCode } from "../sdk/errors";
import type { MqttConnectOptions } from "../sdk/ports/transport";
import { NodeMqttTransport } from "../ports/node/transport";
import { connectMqtt, endMqtt } from "../host/client/mqtt";
import { tlsOptions, type BrokerCredentials } from "../host/broker/identities";
import { startBrokerFleet, badCertificates, type BrokerFleet } from "./support/broker-fleet";

let fleet: BrokerFleet;
/** Ports of the listeners with a bad certificate. */
let expiredPort = 0;
let otherHostPort = 0;
let otherCa = "";

test.before(async () => {
  fleet = await startBrokerFleet({
    passwordDevices: ["dev-a"],
    certificateDevices: ["dev-c"],
    prepare: badCertificates,
  });
  expiredPort = fleet.broker.listenerPorts[2];
  otherHostPort = fleet.broker.listenerPorts[3];
  otherCa = readFileSync(join(fleet.dir, "other-ca/ca.pem"), "utf8");
});

test.after.always(async () => {
  await fleet?.stop();
});

const url = (port: number, host = "127.0.0.1") => `mqtts://${host}:${port}`;

/** Opens the device transport; resolves with "connected" or the close reason. */
function openTransport(target: string, credentials: BrokerCredentials, options: Partial<MqttConnectOptions> = {}): Promise<{ result: string; transport: NodeMqttTransport }> {
  const transport = new NodeMqttTransport({ url: target, tls: tlsOptions(credentials) });
  return new Promise((resolve) => {
    transport.open(
      {
        clientId: credentials.username,
        keepAlive: 30,
        cleanSession: true,
        ...(credentials.password !== undefined ? { username: credentials.username, password: new TextEncoder().encode(credentials.password) } : {}),
        ...options,
      },
      {
        onConnected: () => resolve({ result: "connected", transport }),
        onMessage() {},
        onAcknowledged() {},
        onClosed: (reason) => resolve({ result: reason, transport }),
      },
    );
  });
}

async function tools(target: string, credentials: BrokerCredentials): Promise<string> {
  try {
    const client = await connectMqtt(target, { credentials, reconnectPeriodMs: 0, connectTimeoutMs: 15_000, onMessage() {} });
    await endMqtt(client);
    return "connected";
  } catch (e) {
    return `${errorCode(e)}: ${(e as Error).message}`;
  }
}

test.serial("the broker's certificate from the identity's CA: both Node clients connect, with a password or a client certificate", async (t) => {
  const devA = fleet.credentials("dev-a");
  t.truthy(devA.ca, "provision --ca put the CA into the identity");
  const device = await openTransport(url(fleet.passwordTlsPort), devA);
  t.is(device.result, "connected");
  device.transport.close(true);
  t.is(await tools(url(fleet.passwordTlsPort, "localhost"), devA), "connected");
  // dev-c logs in with its certificate alone: mosquitto takes its common name as username.
  const devC = fleet.credentials("dev-c");
  t.is(devC.password, undefined);
  const withCert = await openTransport(url(fleet.certificateTlsPort), devC);
  t.is(withCert.result, "connected");
  withCert.transport.close(true);
  t.is(await tools(url(fleet.certificateTlsPort), devC), "connected");
});

test.serial("a broker certificate from another CA is refused (broker-tls / tls-refused)", async (t) => {
  const devA = { ...fleet.credentials("dev-a"), ca: otherCa };
  const device = await openTransport(url(fleet.passwordTlsPort), devA);
  t.regex(device.result, /^tls-refused the broker's certificate (is not issued by the CA configured here|chains to a CA other than the one configured here) \([A-Z_]+\)$/);
  t.regex(await tools(url(fleet.passwordTlsPort), devA), /^broker-tls: cannot connect to mqtts:\/\/127\.0\.0\.1:\d+: the broker's certificate (is not issued by the CA configured here|chains to a CA other than the one configured here)/);
});

test.serial("an expired broker certificate is refused", async (t) => {
  const devA = fleet.credentials("dev-a");
  const device = await openTransport(url(expiredPort), devA);
  t.is(device.result, "tls-refused the broker's certificate has expired (CERT_HAS_EXPIRED)");
  t.regex(await tools(url(expiredPort), devA), /^broker-tls: .*the broker's certificate has expired \(CERT_HAS_EXPIRED\)/);
});

test.serial("a broker certificate for another host name is refused", async (t) => {
  const devA = fleet.credentials("dev-a");
  for (const host of ["127.0.0.1", "localhost"]) {
    const device = await openTransport(url(otherHostPort, host), devA);
    t.is(device.result, "tls-refused the broker's certificate is not for this host name or address (ERR_TLS_CERT_ALTNAME_INVALID)", host);
    t.regex(await tools(url(otherHostPort, host), devA), /^broker-tls: .*not for this host name or address \(ERR_TLS_CERT_ALTNAME_INVALID\)/, host);
  }
});

test.serial("without a client certificate the certificate listener refuses the handshake", async (t) => {
  const devA = fleet.credentials("dev-a");
  const device = await openTransport(url(fleet.certificateTlsPort), devA);
  t.regex(device.result, /^tls-refused the broker refused the TLS handshake: (certificate required|handshake failure) \(ERR_SSL_[A-Z0-9_]+_ALERT_[A-Z_]+\)$/);
  t.regex(await tools(url(fleet.certificateTlsPort), devA), /^broker-tls: .*the broker refused the TLS handshake: (certificate required|handshake failure)/);
});

test.serial("mosquitto_pub agrees: the right CA connects, another CA, an expired certificate or another host name do not", async (t) => {
  const devA = fleet.credentials("dev-a");
  const caFile = join(fleet.dir, "ca/ca.pem");
  const otherFile = join(fleet.dir, "other-ca/ca.pem");
  const pub = (port: number, cafile: string, host = "127.0.0.1") =>
    new Promise<number>((resolve) =>
      execFile("mosquitto_pub", ["-h", host, "-p", String(port), "--cafile", cafile, "-u", "dev-a", "-P", devA.password as string, "-i", "dev-a", "-t", "gh/dev-a/telemetry", "-m", "x", "-q", "1"], { timeout: 20_000 }, (error) =>
        resolve(error ? (typeof error.code === "number" ? error.code : -1) : 0),
      ),
    );
  t.is(await pub(fleet.passwordTlsPort, caFile), 0);
  t.not(await pub(fleet.passwordTlsPort, otherFile), 0);
  t.not(await pub(expiredPort, caFile), 0);
  t.not(await pub(otherHostPort, caFile), 0);
});
