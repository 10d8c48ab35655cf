import { join } from "node:path";
import { toHex } from "../../../sdk/bytes";
import { isRole, ROLES, type Role } from "../../../sdk/doors/access";
import { TrustList } from "../../../sdk/trust";
import type { CoseKey, SignatureAlgorithm } from "../../../sdk/cose/key";
import { checkDeviceId, DEVICE_KEY_FILE, DEVICE_PUB_FILE, generateDeviceKey, isDeviceId, TRUST_FILE, UPDATE_TRUST_FILE, writeIdentity } from "../../identity-files";
import { encodeTrustDocument, type UpdateTrustDocument } from "../../../sdk/update/trust";
import { MAX_UPDATE_KEYS } from "../../../sdk/suit/trust";
import { publicKey } from "../../../sdk/cose/key";
import { fail } from "../../../sdk/errors";
import { nameTaken } from "../../files";
import { note, out, parseFlags, readKeyFile, required, usageError } from "../util";

export const name = "provision";
export const summary = "Create a device identity (its key pair, the operators and update keys it trusts, its broker login), or a server's or operator's broker login";
export const usage = `Usage: gatehouse provision --id ID --out DIR [--operator FILE.pub:ROLE]... [--alg ES256|EdDSA] [--force]
                           [--update-key FILE.pub]... [--update-threshold K]
                           [--broker-auth password|certificate|none] [--ca DIR] [--key-type ec|rsa]
       gatehouse provision --role server|operator --id NAME --out DIR [--broker-auth ...] [--ca DIR] [--force]
       gatehouse provision --id ID --out DIR --broker-only [--broker-auth ...] [--ca DIR]
       gatehouse provision --revoke NAME --out DIR [--ca DIR]

Generates the device's key pair and writes its identity to DIR/ID/:
  device.key  the device's private COSE_Key, mode 0600: it signs everything the device publishes.
              Flash it onto the device and keep no other copy you do not need.
  device.pub  its public COSE_Key (kid = the device id): give it to the fleet server.
  trust.cbor  the trust list: the operator keys the device accepts commands from, with their roles.
              The device trusts nothing else.
  update-trust.cbor  with --update-key: the update trust, apart from the command trust: the update
              keys, how many of them must sign an update (k of n), sequence 0 and minimum security
              epoch 0. Signed trust updates ('gatehouse update trust') change it later. Without it the
              device refuses every update.
and its broker identity (docs/broker.md): the username is the device id, and
  broker-password  a random password, mode 0600 (--broker-auth password, the default), or
  broker-cert.pem  a client certificate from the CA in --ca, and broker-key.pem (mode 0600)
                   (--broker-auth certificate; .der copies for a Moddable build)
  broker-ca.pem    with --ca: the CA the broker's certificate must chain to (mqtts)
The broker lets each identity publish and subscribe only where its role allows: run
'gatehouse broker-config' to make the broker's password and ACL files from DIR.

The fleet server and each operator get broker identities too (--role server|operator): DIR/server.NAME/ and
DIR/operator.NAME/, with the same broker files and no device keys. Give each the folder as
--broker-identity to 'gatehouse server', 'send', 'events' and 'sim'.

--revoke NAME deletes the broker secrets of DIR/NAME (a device id, server.NAME or operator.NAME), records the
revocation, and revokes its certificate at the CA (--ca). Run broker-config again and reload the broker:
the identity can no longer connect.

Options:
  --id ID                   device id: 1 to 32 of a-z, 0-9 and '-' (with --role: the server's or
                            operator's name, the same characters)
  --out DIR                 identities folder (created if missing); the device gets DIR/ID/
  --operator FILE.pub:ROLE  trust the operator key in FILE (a COSE_Key, e.g. from 'gatehouse keygen')
                            with ROLE: view, operate, manage or administer (each includes the ones
                            before it). Repeat for more operators.
  --alg ES256|EdDSA         the device's signature algorithm (default ES256: what stock Moddable
                            verifies natively, and what the device signs with)
  --update-key FILE.pub     an update key (a public COSE_Key): updates must be signed by
                            --update-threshold of them. Repeat for more (at most ${MAX_UPDATE_KEYS}).
  --update-threshold K      how many distinct update keys must sign an update (default 1; 1 to the
                            number of --update-key)
  --role ROLE               device (default), server or operator
  --broker-auth KIND        how the identity logs in to the broker: password (default), certificate
                            (needs --ca) or none (no broker identity)
  --ca DIR                  the fleet's CA ('gatehouse ca create'): its certificate goes into the
                            identity for mqtts, and it issues client certificates
  --key-type ec|rsa         key of a client certificate (default ec, P-256; Moddable's TLS signs
                            with RSA only: use rsa for a certificate a Moddable device presents)
  --broker-only             (re)issue only the broker identity of an existing device
  --revoke NAME             revoke the broker identity DIR/NAME
  --force                   replace an existing identity
  -h, --help                show this help

Example:
  gatehouse keygen --alg ES256 --kid admin --out keys
  gatehouse provision --id thermo-1 --out identities --operator keys/admin.pub:administer \\
      --update-key keys/rel-1.pub --update-key keys/rel-2.pub --update-key keys/rel-3.pub --update-threshold 2
  gatehouse provision --role server --id main --out identities
  gatehouse provision --role operator --id alice --out identities
  gatehouse broker-config --identities identities --out broker
`;

