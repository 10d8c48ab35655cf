// mosquitto's configuration for a fleet, made from the broker identities (identities.ts) and the one rules
// table (rules.ts): the password file (mosquitto's own hash format, made by mosquitto_passwd), the ACL
// file, and the configuration lines that use them, with TLS listeners when the broker has a certificate.
// `gatehouse broker-config` writes them; the tests run mosquitto from the same lines. Host side only.
//
// How mosquitto applies them (2.0): a client must log in (allow_anonymous false) with a username and
// password from the password file, or, on the certificate listener, with a client certificate from the CA
// whose common name becomes its username (use_identity_as_username; revoked ones are in crlfile). Its
// client id is its username (use_username_as_clientid), so no client can take another's session. Each
// username then has exactly the topics the ACL file lists for it: a publication elsewhere is dropped, a
// subscription elsewhere refused, and a message is delivered only where the receiver may read. SIGHUP
// reloads the password file, the ACL file and the revocation list.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fail } from "../../sdk/errors";
import { writeFileSafely } from "../files";
import type { BrokerIdentity } from "./identities";
import { DEFAULT_TOPIC_PREFIX, permissions } from "./rules";
import { runTool, withPrivateTemp } from "./tools";

/** Identities that may connect (not revoked), in username order. */
export function activeIdentities(identities: readonly BrokerIdentity[]): BrokerIdentity[] {
  return identities.filter((i) => !i.revoked).sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0));
}

/** The ACL file: for each identity that may connect, its topics, from the rules table. */
export function mosquittoAcl(identities: readonly BrokerIdentity[], prefix = DEFAULT_TOPIC_PREFIX): string {
  const lines = [
    "# mosquitto ACL file for a Gatehouse fleet, made by `gatehouse broker-config` from the rules table",
    "# (host/broker/rules.ts, docs/broker.md). Do not edit: run broker-config again, then reload mosquitto.",
    "# A username not listed here (anonymous clients too) may publish and subscribe nowhere.",
  ];
  for (const identity of activeIdentities(identities)) {
    const p = permissions(identity.role, identity.name, prefix);
    lines.push("", `# ${identity.role} ${identity.name}`, `user ${identity.username}`);
    for (const topic of p.publish) lines.push(`topic write ${topic}`);
    for (const topic of p.subscribe) lines.push(`topic read ${topic}`);
  }
  return lines.join("\n") + "\n";
}

/**
 * The password file: `username:hash` for every identity with a password, hashed by mosquitto_passwd (its
 * own PBKDF2-SHA512 format). The plain passwords go to it in a private temporary file, never on its
 * command line.
 */
export async function mosquittoPasswordFile(identities: readonly BrokerIdentity[]): Promise<string> {
  const withPassword = activeIdentities(identities).filter((i) => i.password !== undefined);
  if (withPassword.length === 0) return "";
  return withPrivateTemp(async (tmp) => {
    const file = join(tmp, "passwd");
    writeFileSafely(file, new TextEncoder().encode(withPassword.map((i) => `${i.username}:${i.password}`).join("\n") + "\n"), { mode: 0o600 });
    await runTool("mosquitto_passwd", ["-U", file]);
    const hashed = readFileSync(file, "utf8");
    const lines = hashed.split("\n").filter(Boolean);
    // mosquitto_passwd rewrites the file in place; every line must now be a hash, never a password.
    if (lines.length !== withPassword.length || lines.some((line, i) => !line.startsWith(`${withPassword[i].username}:$`) || line.includes(withPassword[i].password!))) {
      fail("tool-failed", "mosquitto_passwd -U did not hash every password");
    }
    return lines.join("\n") + "\n";
  });
}

export interface TlsFiles {
  /** The broker's certificate and key (PEM). */
  readonly certfile: string;
  readonly keyfile: string;
  /** The CA whose certificates clients present (certificate authentication), and its revocation list. */
  readonly cafile?: string;
  readonly crlfile?: string;
}

