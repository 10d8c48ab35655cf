import { join } from "node:path";
import { toHex } from "../../../sdk/bytes";
import { isRole, ROLES, type Role } from "../../../sdk/doors/access";
import { TrustList } from "../../../sdk/trust";
import type { CoseKey, SignatureAlgorithm } from "../../../sdk/cose/key";
import { checkDeviceId, generateDeviceKey, isDeviceId, writeIdentity } from "../../identity-files";
import { note, out, parseFlags, readKeyFile, required, usageError } from "../util";

export const name = "provision";
export const summary = "Create a device identity: its key pair and the operators it trusts";
export const usage = `Usage: gatehouse provision --id ID --out DIR [--operator FILE.pub:ROLE]... [--alg ES256|EdDSA] [--force]

Generates the device's key pair and writes its identity to DIR/ID/:
  device.key  the device's private COSE_Key, mode 0600: it signs everything the device publishes.
              Flash it onto the device and keep no other copy you do not need.
  device.pub  its public COSE_Key (kid = the device id): give it to the fleet server.
  trust.cbor  the trust list: the operator keys the device accepts commands from, with their roles.
              The device trusts nothing else.

Options:
  --id ID                   device id: 1 to 32 of a-z, 0-9 and '-'
  --out DIR                 identities folder (created if missing); the device gets DIR/ID/
  --operator FILE.pub:ROLE  trust the operator key in FILE (a COSE_Key, e.g. from 'gatehouse keygen')
                            with ROLE: view, operate, manage or administer (each includes the ones
                            before it). Repeat for more operators.
  --alg ES256|EdDSA         the device's signature algorithm (default ES256: what stock Moddable
                            verifies natively, and what the device signs with)
  --force                   replace an existing identity
  -h, --help                show this help

Example:
  gatehouse keygen --alg ES256 --kid admin --out keys
  gatehouse provision --id thermo-1 --out identities --operator keys/admin.pub:administer
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

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags({
    args: argv,
    options: {
      id: { type: "string" },
      out: { type: "string" },
      operator: { type: "string", multiple: true },
      alg: { type: "string" },
      force: { type: "boolean" },
    },
  });
  const id = required(values.id, "--id");
  if (!isDeviceId(id)) usageError(`--id ${JSON.stringify(id)} must be 1 to 32 of a-z, 0-9 and '-'`);
  const dir = required(values.out, "--out");
  if (dir === "") usageError("--out must name a folder");
  const alg = values.alg ?? "ES256";
  if (alg !== "ES256" && alg !== "EdDSA") usageError(`--alg must be ES256 or EdDSA, not ${JSON.stringify(alg)}`);
  const specs = (values.operator ?? []).map(parseOperator);

  // Every input is checked before anything is written: a refusal leaves nothing half done.
  const operators: { key: CoseKey; role: Role; path: string }[] = specs.map((spec) => ({ key: readKeyFile(spec.path, "public"), role: spec.role, path: spec.path }));
  const trust = new TrustList(operators.map(({ key, role }) => ({ key, role })));

  const key = generateDeviceKey(checkDeviceId(id), alg as SignatureAlgorithm);
  const deviceDir = writeIdentity(dir, { id, key, trust }, { force: values.force === true });

  out(`provisioned device "${id}" in ${deviceDir}`);
  out(`  ${join(deviceDir, "device.key")}  ${alg} private key, mode 0600: flash it onto the device, keep it secret`);
  out(`  ${join(deviceDir, "device.pub")}  public key, kid ${describeKid(key.kid)}: give it to the fleet server`);
  out(`  ${join(deviceDir, "trust.cbor")}  trusts ${operators.length === 1 ? "1 operator" : `${operators.length} operators`}${operators.length ? ":" : ""}`);
  for (const op of operators) out(`    ${describeKid(op.key.kid)} (${op.key.alg}) as ${op.role}, from ${op.path}`);
  if (operators.length === 0) note(`note: ${id} trusts no operator, so it will refuse every command (add --operator FILE.pub:ROLE)`);
  return 0;
}