interface OperatorSpec {
  path: string;
  role: Role;
}

/** FILE:ROLE, split at the last ':' (a path may contain one, a role never does). */
export function parseOperator(spec: string): OperatorSpec {
  const colon = spec.lastIndexOf(":");
  if (colon <= 0 || colon === spec.length - 1) usageError(`--operator ${JSON.stringify(spec)} must be FILE:ROLE, e.g. keys/admin.pub:administer`);
  const path = spec.slice(0, colon);
  const role = spec.slice(colon + 1);
  if (!isRole(role)) usageError(`--operator role ${JSON.stringify(role)} must be one of ${ROLES.join(", ")}`);
  return { path, role };
}

/** A kid for people: its text when it is printable ASCII, else h'hex'. */
export function describeKid(kid: Uint8Array): string {
  let text = "";
  for (const byte of kid) {
    if (byte < 0x20 || byte > 0x7e) return `h'${toHex(kid)}'`;
    text += String.fromCharCode(byte);
  }
  return JSON.stringify(text);
}

type BrokerAuth = "password" | "certificate" | "none";

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags({
    args: argv,
    options: {
      id: { type: "string" },
      out: { type: "string" },
      operator: { type: "string", multiple: true },
      alg: { type: "string" },
      force: { type: "boolean" },
      "update-key": { type: "string", multiple: true },
      "update-threshold": { type: "string" },
      role: { type: "string" },
      "broker-auth": { type: "string" },
      ca: { type: "string" },
      "key-type": { type: "string" },
      "broker-only": { type: "boolean" },
      revoke: { type: "string" },
    },
  });
  const dir = required(values.out, "--out");
  if (dir === "") usageError("--out must name a folder");
  if (values.revoke !== undefined) {
    for (const flag of ["id", "operator", "alg", "force", "role", "broker-auth", "key-type", "broker-only", "update-key", "update-threshold"] as const) {
      if (values[flag] !== undefined) usageError(`--revoke takes only --out and --ca, not --${flag}`);
    }
    return revoke(dir, values.revoke, values.ca);
  }
  const role = values.role ?? "device";
  if (role !== "device" && role !== "server" && role !== "operator") usageError(`--role must be device, server or operator, not ${JSON.stringify(role)}`);
  const id = required(values.id, "--id");
  if (!isDeviceId(id)) usageError(`--id ${JSON.stringify(id)} must be 1 to 32 of a-z, 0-9 and '-'`);
  const auth = (values["broker-auth"] ?? "password") as BrokerAuth;
  if (!["password", "certificate", "none"].includes(auth)) usageError(`--broker-auth must be password, certificate or none, not ${JSON.stringify(auth)}`);
  if (auth === "certificate" && values.ca === undefined) usageError("--broker-auth certificate needs --ca DIR (the CA that issues the certificate)");
  const keyType = values["key-type"] ?? "ec";
  if (keyType !== "ec" && keyType !== "rsa") usageError(`--key-type must be ec or rsa, not ${JSON.stringify(keyType)}`);
  if (values["key-type"] !== undefined && auth !== "certificate") usageError("--key-type goes with --broker-auth certificate");
  if (role !== "device") {
    for (const flag of ["operator", "alg", "broker-only", "update-key", "update-threshold"] as const) if (values[flag] !== undefined) usageError(`--${flag} is for devices, not --role ${role}`);
    if (auth === "none") usageError(`--role ${role} makes only a broker identity: --broker-auth none leaves nothing to make`);
  }
  if (values["broker-only"] && auth === "none") usageError("--broker-only with --broker-auth none leaves nothing to make");
  if (values["broker-only"] && values.operator !== undefined) usageError("--broker-only keeps the device's keys and trust list: no --operator");
  if (values["broker-only"] && values["update-key"] !== undefined) usageError("--broker-only keeps the device's update trust: no --update-key");

  const broker = await import("../../broker/identities");
  const ca = await import("../../broker/ca");
  const username = broker.brokerUsername(role, id);
  const identityDir = join(dir, username);
  const caCert = values.ca !== undefined ? ca.readCaCert(values.ca) : undefined;

  // Every input is checked before anything is written (or any certificate issued): a refusal leaves
  // nothing half done.
  if (role === "device" && !values["broker-only"]) {
    const specs = (values.operator ?? []).map(parseOperator);
    const alg = values.alg ?? "ES256";
    if (alg !== "ES256" && alg !== "EdDSA") usageError(`--alg must be ES256 or EdDSA, not ${JSON.stringify(alg)}`);
    const operators: { key: CoseKey; role: Role; path: string }[] = specs.map((spec) => ({ key: readKeyFile(spec.path, "public"), role: spec.role, path: spec.path }));
    const trust = new TrustList(operators.map(({ key, role }) => ({ key, role })));
    const updateTrust = readUpdateTrust(values["update-key"] ?? [], values["update-threshold"]);
    if (!values.force) {
      for (const file of [DEVICE_KEY_FILE, DEVICE_PUB_FILE, TRUST_FILE, UPDATE_TRUST_FILE, broker.BROKER_USER_FILE]) {
        const path = join(identityDir, file);
        if (nameTaken(path)) fail("file-exists", `${path} already exists (use --force to replace it)`);
      }
    }
    const secrets = auth === "none" ? undefined : await brokerSecrets(auth, username, values.ca, caCert, keyType);
    const key = generateDeviceKey(checkDeviceId(id), alg as SignatureAlgorithm);
    const deviceDir = writeIdentity(dir, { id, key, trust, updateTrust }, { force: values.force === true });
    if (secrets) broker.writeBrokerIdentity(deviceDir, username, secrets, { force: true });

    out(`provisioned device "${id}" in ${deviceDir}`);
    out(`  ${join(deviceDir, "device.key")}  ${alg} private key, mode 0600: flash it onto the device, keep it secret`);
    out(`  ${join(deviceDir, "device.pub")}  public key, kid ${describeKid(key.kid)}: give it to the fleet server`);
    out(`  ${join(deviceDir, "trust.cbor")}  trusts ${operators.length === 1 ? "1 operator" : `${operators.length} operators`}${operators.length ? ":" : ""}`);
    for (const op of operators) out(`    ${describeKid(op.key.kid)} (${op.key.alg}) as ${op.role}, from ${op.path}`);
    if (updateTrust !== undefined) {
      out(`  ${join(deviceDir, UPDATE_TRUST_FILE)}  updates need ${updateTrust.threshold} of ${updateTrust.keys.length} update key${updateTrust.keys.length === 1 ? "" : "s"}: ${updateTrust.keys.map((k) => describeKid(k.kid)).join(", ")}`);
    }
    if (secrets) describeBroker(deviceDir, username, secrets, true);
    if (operators.length === 0) note(`note: ${id} trusts no operator, so it will refuse every command (add --operator FILE.pub:ROLE)`);
    if (updateTrust === undefined) note(`note: ${id} has no update keys, so it will refuse every update (add --update-key FILE.pub)`);
    return 0;
  }

  if (role === "device") {
    // --broker-only: the device must exist; its keys and trust list stay as they are.
    if (!nameTaken(join(identityDir, DEVICE_KEY_FILE))) usageError(`--broker-only: ${identityDir} holds no device identity (provision it first)`);
  } else if (!values.force && nameTaken(join(identityDir, broker.BROKER_USER_FILE))) {
    fail("file-exists", `${join(identityDir, broker.BROKER_USER_FILE)} already exists (use --force to replace it)`);
  }
  const secrets = await brokerSecrets(auth, username, values.ca, caCert, keyType);
  broker.writeBrokerIdentity(identityDir, username, secrets, { force: true });
  out(`provisioned the broker identity of ${role} "${id}" in ${identityDir}`);
  describeBroker(identityDir, username, secrets, role === "device");
  return 0;
}

