// A certificate authority for a test or small fleet: `gatehouse ca create` makes one, and it signs the
// broker's server certificate (`gatehouse ca issue`) and the client certificates of devices, the server and
// operators (`gatehouse provision --broker-auth certificate`); `gatehouse provision --revoke` revokes them
// and the revocation list (crl.pem) goes to the broker with `gatehouse broker-config`. A larger fleet uses
// its PKI instead: the broker and clients need only PEM files. Host side only (Node).
//
// The work is done by openssl (node:crypto parses certificates but cannot make them), with `openssl ca`
// keeping the record of what was issued and revoked. What is made, and why:
// - P-256 ECDSA keys and SHA-256 signatures: what Moddable's TLS stack verifies natively, and what the
//   ESP32 can afford (an RSA private-key operation costs seconds there). Client keys may be RSA: Moddable's
//   TLS signs its CertificateVerify only with RSA (certificateVerify in Moddable's ssl_handshake.js).
// - Subject and authority key identifiers on every certificate, the CA's own included (keyid:always):
//   Moddable matches a chain's issuer by them.
// - Server certificates name their host names and addresses as subjectAltName (what TLS clients check);
//   client certificates carry the broker username as their common name (mosquitto's
//   use_identity_as_username takes it from there).
//
// The folder (0700):
//   ca.pem        the CA certificate: brokers and clients verify with it (not secret)
//   ca-key.pem    the CA private key, mode 0600: whoever has it can mint identities. Keep it offline.
//   crl.pem       the revocation list, signed by the CA (made again on every revocation and by
//                 broker-config, so it never passes its next-update time unnoticed)
//   openssl.cnf   the `openssl ca` configuration;  db/  its record of issued (db/certs/) and revoked certificates
//
// Error codes: identity-invalid (a name or host that cannot go in a certificate), file (a missing or
// unreadable CA folder), tool-missing / tool-failed (openssl).

import { X509Certificate, createPrivateKey, randomBytes } from "node:crypto";
import { isIP } from "node:net";
import { join, resolve } from "node:path";
import { fail } from "../../sdk/errors";
import { nameTaken, privateFolder, readFileBounded, writeFileSafely } from "../files";
import { runTool, withPrivateTemp } from "./tools";

export const CA_CERT_FILE = "ca.pem";
export const CA_KEY_FILE = "ca-key.pem";
export const CRL_FILE = "crl.pem";
const CONFIG_FILE = "openssl.cnf";

/** Days a certificate is valid by default: the CA ten years, the others two. */
export const DEFAULT_CA_DAYS = 3650;
export const DEFAULT_CERT_DAYS = 730;
/** Days until a revocation list's next update; broker-config makes a fresh one every time it runs. */
export const CRL_DAYS = 30;

const MAX_PEM = 64 * 1024;
const NAME = /^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/;
const HOST_NAME = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/;

export type KeyType = "ec" | "rsa";
export type Purpose = "server" | "client";

export interface IssueOptions {
  /** The subject's common name: a broker username for a client certificate. Letters, digits, "." and "-". */
  commonName: string;
  purpose: Purpose;
  /** Host names and IP addresses the server certificate is valid for (subjectAltName). */
  hosts?: readonly string[];
  keyType?: KeyType;
  /** Validity in days from now (default DEFAULT_CERT_DAYS), or explicit times (tests make expired ones). */
  days?: number;
  notBefore?: Date;
  notAfter?: Date;
}

export interface IssuedCertificate {
  /** PEM of the certificate. */
  readonly cert: string;
  /** PEM (PKCS#8) of its private key. */
  readonly key: string;
  /** Its serial number, upper-case hex (as `openssl ca` names its copy). */
  readonly serial: string;
}

function checkName(name: string, what: string): string {
  if (!NAME.test(name)) fail("identity-invalid", `${what} ${JSON.stringify(name)} must be 1 to 64 of letters, digits, "." and "-"`);
  return name;
}

/** subjectAltName entries for the hosts: IP:... for addresses, DNS:... for names. */
function altNames(hosts: readonly string[]): string {
  if (hosts.length === 0) fail("identity-invalid", "a server certificate needs at least one host name or address");
  return hosts
    .map((host) => {
      if (isIP(host) !== 0) return `IP:${host}`;
      if (!HOST_NAME.test(host) || host.length > 253) fail("identity-invalid", `${JSON.stringify(host)} is not a host name or IP address`);
      return `DNS:${host}`;
    })
    .join(",");
}

