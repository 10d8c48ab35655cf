import { join, resolve } from "node:path";
import { out, parseFlags, required, usageError } from "../util";

export const name = "broker-config";
export const summary = "Write mosquitto's password file, ACL file and configuration from the fleet's broker identities";
export const usage = `Usage: gatehouse broker-config --identities DIR --out DIR [--ca DIR] [--tls-cert FILE --tls-key FILE]
                             [--topic-prefix P] [--port N] [--certificate-port N] [--free-client-ids]

Reads every broker identity in the identities folder (devices, servers and operators from 'gatehouse
provision') and writes, in the out folder:
  passwd          mosquitto's password file (hashed by mosquitto_passwd), mode 0600
  acl             mosquitto's ACL file: each username's topics, from the one rules table (docs/broker.md):
                  a device publishes only under gh/<its id>/ and reads only its own commands and updates;
                  the server reads every publication and writes commands; operators write commands and
                  read results, births, deaths and security events
  mosquitto.conf  no anonymous clients, those two files, each client's id replaced by its username (so no
                  client can take another's session over), and the listeners: TLS with passwords on --port
                  (default 8883) and, with --ca, TLS with client certificates on --certificate-port
                  (default 8884); without --tls-cert, one plain listener (passwords in clear text)
  ca.pem, crl.pem with --ca: the CA clients' certificates come from, and a fresh revocation list
Revoked identities get no password and no rules. Run it again after provisioning or revoking, then
reload mosquitto (kill -HUP): a revoked identity can no longer connect. The same rules for EMQX and
HiveMQ: docs/broker.md. Needs mosquitto_passwd (Debian: apt-get install mosquitto).

Options:
  --identities DIR     the identities folder
  --out DIR            where to write (created if missing; files are replaced)
  --ca DIR             the fleet's CA ('gatehouse ca create'): clients may log in with its certificates
  --tls-cert FILE      the broker's certificate ('gatehouse ca issue') and its key
  --tls-key FILE
  --topic-prefix P     topic prefix (default gh)
  --port N             the password listener's port
  --certificate-port N the client-certificate listener's port
  --free-client-ids    let clients choose their client ids: one identity may then hold several
                       connections, but a client can take another's session over (docs/broker.md)
  -h, --help           show this help

Example:
  gatehouse broker-config --identities identities --out broker --ca ca --tls-cert broker/broker.pem --tls-key broker/broker-key.pem
  mosquitto -c broker/mosquitto.conf
`;

function port(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) usageError(`${flag} must be a port number from 1 to 65535`);
  return Number(text);
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags({
    args: argv,
    options: {
      identities: { type: "string" },
      out: { type: "string" },
      ca: { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "topic-prefix": { type: "string" },
      port: { type: "string" },
      "certificate-port": { type: "string" },
      "free-client-ids": { type: "boolean" },
    },
  });
  const identitiesDir = required(values.identities, "--identities");
  const outDir = required(values.out, "--out");
  if ((values["tls-cert"] === undefined) !== (values["tls-key"] === undefined)) usageError("give --tls-cert and --tls-key together");
  if (values["certificate-port"] !== undefined && (values.ca === undefined || values["tls-cert"] === undefined)) usageError("--certificate-port needs --ca and --tls-cert");
  const mainPort = port(values.port, "--port");
  const certificatePort = port(values["certificate-port"], "--certificate-port");

  const { checkTopicPrefix, DEFAULT_TOPIC_PREFIX } = await import("../../broker/rules");
  const prefix = checkTopicPrefix(values["topic-prefix"] ?? DEFAULT_TOPIC_PREFIX);
  const { listBrokerIdentities } = await import("../../broker/identities");
  const { activeIdentities, mosquittoAcl, mosquittoConfig, mosquittoPasswordFile } = await import("../../broker/mosquitto");
  const { readInput, writeOutput } = await import("../util");
  const ca = await import("../../broker/ca");

  const identities = listBrokerIdentities(identitiesDir);
  const active = activeIdentities(identities);
  const caCert = values.ca !== undefined ? ca.readCaCert(values.ca) : undefined;
  // The broker's own certificate and key are read now: a path that does not work fails before anything is written.
  if (values["tls-cert"] !== undefined) {
    readInput(values["tls-cert"]);
    readInput(values["tls-key"] as string);
  }
  const passwd = await mosquittoPasswordFile(identities);
  const crl = values.ca !== undefined ? await ca.writeCrl(values.ca) : undefined;

  const absolute = (file: string) => resolve(outDir, file);
  const encode = (text: string) => new TextEncoder().encode(text);
  writeOutput(join(outDir, "passwd"), encode(passwd), { force: true, mode: 0o600 });
  writeOutput(join(outDir, "acl"), encode(mosquittoAcl(identities, prefix)), { force: true, mode: 0o644 });
  if (caCert !== undefined && crl !== undefined) {
    writeOutput(join(outDir, "ca.pem"), encode(caCert), { force: true, mode: 0o644 });
    writeOutput(join(outDir, "crl.pem"), encode(crl), { force: true, mode: 0o644 });
  }
  const tls =
    values["tls-cert"] !== undefined
      ? {
          certfile: resolve(values["tls-cert"]),
          keyfile: resolve(values["tls-key"] as string),
          ...(caCert !== undefined ? { cafile: absolute("ca.pem"), crlfile: absolute("crl.pem") } : {}),
        }
      : undefined;
  writeOutput(join(outDir, "mosquitto.conf"), encode(mosquittoConfig({ passwordFile: absolute("passwd"), aclFile: absolute("acl"), freeClientIds: values["free-client-ids"] === true, tls, port: mainPort, certificatePort })), { force: true, mode: 0o644 });

  const count = (role: string) => active.filter((i) => i.role === role).length;
  const revoked = identities.length - active.length;
  out(`broker configuration for ${active.length} identit${active.length === 1 ? "y" : "ies"} (${count("device")} device(s), ${count("server")} server(s), ${count("operator")} operator(s)${revoked ? `; ${revoked} revoked, left out` : ""}) in ${outDir}:`);
  out(`  ${join(outDir, "passwd")}  password hashes (mosquitto_passwd), mode 0600`);
  out(`  ${join(outDir, "acl")}  each username's topics under ${prefix}/, from the rules table`);
  out(`  ${join(outDir, "mosquitto.conf")}  ${tls ? `TLS listeners (passwords on ${mainPort ?? 8883}${caCert ? `, client certificates on ${certificatePort ?? 8884}` : ""})` : `a plain listener on ${mainPort ?? 1883} (no --tls-cert: passwords in clear text)`}`);
  if (caCert) out(`  ${join(outDir, "ca.pem")}, crl.pem  the CA and its revocation list`);
  out("start: mosquitto -c " + join(outDir, "mosquitto.conf") + "   reload after a change: kill -HUP <mosquitto's pid>");
  return 0;
}