/** The broker secrets of a new identity: a password, or a certificate from the CA; and the CA for mqtts. */
async function brokerSecrets(auth: BrokerAuth, username: string, caDir: string | undefined, caCert: string | undefined, keyType: "ec" | "rsa") {
  const { generatePassword } = await import("../../broker/identities");
  if (auth === "password") return { password: generatePassword(), ...(caCert ? { ca: caCert } : {}) };
  const { issueCertificate } = await import("../../broker/ca");
  const issued = await issueCertificate(caDir as string, { commonName: username, purpose: "client", keyType });
  return { certificate: { cert: issued.cert, key: issued.key }, ca: caCert };
}

function describeBroker(dir: string, username: string, secrets: { password?: string; certificate?: object; ca?: string }, device: boolean): void {
  out(`  broker identity: username ${username}`);
  if (secrets.password) out(`  ${join(dir, "broker-password")}  its broker password, mode 0600`);
  if (secrets.certificate) out(`  ${join(dir, "broker-cert.pem")}, broker-key.pem (mode 0600)  its client certificate (CN=${username}) and key`);
  if (secrets.ca) out(`  ${join(dir, "broker-ca.pem")}  the CA the broker's certificate must chain to (mqtts)`);
  if (device) {
    const keys = secrets.password ? `brokeruser=${username} brokerpassword=$(cat ${join(dir, "broker-password")})` : `brokercert=$(xxd -p -c0 ${join(dir, "broker-cert.der")}) brokerclientkey=$(xxd -p -c0 ${join(dir, "broker-key.der")})`;
    out(`  for a Moddable build: ${keys}${secrets.ca ? ` brokerca=$(xxd -p -c0 ${join(dir, "broker-ca.der")})` : ""}`);
  }
}