/** openssl ca's time format: YYYYMMDDHHMMSSZ. */
function opensslTime(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, "").replace(/\.\d{3}/, "");
}

function caConfig(dir: string): string {
  const root = resolve(dir);
  // Paths are the CA folder's own; openssl reads them. copy_extensions none: nothing of a request is
  // taken into a certificate unless we put it there.
  return [
    "# The `openssl ca` configuration of a Gatehouse CA (host/broker/ca.ts). Made by gatehouse ca create.",
    "[ca]",
    "default_ca = gatehouse",
    "[gatehouse]",
    `dir = ${root}`,
    "database = $dir/db/index.txt",
    "new_certs_dir = $dir/db/certs",
    "serial = $dir/db/serial",
    "crlnumber = $dir/db/crlnumber",
    "certificate = $dir/ca.pem",
    "private_key = $dir/ca-key.pem",
    "default_md = sha256",
    "default_crl_days = 30",
    "policy = policy_any",
    "unique_subject = no",
    "copy_extensions = none",
    "[policy_any]",
    "commonName = supplied",
    "[req]",
    "distinguished_name = dn",
    "prompt = no",
    "[dn]",
    "CN = unused",
    "[ca_ext]",
    "basicConstraints = critical,CA:true,pathlen:0",
    "keyUsage = critical,keyCertSign,cRLSign",
    "subjectKeyIdentifier = hash",
    "authorityKeyIdentifier = keyid:always",
    "",
  ].join("\n");
}

async function newKey(path: string, type: KeyType): Promise<void> {
  await runTool("openssl", type === "ec" ? ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path] : ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path]);
}

function readPem(path: string): string {
  return new TextDecoder().decode(readFileBounded(path, { maxBytes: MAX_PEM, noFollow: true }));
}

/** Creates a CA in `dir` (refused when one is there already: it would orphan what the old one signed). */
export async function createCa(dir: string, options: { name?: string; days?: number } = {}): Promise<{ cert: string }> {
  const name = options.name ?? "Gatehouse CA";
  if (!/^[A-Za-z0-9][A-Za-z0-9 .-]{0,63}$/.test(name)) fail("identity-invalid", `the CA name ${JSON.stringify(name)} must be 1 to 64 of letters, digits, spaces, "." and "-"`);
  if (nameTaken(join(dir, CA_KEY_FILE)) || nameTaken(join(dir, CA_CERT_FILE))) fail("file-exists", `${dir} already holds a CA`);
  privateFolder(dir);
  privateFolder(join(dir, "db"));
  privateFolder(join(dir, "db", "certs"));
  writeFileSafely(join(dir, CONFIG_FILE), new TextEncoder().encode(caConfig(dir)), { mode: 0o600 });
  writeFileSafely(join(dir, "db", "index.txt"), new Uint8Array(0), { mode: 0o600 });
  // Random 128-bit serials: certificates from two CAs (or a re-created one) never share one.
  writeFileSafely(join(dir, "db", "serial"), new TextEncoder().encode(`${randomBytes(16).toString("hex").replace(/^[89a-f]/, "1").toUpperCase()}\n`), { mode: 0o600 });
  writeFileSafely(join(dir, "db", "crlnumber"), new TextEncoder().encode("1000\n"), { mode: 0o600 });
  await withPrivateTemp(async (tmp) => {
    const key = join(tmp, "ca-key.pem");
    const cert = join(tmp, "ca.pem");
    await newKey(key, "ec");
    await runTool("openssl", ["req", "-x509", "-new", "-key", key, "-subj", `/CN=${name}`, "-days", String(options.days ?? DEFAULT_CA_DAYS), "-config", join(dir, CONFIG_FILE), "-extensions", "ca_ext", "-out", cert]);
    writeFileSafely(join(dir, CA_KEY_FILE), new TextEncoder().encode(readPem(key)), { mode: 0o600 });
    writeFileSafely(join(dir, CA_CERT_FILE), new TextEncoder().encode(readPem(cert)), { mode: 0o644 });
  });
  await writeCrl(dir);
  return { cert: readCaCert(dir) };
}

/** The CA certificate (PEM); fails "file" when `dir` holds no CA. */
export function readCaCert(dir: string): string {
  for (const file of [CA_CERT_FILE, CA_KEY_FILE, CONFIG_FILE]) {
    if (!nameTaken(join(dir, file))) fail("file", `${dir} is not a Gatehouse CA (no ${file}; make one with gatehouse ca create)`);
  }
  return readPem(join(dir, CA_CERT_FILE));
}

