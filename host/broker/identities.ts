// Broker identities on disk: who may connect to the broker, as what, with which secret. Every device,
// the fleet server and each operator has one (rules.ts says what each role may do). They live in the
// identities folder beside the devices' keys, one folder per identity, named by its broker username:
//
//   DIR/<device id>/          a device: its username is its id (the folder also holds device.key, ...)
//   DIR/server.<name>/        a fleet server
//   DIR/operator.<name>/      an operator
//
// Device ids never contain ".", so the three kinds of names never meet: no device can be called
// "server.main", and no server or operator username is a device's MQTT client id.
//
// The files of an identity (written with the guarantees of host/files.ts: fresh O_EXCL temporary files
// renamed into place, never through a symlink, private folders 0700):
//   broker-user        the username
//   broker-password    a random password (32 bytes, base64url), mode 0600: password authentication
//   broker-cert.pem    a client certificate from the fleet's CA (common name = the username), and
//   broker-key.pem     its private key, mode 0600: certificate authentication
//   broker-ca.pem      the CA the broker's own certificate must chain to (mqtts: the client checks it)
//   *.der              the same certificates and key as DER, for a Moddable build (config brokerca=HEX, ...)
//   broker-revoked     written by `gatehouse provision --revoke`: when, and the certificate's serial
//
// Error codes: identity-invalid (a name that is no username, parts that do not fit, a revoked identity
// used to connect), file-exists, file.

import { createHash, randomBytes, timingSafeEqual, X509Certificate } from "node:crypto";
import { readdirSync, unlinkSync } from "node:fs";
import { basename, join } from "node:path";
import { fail } from "../../sdk/errors";
import { isDeviceId } from "../identity-files";
import { nameTaken, privateFolder, readFileBounded, systemMessage, writeFileSafely } from "../files";
import { certificateDer, privateKeyDer } from "./ca";
import type { BrokerRole } from "./rules";

export const BROKER_USER_FILE = "broker-user";
export const BROKER_PASSWORD_FILE = "broker-password";
export const BROKER_CA_FILE = "broker-ca.pem";
export const BROKER_CA_DER_FILE = "broker-ca.der";
export const BROKER_CERT_FILE = "broker-cert.pem";
export const BROKER_CERT_DER_FILE = "broker-cert.der";
export const BROKER_KEY_FILE = "broker-key.pem";
export const BROKER_KEY_DER_FILE = "broker-key.der";
export const BROKER_REVOKED_FILE = "broker-revoked";

/** The secret files of an identity: removed on revocation. */
const SECRET_FILES = [BROKER_PASSWORD_FILE, BROKER_CERT_FILE, BROKER_CERT_DER_FILE, BROKER_KEY_FILE, BROKER_KEY_DER_FILE];

/** What a client needs to reach the broker as one identity (PEM texts). */
export interface BrokerCredentials {
  readonly username: string;
  readonly password?: string;
  /** The CA the broker's certificate must chain to (mqtts). */
  readonly ca?: string;
  /** A client certificate and its private key. */
  readonly cert?: string;
  readonly key?: string;
}

/** A broker identity as the broker set-up sees it (broker-config, the embedded broker). */
export interface BrokerIdentity {
  readonly username: string;
  readonly role: BrokerRole;
  /** The device id, or the server's or operator's name. */
  readonly name: string;
  readonly dir: string;
  readonly password?: string;
  /** Serial of its client certificate (upper-case hex). */
  readonly certificateSerial?: string;
  /** Revoked: it may not connect, and gets no rules. */
  readonly revoked: boolean;
}

const NAME = /^[a-z0-9-]{1,32}$/;
const MAX_FILE = 64 * 1024;

/** The username of an identity: a device's id, or server.<name> / operator.<name>. */
export function brokerUsername(role: BrokerRole, name: string): string {
  if (!NAME.test(name)) fail("identity-invalid", `${role} name ${JSON.stringify(name)} must be 1 to 32 of a-z, 0-9 and "-"`);
  return role === "device" ? name : `${role}.${name}`;
}

/** The role and name a username stands for; undefined for anything that is not one. */
export function parseBrokerUsername(username: string): { role: BrokerRole; name: string } | undefined {
  if (isDeviceId(username)) return { role: "device", name: username };
  const dot = username.indexOf(".");
  const role = username.slice(0, dot);
  const name = username.slice(dot + 1);
  if ((role === "server" || role === "operator") && NAME.test(name)) return { role, name };
  return undefined;
}

/** A fresh password: 32 random bytes as base64url (43 characters, safe in a config line and an mcconfig argument). */
export function generatePassword(): string {
  return randomBytes(32).toString("base64url");
}

/** Whether `given` is `expected`, in time that does not depend on where they differ. */
export function passwordMatches(expected: string, given: Uint8Array | string): boolean {
  const digest = (value: Uint8Array | string) => createHash("sha256").update(value).digest();
  return timingSafeEqual(digest(expected), digest(given));
}