export interface SecurityFiles {
  readonly passwordFile: string;
  readonly aclFile: string;
  /**
   * Let clients choose their own client ids (default false: mosquitto replaces every client id with the
   * username). With free client ids one identity may hold several connections at once (an operator's
   * `send` beside its `events --follow`), but any client can take another's session over by connecting
   * with its client id: the rules keep the intruder from reading what is queued there, and mosquitto then
   * drops it, so the device loses the commands that waited for it.
   */
  readonly freeClientIds?: boolean;
}

/** The global lines (before any listener): no anonymous client, the password and ACL files. */
export function mosquittoSecurityLines(files: Pick<SecurityFiles, "passwordFile" | "aclFile">): string[] {
  return ["per_listener_settings false", "allow_anonymous false", `password_file ${files.passwordFile}`, `acl_file ${files.aclFile}`];
}

/**
 * The lines every listener takes (after its `listener PORT` line): client ids bound to usernames. A
 * listener setting: given before any listener, mosquitto would apply it to a default listener on port 1883
 * that it then opens as well, without TLS.
 */
export function mosquittoListenerLines(options: { freeClientIds?: boolean } = {}): string[] {
  return options.freeClientIds ? [] : ["use_username_as_clientid true"];
}

/**
 * A TLS listener's lines (after its `listener PORT` line): with `clientCertificates`, a client must present
 * a certificate from `cafile` (not in `crlfile`), and its common name is its username; otherwise clients
 * log in with their password over TLS. TLS 1.2 at least: Moddable's TLS speaks 1.2.
 */
export function mosquittoTlsLines(tls: TlsFiles, options: { clientCertificates?: boolean } = {}): string[] {
  const lines = [`certfile ${tls.certfile}`, `keyfile ${tls.keyfile}`, "tls_version tlsv1.2"];
  if (options.clientCertificates) {
    if (!tls.cafile) fail("usage", "certificate authentication needs the CA (--ca)");
    lines.push(`cafile ${tls.cafile}`, "require_certificate true", "use_identity_as_username true");
    if (tls.crlfile) lines.push(`crlfile ${tls.crlfile}`);
  }
  return lines;
}

export interface MosquittoConfigOptions extends SecurityFiles {
  /** Without TLS files: one plain listener (passwords then cross the network in clear text). */
  readonly tls?: TlsFiles;
  /** Password listener (default 8883 with TLS, 1883 without). */
  readonly port?: number;
  /** Certificate listener (default 8884; only with TLS and a CA). */
  readonly certificatePort?: number;
}

/** A whole mosquitto.conf for the fleet (or to include from one). */
export function mosquittoConfig(o: MosquittoConfigOptions): string {
  const lines = [
    "# mosquitto configuration for a Gatehouse fleet, made by `gatehouse broker-config` (docs/broker.md).",
    "# Run `mosquitto -c` with it, or include its lines in your own configuration. Reload with SIGHUP after",
    "# broker-config has written the password and ACL files again (a revocation, a new device).",
    ...(o.freeClientIds
      ? ["# Clients choose their client ids (--free-client-ids): one may take another's session over (docs/broker.md)."]
      : ["# Every client's id is its username: one connection per identity, and no client can take another's session."]),
    ...mosquittoSecurityLines(o),
    "",
  ];
  if (!o.tls) {
    lines.push(
      "# No broker certificate was given: passwords cross the network in clear text. Keep this listener on a",
      "# network you trust, or run broker-config with --tls-cert and --tls-key.",
      `listener ${o.port ?? 1883}`,
      ...mosquittoListenerLines(o),
    );
  } else {
    lines.push("# TLS, clients log in with their broker password.", `listener ${o.port ?? 8883}`, ...mosquittoListenerLines(o), ...mosquittoTlsLines(o.tls), "");
    if (o.tls.cafile) {
      lines.push("# TLS, clients present a certificate from the fleet's CA: its common name is the username.", `listener ${o.certificatePort ?? 8884}`, ...mosquittoListenerLines(o), ...mosquittoTlsLines(o.tls, { clientCertificates: true }));
    }
  }
  return lines.join("\n") + "\n";
}
