// Device identities on disk, whole (private key, public key, trust list): what `gatehouse provision` writes
// and the simulator (or a flashing tool) reads; the public keys alone are host/client/device-keys.ts.
// One folder per device:
//
//   DIR/<id>/device.key   the device's private COSE_Key (CBOR), mode 0600: it signs everything the device
//                         publishes and never leaves the device
//   DIR/<id>/device.pub   its public COSE_Key: for the fleet server and for anyone verifying publications
//   DIR/<id>/trust.cbor   the trust list (encodeTrust: [[COSE_Key, role], ...]): the operator keys the
//                         device accepts commands from, and the role of each. It trusts nothing else.
//   DIR/<id>/update-trust.cbor  optional: the update trust (sdk/update/trust.ts: update keys, threshold,
//                         minimum epoch), apart from the command trust. Without it the device refuses
//                         every update.
//
// The kid of a device key is the UTF-8 of the device id (docs/protocol.md section 1). Device ids are
// 1 to 32 of a-z, 0-9 and "-": safe as a folder name, an MQTT topic level and an MQTT client id.
// Host side only (Node).
//
// Error codes: identity-invalid (a bad id, a missing or malformed file, parts that do not fit together),
// file-exists (writeIdentity over an existing identity without `force`), file (an I/O failure).

import { readdirSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { bytesEqual } from "../sdk/bytes";
import { utf8 } from "../sdk/cbor/encode";
import { decodeKey, encodeKey, publicKey, type CoseKey, type SignatureAlgorithm } from "../sdk/cose/key";
import { GatehouseError, fail } from "../sdk/errors";
import { decodeTrust, encodeTrust, type TrustList } from "../sdk/trust";
import { decodeTrustDocument, encodeTrustDocument, type UpdateTrustDocument } from "../sdk/update/trust";
import { nodeCrypto } from "../ports/node/crypto";
import { nameTaken, privateFolder, readFileBounded, writeFileSafely } from "./files";

export const DEVICE_ID_PATTERN = /^[a-z0-9-]{1,32}$/;
export const DEVICE_KEY_FILE = "device.key";
export const DEVICE_PUB_FILE = "device.pub";
export const TRUST_FILE = "trust.cbor";
export const UPDATE_TRUST_FILE = "update-trust.cbor";

export interface Identity {
  readonly id: string;
  /** The private key (with `d`). */
  readonly key: CoseKey;
  readonly trust: TrustList;
  /** The update trust, when the device takes updates. */
  readonly updateTrust?: UpdateTrustDocument;
}

export interface StoredIdentity extends Identity {
  /** The device's folder. */
  readonly dir: string;
  readonly publicKey: CoseKey;
}

export function isDeviceId(id: string): boolean {
  return DEVICE_ID_PATTERN.test(id);
}

/** Throws identity-invalid unless `id` is 1 to 32 of a-z, 0-9, "-". */
export function checkDeviceId(id: string): string {
  if (!isDeviceId(id)) fail("identity-invalid", `device id ${JSON.stringify(id)} must be 1 to 32 of a-z, 0-9 and "-"`);
  return id;
}

/** A fresh key pair for device `id` (kid = UTF-8 of the id). ES256 by default: what stock Moddable verifies natively. */
export function generateDeviceKey(id: string, alg: SignatureAlgorithm = "ES256"): CoseKey {
  return nodeCrypto.generateKey(alg, utf8(checkDeviceId(id)));
}

function checkIdentity(identity: Identity): void {
  checkDeviceId(identity.id);
  if (identity.key.d === undefined) fail("identity-invalid", `the key of ${identity.id} is a public key; a device needs its private key`);
  if (!bytesEqual(identity.key.kid, utf8(identity.id))) fail("identity-invalid", `the key's kid is not the UTF-8 of the device id ${JSON.stringify(identity.id)}`);
}

function systemReason(e: unknown): string {
  return (e as NodeJS.ErrnoException)?.code ?? String((e as Error)?.message ?? e);
}

/**
 * Writes DIR/<id>/{device.key, device.pub, trust.cbor}; returns the device folder. The folder is made
 * private (0700, also when it already existed; a symlink in its place is refused) and device.key is
 * 0600. Each file goes through a fresh, randomly named temporary file created with O_EXCL and is
 * renamed into place (host/files.ts): a planted symlink never receives the key, and a reader never sees
 * half a key. An existing identity is refused (file-exists) unless `force`.
 */
export function writeIdentity(dir: string, identity: Identity, options: { force?: boolean } = {}): string {
  checkIdentity(identity);
  const deviceDir = join(dir, identity.id);
  const paths = [DEVICE_KEY_FILE, DEVICE_PUB_FILE, TRUST_FILE].map((name) => join(deviceDir, name));
  if (!options.force) {
    for (const path of [...paths, join(deviceDir, UPDATE_TRUST_FILE)]) if (nameTaken(path)) fail("file-exists", `${path} already exists (use --force to replace it)`);
  }
  privateFolder(deviceDir);
  writeFileSafely(paths[0], encodeKey(identity.key, true), { replace: true, mode: 0o600 });
  writeFileSafely(paths[1], encodeKey(publicKey(identity.key), false), { replace: true, mode: 0o644 });
  writeFileSafely(paths[2], encodeTrust(identity.trust), { replace: true, mode: 0o644 });
  if (identity.updateTrust !== undefined) writeFileSafely(join(deviceDir, UPDATE_TRUST_FILE), encodeTrustDocument(identity.updateTrust), { replace: true, mode: 0o644 });
  // A replaced identity without update keys takes no updates: no update trust of the old one stays behind.
  else rmSync(join(deviceDir, UPDATE_TRUST_FILE), { force: true });
  return deviceDir;
}

/** Largest identity file read: a key is about 100 bytes, a trust list about 100 per operator. */
const MAX_IDENTITY_FILE = 1024 * 1024;

/** Reads one part of an identity: bounded, and never through a symlink (a key file must be the file itself). */
function readPart<T>(path: string, what: string, parse: (bytes: Uint8Array) => T): T {
  let bytes: Uint8Array;
  try {
    bytes = readFileBounded(path, { maxBytes: MAX_IDENTITY_FILE, noFollow: true });
  } catch (e) {
    return fail("identity-invalid", `cannot read ${what}: ${(e as Error).message}`);
  }
  try {
    return parse(bytes);
  } catch (e) {
    const reason = e instanceof GatehouseError ? `${e.code}: ${e.message}` : String((e as Error)?.message ?? e);
    return fail("identity-invalid", `${path} is not a valid ${what} (${reason})`);
  }
}

/** Reads one device folder (DIR/<id>) and checks that its parts fit: the id, the kid, the key pair. */
export function readIdentity(deviceDir: string): StoredIdentity {
  const id = basename(deviceDir);
  if (!isDeviceId(id)) fail("identity-invalid", `${deviceDir}: folder name ${JSON.stringify(id)} is not a device id`);
  const key = readPart(join(deviceDir, DEVICE_KEY_FILE), "private key", decodeKey);
  const pub = readPart(join(deviceDir, DEVICE_PUB_FILE), "public key", decodeKey);
  const trust = readPart(join(deviceDir, TRUST_FILE), "trust list", decodeTrust);
  const updateTrustPath = join(deviceDir, UPDATE_TRUST_FILE);
  const updateTrust = nameTaken(updateTrustPath) ? readPart(updateTrustPath, "update trust", decodeTrustDocument) : undefined;
  checkIdentity({ id, key, trust });
  const derived = publicKey(key);
  if (pub.alg !== derived.alg || !bytesEqual(pub.kid, derived.kid) || !bytesEqual(pub.x, derived.x) || !bytesEqual(pub.y ?? new Uint8Array(0), derived.y ?? new Uint8Array(0))) {
    fail("identity-invalid", `${join(deviceDir, DEVICE_PUB_FILE)} is not the public half of ${DEVICE_KEY_FILE}`);
  }
  return { id, key, trust, updateTrust, dir: deviceDir, publicKey: derived };
}

/** The ids of the identities in DIR (folders holding a device.key), sorted. A missing DIR has none. */
export function listIdentities(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    return fail("file", `cannot read ${dir}: ${systemReason(e)}`);
  }
  return names.filter((name) => isDeviceId(name) && nameTaken(join(dir, name, DEVICE_KEY_FILE))).sort();
}