function text(value: string): Uint8Array {
  return new TextEncoder().encode(value.endsWith("\n") ? value : `${value}\n`);
}

function readText(path: string): string {
  return new TextDecoder().decode(readFileBounded(path, { maxBytes: MAX_FILE, noFollow: true, code: "identity-invalid" }));
}

function remove(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") fail("file", `cannot remove ${path}: ${systemMessage(e)}`);
  }
}

export interface BrokerSecrets {
  /** Password authentication. */
  password?: string;
  /** Certificate authentication: a certificate whose common name is the username, and its key. */
  certificate?: { cert: string; key: string };
  /** The CA that signed the broker's certificate, for mqtts. */
  ca?: string;
}

/**
 * Writes the broker identity `username` into `dir` (created private when missing): its username and the
 * secrets given. Secrets of another kind left from before are removed, and so is a revocation: this is
 * how an identity is (re)issued. An existing identity is refused (file-exists) unless `force`.
 */
export function writeBrokerIdentity(dir: string, username: string, secrets: BrokerSecrets, options: { force?: boolean } = {}): void {
  if (!parseBrokerUsername(username)) fail("identity-invalid", `${JSON.stringify(username)} is not a broker username`);
  if (basename(dir) !== username) fail("identity-invalid", `the folder of broker identity ${username} must be named ${username}, not ${basename(dir)}`);
  if (!secrets.password && !secrets.certificate) fail("identity-invalid", `broker identity ${username} needs a password or a certificate`);
  if (!options.force && nameTaken(join(dir, BROKER_USER_FILE))) fail("file-exists", `${join(dir, BROKER_USER_FILE)} already exists (use --force to replace it)`);
  privateFolder(dir);
  for (const file of [...SECRET_FILES, BROKER_CA_FILE, BROKER_CA_DER_FILE]) remove(join(dir, file));
  const write = (file: string, data: Uint8Array, mode: number) => writeFileSafely(join(dir, file), data, { replace: true, mode });
  if (secrets.password) write(BROKER_PASSWORD_FILE, text(secrets.password), 0o600);
  if (secrets.certificate) {
    write(BROKER_KEY_FILE, text(secrets.certificate.key), 0o600);
    write(BROKER_KEY_DER_FILE, privateKeyDer(secrets.certificate.key), 0o600);
    write(BROKER_CERT_FILE, text(secrets.certificate.cert), 0o644);
    write(BROKER_CERT_DER_FILE, certificateDer(secrets.certificate.cert), 0o644);
  }
  if (secrets.ca) {
    write(BROKER_CA_FILE, text(secrets.ca), 0o644);
    write(BROKER_CA_DER_FILE, certificateDer(secrets.ca), 0o644);
  }
  // The username last: an identity is complete once it names itself.
  remove(join(dir, BROKER_REVOKED_FILE));
  write(BROKER_USER_FILE, text(username), 0o644);
}

function optional(path: string): string | undefined {
  return nameTaken(path) ? readText(path) : undefined;
}

/** The identity in `dir` as the broker set-up sees it; undefined when `dir` holds none. */
export function readBrokerIdentity(dir: string): BrokerIdentity | undefined {
  const revokedText = optional(join(dir, BROKER_REVOKED_FILE));
  const userText = optional(join(dir, BROKER_USER_FILE));
  if (userText === undefined && revokedText === undefined) return undefined;
  const username = userText?.trim() ?? basename(dir);
  const parsed = parseBrokerUsername(username);
  if (!parsed) fail("identity-invalid", `${join(dir, BROKER_USER_FILE)} names ${JSON.stringify(username)}, which is not a broker username`);
  if (username !== basename(dir)) fail("identity-invalid", `${join(dir, BROKER_USER_FILE)} names ${username}, but its folder is ${basename(dir)}`);
  const base = { username, role: parsed.role, name: parsed.name, dir };
  if (revokedText !== undefined) return { ...base, revoked: true };
  const password = optional(join(dir, BROKER_PASSWORD_FILE))?.trim();
  const cert = optional(join(dir, BROKER_CERT_FILE));
  if (!password && !cert) fail("identity-invalid", `${dir} holds broker identity ${username} without a password or certificate`);
  let certificateSerial: string | undefined;
  if (cert) {
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(cert);
    } catch (e) {
      return fail("identity-invalid", `${join(dir, BROKER_CERT_FILE)} is not a PEM certificate (${(e as Error).message})`);
    }
    if (commonName(x509) !== username) {
      fail("identity-invalid", `${join(dir, BROKER_CERT_FILE)} is not a certificate for ${username} (its subject is ${x509.subject.replace(/\n/g, ", ")})`);
    }
    certificateSerial = x509.serialNumber.toUpperCase();
  }
  return { ...base, revoked: false, ...(password ? { password } : {}), ...(certificateSerial ? { certificateSerial } : {}) };
}