/** Issues a certificate and its fresh key pair, signed by the CA in `caDir`. */
export async function issueCertificate(caDir: string, options: IssueOptions): Promise<IssuedCertificate> {
  readCaCert(caDir);
  const cn = checkName(options.commonName, "the common name");
  const keyType = options.keyType ?? "ec";
  const lines = [
    "[ext]",
    "basicConstraints = critical,CA:false",
    `keyUsage = critical,${keyType === "rsa" ? "digitalSignature,keyEncipherment" : "digitalSignature"}`,
    `extendedKeyUsage = ${options.purpose === "server" ? "serverAuth" : "clientAuth"}`,
    "subjectKeyIdentifier = hash",
    "authorityKeyIdentifier = keyid",
  ];
  if (options.purpose === "server") lines.push(`subjectAltName = ${altNames(options.hosts ?? [])}`);
  else if (options.hosts?.length) fail("identity-invalid", "a client certificate names no hosts");
  let validity: string[];
  if (options.notBefore || options.notAfter) {
    const from = options.notBefore ?? new Date();
    const to = options.notAfter ?? new Date(from.getTime() + DEFAULT_CERT_DAYS * 86_400_000);
    if (!(to.getTime() > from.getTime())) fail("usage", "a certificate's validity must end after it begins");
    validity = ["-startdate", opensslTime(from), "-enddate", opensslTime(to)];
  } else {
    const days = options.days ?? DEFAULT_CERT_DAYS;
    if (!Number.isInteger(days) || days < 1 || days > 36500) fail("usage", "days must be a whole number from 1 to 36500");
    validity = ["-days", String(days)];
  }
  return withPrivateTemp(async (tmp) => {
    const key = join(tmp, "key.pem");
    const request = join(tmp, "request.csr");
    const ext = join(tmp, "ext.cnf");
    const cert = join(tmp, "cert.pem");
    await newKey(key, keyType);
    await runTool("openssl", ["req", "-new", "-key", key, "-subj", `/CN=${cn}`, "-config", join(caDir, CONFIG_FILE), "-out", request]);
    writeFileSafely(ext, new TextEncoder().encode(lines.join("\n") + "\n"), { mode: 0o600 });
    await runTool("openssl", ["ca", "-batch", "-notext", "-config", join(caDir, CONFIG_FILE), "-extfile", ext, "-extensions", "ext", ...validity, "-in", request, "-out", cert]);
    const certPem = readPem(cert);
    return { cert: certPem, key: readPem(key), serial: new X509Certificate(certPem).serialNumber.toUpperCase() };
  });
}

/** Revokes the certificate with `serial` (as issued by this CA) and writes a fresh revocation list. */
export async function revokeCertificate(caDir: string, serial: string): Promise<void> {
  readCaCert(caDir);
  if (!/^[0-9A-F]{2,64}$/.test(serial)) fail("identity-invalid", `${JSON.stringify(serial)} is not a certificate serial number`);
  const copy = join(caDir, "db", "certs", `${serial}.pem`);
  if (!nameTaken(copy)) fail("identity-invalid", `the CA in ${caDir} never issued a certificate with serial ${serial}`);
  try {
    await runTool("openssl", ["ca", "-config", join(caDir, CONFIG_FILE), "-revoke", copy]);
  } catch (e) {
    // Revoked before (a revocation repeated after a failure half-way): the list is written again below.
    if (!/already revoked/i.test((e as Error).message)) throw e;
  }
  await writeCrl(caDir);
}

/** Writes the CA's revocation list (crl.pem) afresh, valid CRL_DAYS; returns its PEM. */
export async function writeCrl(caDir: string): Promise<string> {
  await withPrivateTemp(async (tmp) => {
    const out = join(tmp, "crl.pem");
    await runTool("openssl", ["ca", "-config", join(caDir, CONFIG_FILE), "-gencrl", "-crldays", String(CRL_DAYS), "-out", out]);
    writeFileSafely(join(caDir, CRL_FILE), new TextEncoder().encode(readPem(out)), { replace: true, mode: 0o644 });
  });
  return readPem(join(caDir, CRL_FILE));
}

/** DER of a PEM certificate (what Moddable's TLS takes). */
export function certificateDer(pem: string): Uint8Array {
  return new Uint8Array(new X509Certificate(pem).raw);
}

/** PKCS#8 DER of a PEM private key (what Moddable's TLS takes as its client key). */
export function privateKeyDer(pem: string): Uint8Array {
  return new Uint8Array(createPrivateKey(pem).export({ type: "pkcs8", format: "der" }));
}
