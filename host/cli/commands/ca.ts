import { join } from "node:path";
import { fail } from "../../../sdk/errors";
import { out, parseFlags, positionals, required, usageError } from "../util";

export const name = "ca";
export const summary = "A certificate authority for a test or small fleet: the broker's TLS certificate and client certificates";
export const usage = `Usage: gatehouse ca create --out DIR [--name NAME] [--days N]
       gatehouse ca issue --ca DIR --name NAME --host HOST... --out DIR [--days N] [--key-type ec|rsa] [--force]

create  makes a CA in DIR (private, 0700): ca.pem (its certificate: brokers and clients verify with it),
        ca-key.pem (its private key, mode 0600: keep it offline), crl.pem (the revocation list) and
        openssl's record of what it issued. P-256 ECDSA, valid N days (default 3650).
issue   issues a server certificate for the broker: DIR/NAME.pem (the certificate, then the CA's: the
        chain the broker sends, which Moddable's TLS needs whole) and DIR/NAME-key.pem (mode 0600), valid
        for each --host (a host name or IP address: what clients connect to) for N days (default 730).
        Give both to 'gatehouse broker-config --tls-cert DIR/NAME.pem --tls-key DIR/NAME-key.pem'.

Client certificates for devices, the server and operators come from 'gatehouse provision --broker-auth
certificate --ca DIR'; 'gatehouse provision --revoke' revokes them. A larger fleet uses its own PKI: the
broker and the clients need only PEM files. Needs openssl (Debian: apt-get install openssl).

Options:
  --out DIR            where to write
  --ca DIR             the CA (issue)
  --name NAME          the CA's name (create; default "Gatehouse CA") or the certificate's (issue: its
                       common name and file names)
  --host HOST          a host name or IP address the broker's certificate is for (repeatable)
  --days N             validity in days
  --key-type ec|rsa    the certificate's key (default ec: P-256)
  --force              replace existing certificate files (issue)
  -h, --help           show this help

Example:
  gatehouse ca create --out ca
  gatehouse ca issue --ca ca --name broker --host mqtt.example.com --host 192.168.1.10 --out broker-tls
`;

function days(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 36500) usageError("--days must be a whole number from 1 to 36500");
  return Number(text);
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals: rest } = parseFlags({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: "string" },
      ca: { type: "string" },
      name: { type: "string" },
      host: { type: "string", multiple: true },
      days: { type: "string" },
      "key-type": { type: "string" },
      force: { type: "boolean" },
    },
  });
  const [action] = positionals(rest, ["create|issue"]);
  const ca = await import("../../broker/ca");
  if (action === "create") {
    for (const flag of ["ca", "host", "key-type", "force"] as const) if (values[flag] !== undefined) usageError(`ca create takes no --${flag}`);
    const dir = required(values.out, "--out");
    await ca.createCa(dir, { name: values.name, days: days(values.days) });
    out(`created a CA in ${dir}`);
    out(`  ${join(dir, ca.CA_CERT_FILE)}  its certificate: give it to the broker and to every client (mqtts)`);
    out(`  ${join(dir, ca.CA_KEY_FILE)}  its private key, mode 0600: whoever has it can mint identities; keep it offline`);
    out(`  ${join(dir, ca.CRL_FILE)}  its revocation list`);
    return 0;
  }
  if (action !== "issue") usageError(`unknown action ${JSON.stringify(action)}: create or issue`);
  const caDir = required(values.ca, "--ca");
  const dir = required(values.out, "--out");
  const certName = required(values.name, "--name");
  const hosts = values.host ?? [];
  if (hosts.length === 0) usageError("missing --host (the host name or address clients connect to; repeatable)");
  const keyType = values["key-type"] ?? "ec";
  if (keyType !== "ec" && keyType !== "rsa") usageError(`--key-type must be ec or rsa, not ${JSON.stringify(keyType)}`);
  const { exists, writeOutput } = await import("../util");
  const certPath = join(dir, `${certName}.pem`);
  const keyPath = join(dir, `${certName}-key.pem`);
  if (!values.force) {
    for (const path of [certPath, keyPath]) if (exists(path)) fail("file-exists", `${path} already exists (use --force to replace it)`);
  }
  const issued = await ca.issueCertificate(caDir, { commonName: certName, purpose: "server", hosts, days: days(values.days), keyType });
  writeOutput(keyPath, new TextEncoder().encode(issued.key), { force: true, mode: 0o600 });
  // The chain, leaf first: Moddable's TLS verifies the leaf with the next certificate the broker sends.
  const chain = issued.cert.trimEnd() + "\n" + ca.readCaCert(caDir).trimEnd() + "\n";
  writeOutput(certPath, new TextEncoder().encode(chain), { force: true, mode: 0o644 });
  out(`issued a server certificate for ${hosts.join(", ")} (serial ${issued.serial})`);
  out(`  ${certPath}  the certificate`);
  out(`  ${keyPath}  its private key, mode 0600`);
  out(`next: gatehouse broker-config --identities DIR --out BROKER_DIR --ca ${caDir} --tls-cert ${certPath} --tls-key ${keyPath}`);
  return 0;
}