/** The common name in a certificate's subject (node:crypto writes the subject one attribute a line). */
function commonName(x509: X509Certificate): string | undefined {
  return /(?:^|\n)CN=([^\n]*)/.exec(x509.subject)?.[1];
}

/** Every broker identity in the identities folder `dir` (devices, servers, operators, revoked ones too), by username. */
export function listBrokerIdentities(dir: string): BrokerIdentity[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (e) {
    return fail("identities", `cannot read identities folder ${dir}: ${systemMessage(e)}`);
  }
  const found: BrokerIdentity[] = [];
  for (const name of names) {
    if (!parseBrokerUsername(name)) continue;
    const identity = readBrokerIdentity(join(dir, name));
    if (identity) found.push(identity);
  }
  return found;
}

/**
 * Gives each of `usernames` a password identity in the identities folder `dir` unless it has a usable one
 * (the demo's zero-set-up broker: its devices, server and operators). Returns the usernames made now.
 */
export function ensurePasswordIdentities(dir: string, usernames: readonly string[]): string[] {
  const made: string[] = [];
  for (const username of usernames) {
    const identityDir = join(dir, username);
    const identity = readBrokerIdentity(identityDir);
    if (identity && !identity.revoked && identity.password !== undefined) continue;
    writeBrokerIdentity(identityDir, username, { password: generatePassword() }, { force: true });
    made.push(username);
  }
  return made;
}

/**
 * The credentials in `dir` when it holds a broker identity that may connect; undefined when it holds none
 * or a revoked one (a client then connects without, and a broker with rules refuses it).
 */
export function brokerCredentialsIfAny(dir: string): BrokerCredentials | undefined {
  const identity = readBrokerIdentity(dir);
  return identity && !identity.revoked ? readBrokerCredentials(dir) : undefined;
}

/** What a client reads to connect as the identity in `dir`. A revoked identity is refused (identity-invalid). */
export function readBrokerCredentials(dir: string): BrokerCredentials {
  const identity = readBrokerIdentity(dir);
  if (!identity) fail("identity-invalid", `${dir} holds no broker identity (no ${BROKER_USER_FILE}: gatehouse provision writes one)`);
  if (identity.revoked) fail("identity-invalid", `broker identity ${identity.username} in ${dir} is revoked`);
  const cert = optional(join(dir, BROKER_CERT_FILE));
  const key = optional(join(dir, BROKER_KEY_FILE));
  if ((cert === undefined) !== (key === undefined)) fail("identity-invalid", `${dir} has ${cert ? BROKER_CERT_FILE : BROKER_KEY_FILE} without ${cert ? BROKER_KEY_FILE : BROKER_CERT_FILE}`);
  const ca = optional(join(dir, BROKER_CA_FILE));
  return {
    username: identity.username,
    ...(identity.password ? { password: identity.password } : {}),
    ...(ca ? { ca } : {}),
    ...(cert && key ? { cert, key } : {}),
  };
}

/**
 * Revokes the identity in `dir`: its secrets are deleted and broker-revoked records when (and the
 * certificate's serial, which the caller revokes at the CA). Returns that serial, if it had a certificate.
 */
export function revokeBrokerIdentity(dir: string): { username: string; certificateSerial?: string; already: boolean } {
  const identity = readBrokerIdentity(dir);
  if (!identity) fail("identity-invalid", `${dir} holds no broker identity`);
  if (identity.revoked) return { username: identity.username, already: true };
  const record = [`revoked ${new Date().toISOString()}`, ...(identity.certificateSerial ? [`certificate ${identity.certificateSerial}`] : [])].join("\n");
  writeFileSafely(join(dir, BROKER_REVOKED_FILE), text(record), { replace: true, mode: 0o644 });
  for (const file of SECRET_FILES) remove(join(dir, file));
  return { username: identity.username, ...(identity.certificateSerial ? { certificateSerial: identity.certificateSerial } : {}), already: false };
}

/** The serial recorded in a revoked identity's broker-revoked, if it had a certificate. */
export function revokedSerial(dir: string): string | undefined {
  const record = optional(join(dir, BROKER_REVOKED_FILE));
  return record ? /^certificate ([0-9A-F]+)$/m.exec(record)?.[1] : undefined;
}

/** Node TLS options for an identity: the CA that must have signed the broker's certificate, and its client certificate. */
export function tlsOptions(credentials: BrokerCredentials): { ca?: string; cert?: string; key?: string } {
  return {
    ...(credentials.ca !== undefined ? { ca: credentials.ca } : {}),
    ...(credentials.cert !== undefined && credentials.key !== undefined ? { cert: credentials.cert, key: credentials.key } : {}),
  };
}