async function revoke(dir: string, username: string, caDir: string | undefined): Promise<number> {
  const broker = await import("../../broker/identities");
  if (!broker.parseBrokerUsername(username)) usageError(`--revoke ${JSON.stringify(username)} must be a device id, server.NAME or operator.NAME`);
  const identityDir = join(dir, username);
  const identity = broker.readBrokerIdentity(identityDir);
  if (!identity) usageError(`--revoke: ${identityDir} holds no broker identity`);
  const serial = identity.revoked ? broker.revokedSerial(identityDir) : identity.certificateSerial;
  if (serial !== undefined && caDir === undefined) usageError(`${username} has a client certificate: give --ca DIR to revoke it at the CA`);
  const revoked = broker.revokeBrokerIdentity(identityDir);
  if (serial !== undefined) {
    const { revokeCertificate } = await import("../../broker/ca");
    await revokeCertificate(caDir as string, serial);
  }
  out(`${revoked.already ? "already revoked" : "revoked"}: broker identity ${username} (${identityDir})${serial ? `, certificate ${serial} revoked at the CA (${join(caDir as string, "crl.pem")})` : ""}`);
  out(`next: gatehouse broker-config --identities ${dir} --out BROKER_DIR${caDir ? ` --ca ${caDir}` : ""}, then reload the broker (mosquitto: kill -HUP)`);
  return 0;
}

/** The first update trust (seq 0, minimum epoch 0) from --update-key and --update-threshold; none without keys. */
function readUpdateTrust(paths: readonly string[], thresholdText: string | undefined): UpdateTrustDocument | undefined {
  if (paths.length === 0) {
    if (thresholdText !== undefined) usageError("--update-threshold needs --update-key");
    return undefined;
  }
  if (paths.length > MAX_UPDATE_KEYS) usageError(`at most ${MAX_UPDATE_KEYS} --update-key`);
  const threshold = thresholdText === undefined ? 1 : /^[1-9][0-9]*$/.test(thresholdText) ? Number(thresholdText) : NaN;
  if (!(threshold >= 1 && threshold <= paths.length)) usageError(`--update-threshold must be 1 to ${paths.length} (the number of --update-key), not ${JSON.stringify(thresholdText)}`);
  const document: UpdateTrustDocument = { seq: 0, threshold, keys: paths.map((path) => publicKey(readKeyFile(path, "public"))), minEpoch: 0 };
  // Checked now (a key given twice: suit-trust-invalid), before anything is written.
  encodeTrustDocument(document);
  return document;
}
