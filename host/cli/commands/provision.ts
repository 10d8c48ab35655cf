import { join } from "node:path";
import { toHex } from "../../../sdk/bytes";
import { isRole, ROLES, type Role } from "../../../sdk/doors/access";
import { TrustList } from "../../../sdk/trust";
import type { CoseKey, SignatureAlgorithm } from "../../../sdk/cose/key";
import { checkDeviceId, generateDeviceKey, isDeviceId, UPDATE_TRUST_FILE, writeIdentity } from "../../identity-files";
import { encodeTrustDocument, type UpdateTrustDocument } from "../../../sdk/update/trust";
import { MAX_UPDATE_KEYS } from "../../../sdk/suit/trust";
import { publicKey } from "../../../sdk/cose/key";
import { note, out, parseFlags, readKeyFile, required, usageError } from "../util";

export const name = "provision";
export const summary = "Create a device identity: its key pair and the operators it trusts";
export const usage = `Usage: gatehouse provision --id ID --out DIR [--operator FILE.pub:ROLE]... [--alg ES256|EdDSA]
                          [--update-key FILE.pub]... [--update-threshold K] [--force]

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

Options:
  --id ID                   device id: 1 to 32 of a-z, 0-9 and '-'
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
  --force                   replace an existing identity
  -h, --help                show this help

Example:
  gatehouse keygen --alg ES256 --kid admin --out keys
  gatehouse provision --id thermo-1 --out identities --operator keys/admin.pub:administer \\
      --update-key keys/rel-1.pub --update-key keys/rel-2.pub --update-key keys/rel-3.pub --update-threshold 2
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
      "update-key": { type: "string", multiple: true },
      "update-threshold": { type: "string" },
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

  const updateTrust = readUpdateTrust(values["update-key"] ?? [], values["update-threshold"]);

  const key = generateDeviceKey(checkDeviceId(id), alg as SignatureAlgorithm);
  const deviceDir = writeIdentity(dir, { id, key, trust, updateTrust }, { force: values.force === true });

  out(`provisioned device "${id}" in ${deviceDir}`);
  out(`  ${join(deviceDir, "device.key")}  ${alg} private key, mode 0600: flash it onto the device, keep it secret`);
  out(`  ${join(deviceDir, "device.pub")}  public key, kid ${describeKid(key.kid)}: give it to the fleet server`);
  out(`  ${join(deviceDir, "trust.cbor")}  trusts ${operators.length === 1 ? "1 operator" : `${operators.length} operators`}${operators.length ? ":" : ""}`);
  for (const op of operators) out(`    ${describeKid(op.key.kid)} (${op.key.alg}) as ${op.role}, from ${op.path}`);
  if (operators.length === 0) note(`note: ${id} trusts no operator, so it will refuse every command (add --operator FILE.pub:ROLE)`);
  if (updateTrust !== undefined) {
    out(`  ${join(deviceDir, UPDATE_TRUST_FILE)}  updates need ${updateTrust.threshold} of ${updateTrust.keys.length} update key${updateTrust.keys.length === 1 ? "" : "s"}: ${updateTrust.keys.map((k) => describeKid(k.kid)).join(", ")}`);
  } else {
    note(`note: ${id} has no update keys, so it will refuse every update (add --update-key FILE.pub)`);
  }
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
