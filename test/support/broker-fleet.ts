// A fleet's broker set-up as a user makes it, for the tests that run against it: `gatehouse ca create`,
// `ca issue`, `provision` (devices with passwords and with client certificates, a server, an operator) and
// `broker-config`, all as real processes in a temporary folder, then a real mosquitto configured from the
// files broker-config wrote: its password file and ACL file, a plain listener, a TLS listener where clients
// log in with passwords and one where they present certificates (host/broker/mosquitto.ts makes the lines).
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readBrokerCredentials, type BrokerCredentials } from "../../host/broker/identities";
import { mosquittoListenerLines, mosquittoSecurityLines, mosquittoTlsLines } from "../../host/broker/mosquitto";
import { startMosquitto, type MosquittoBroker } from "./brokers";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const BIN = join(repoRoot, "bin", "gatehouse.js");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `gatehouse ARGS` in `cwd`. */
export function gatehouseIn(cwd: string, ...args: string[]): Promise<CliResult> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, NO_COLOR: "1", GATEHOUSE_DEBUG: "" } }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

/** Runs `gatehouse ARGS` in `cwd` and throws unless it succeeds. */
export async function gatehouseOk(cwd: string, ...args: string[]): Promise<CliResult> {
  const result = await gatehouseIn(cwd, ...args);
  if (result.code !== 0) throw new Error(`gatehouse ${args.join(" ")} failed (${result.code}): ${result.stderr}`);
  return result;
}

export interface BrokerFleet {
  /** The temporary folder: ca/, identities/, broker/ (broker-config's output), tls/ (the broker's certificate). */
  readonly dir: string;
  readonly identities: string;
  readonly caDir: string;
  readonly broker: MosquittoBroker;
  /** mqtt://127.0.0.1:PORT: no TLS, passwords. */
  readonly plainUrl: string;
  /** mqtts://127.0.0.1:PORT: TLS, passwords. */
  readonly passwordTlsPort: number;
  /** TLS, client certificates from the CA (the common name is the username). */
  readonly certificateTlsPort: number;
  /** The credentials of an identity in the identities folder (a device id, server.NAME, operator.NAME). */
  credentials(username: string): BrokerCredentials;
  /** Writes the broker's files again (after a revocation, say) and reloads mosquitto (SIGHUP). */
  reconfigure(): Promise<void>;
  stop(): Promise<void>;
}

export interface BrokerFleetOptions {
  /** Devices with a password (default dev-a, dev-b). */
  passwordDevices?: readonly string[];
  /** Devices with a client certificate (default dev-c). */
  certificateDevices?: readonly string[];
  /**
   * Before broker-config runs: more identities, certificates, ...; returns more listeners for mosquitto
   * (their lines, each on a free port after the two TLS ones), e.g. TLS with another certificate.
   */
  prepare?(dir: string): Promise<readonly (readonly string[])[] | void>;
}

export async function startBrokerFleet(options: BrokerFleetOptions = {}): Promise<BrokerFleet> {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-broker-fleet-"));
  const ok = (...args: string[]) => gatehouseOk(dir, ...args);
  await ok("ca", "create", "--out", "ca");
  await ok("ca", "issue", "--ca", "ca", "--name", "broker", "--host", "127.0.0.1", "--host", "localhost", "--out", "tls");
  for (const id of options.passwordDevices ?? ["dev-a", "dev-b"]) await ok("provision", "--id", id, "--out", "identities", "--ca", "ca");
  for (const id of options.certificateDevices ?? ["dev-c"]) await ok("provision", "--id", id, "--out", "identities", "--broker-auth", "certificate", "--ca", "ca");
  await ok("provision", "--role", "server", "--id", "main", "--out", "identities", "--ca", "ca");
  await ok("provision", "--role", "operator", "--id", "alice", "--out", "identities", "--ca", "ca");
  const more = (await options.prepare?.(dir)) ?? [];
  const configure = () => ok("broker-config", "--identities", "identities", "--out", "broker", "--ca", "ca", "--tls-cert", "tls/broker.pem", "--tls-key", "tls/broker-key.pem");
  await configure();
  const tls = { certfile: join(dir, "tls/broker.pem"), keyfile: join(dir, "tls/broker-key.pem"), cafile: join(dir, "broker/ca.pem"), crlfile: join(dir, "broker/crl.pem") };
  const broker = await startMosquitto({
    allowAnonymous: false,
    extraConfig: mosquittoSecurityLines({ passwordFile: join(dir, "broker/passwd"), aclFile: join(dir, "broker/acl") }),
    everyListener: mosquittoListenerLines(),
    listeners: [mosquittoTlsLines(tls), mosquittoTlsLines(tls, { clientCertificates: true }), ...more],
  });
  return {
    dir,
    identities: join(dir, "identities"),
    caDir: join(dir, "ca"),
    broker,
    plainUrl: broker.url,
    passwordTlsPort: broker.listenerPorts[0],
    certificateTlsPort: broker.listenerPorts[1],
    credentials: (username) => readBrokerCredentials(join(dir, "identities", username)),
    async reconfigure() {
      await configure();
      await broker.reload();
    },
    stop: () => broker.stop(),
  };
}

/**
 * In a fleet folder (from `prepare`): a broker certificate that expired a year ago, one for another host
 * name (broker.example.com), and another CA (other-ca/); returns mosquitto listeners serving the two
 * certificates (the fleet's listenerPorts[2] and [3]).
 */
export async function badCertificates(dir: string): Promise<string[][]> {
  const { issueCertificate, readCaCert } = await import("../../host/broker/ca");
  const { writeFileSync } = await import("node:fs");
  const expired = await issueCertificate(join(dir, "ca"), { commonName: "expired", purpose: "server", hosts: ["127.0.0.1", "localhost"], notBefore: new Date(Date.now() - 2 * 365 * 86_400_000), notAfter: new Date(Date.now() - 365 * 86_400_000) });
  writeFileSync(join(dir, "tls/expired.pem"), expired.cert + readCaCert(join(dir, "ca")));
  writeFileSync(join(dir, "tls/expired-key.pem"), expired.key, { mode: 0o600 });
  await gatehouseOk(dir, "ca", "issue", "--ca", "ca", "--name", "elsewhere", "--host", "broker.example.com", "--out", "tls");
  await gatehouseOk(dir, "ca", "create", "--out", "other-ca", "--name", "Another CA");
  return [
    [`certfile ${join(dir, "tls/expired.pem")}`, `keyfile ${join(dir, "tls/expired-key.pem")}`, "tls_version tlsv1.2"],
    [`certfile ${join(dir, "tls/elsewhere.pem")}`, `keyfile ${join(dir, "tls/elsewhere-key.pem")}`, "tls_version tlsv1.2"],
  ];
}
