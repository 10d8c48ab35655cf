// The public keys of provisioned devices, as `gatehouse provision` lays them out (host/identity-files.ts):
// DIR/<id>/device.pub, kid = UTF-8 of the id. The server and the CLI need only these public halves, so
// unlike readIdentity() nothing here reads device.key.

import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { bytesEqual } from "../../sdk/bytes";
import { utf8 } from "../../sdk/cbor/encode";
import { decodeKey, publicKey, type CoseKey } from "../../sdk/cose/key";
import { errorCode, fail } from "../../sdk/errors";
import { readFileBounded } from "../files";
import { DEVICE_PUB_FILE, isDeviceId } from "../identity-files";

/** A public COSE_Key is about 100 bytes; anything much larger is not one (and may be /dev/zero). */
const MAX_PUBLIC_KEY_FILE = 64 * 1024;

export interface DeviceKeyScan {
  /** Device id -> public key. */
  keys: Map<string, CoseKey>;
  /** Entries that were skipped, with the reason (for a warning). */
  skipped: string[];
}

/** A device id as the registry takes it: 1 to 32 of a-z, 0-9 and "-" (host/identity-files.ts). */
export function checkDeviceIdInput(id: unknown): string {
  if (typeof id !== "string" || !isDeviceId(id)) fail("usage", `device id ${JSON.stringify(id)} must be 1 to 32 of a-z, 0-9 and "-"`);
  return id;
}

/** Checks that a device key names its device (kid = UTF-8 of the id, protocol §1); returns its public half. */
export function checkDeviceKey(id: string, key: CoseKey): CoseKey {
  if (!bytesEqual(key.kid, utf8(id))) fail("key-invalid", `the key's kid is not the UTF-8 of the device id ${JSON.stringify(id)}`);
  return publicKey(key);
}

function readPublicKey(dir: string, id: string): CoseKey {
  const path = join(dir, id, DEVICE_PUB_FILE);
  let bytes: Uint8Array;
  try {
    bytes = readFileBounded(path, { maxBytes: MAX_PUBLIC_KEY_FILE });
  } catch (e) {
    if (errorCode(e) === "too-large") throw e;
    return fail("unknown-device", `no identity for ${id}: ${(e as Error).message}`);
  }
  try {
    return checkDeviceKey(id, decodeKey(bytes));
  } catch (e) {
    return fail("key-file", `${path}: ${errorCode(e)}: ${(e as Error).message}`);
  }
}

/** Reads every DIR/<id>/device.pub. A missing or unreadable DIR is an error; a bad entry is skipped. */
export function loadDeviceKeys(dir: string): DeviceKeyScan {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) fail("identities", `${dir} is not a directory`);
    names = readdirSync(dir).sort();
  } catch (e) {
    if (errorCode(e) === "identities") throw e;
    return fail("identities", `cannot read identities directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const keys = new Map<string, CoseKey>();
  const skipped: string[] = [];
  for (const name of names) {
    let hasKey: boolean;
    try {
      hasKey = statSync(join(dir, name, DEVICE_PUB_FILE)).isFile();
    } catch {
      hasKey = false;
    }
    if (!hasKey) continue; // not an identity folder
    if (!isDeviceId(name)) {
      skipped.push(`${join(dir, name)}: ${JSON.stringify(name)} is not a device id`);
      continue;
    }
    try {
      keys.set(name, readPublicKey(dir, name));
    } catch (e) {
      skipped.push(`${errorCode(e)}: ${(e as Error).message}`);
    }
  }
  return { keys, skipped };
}

/** The public key of one device from an identities directory. */
export function deviceKeyIn(dir: string, device: string): CoseKey {
  return readPublicKey(dir, checkDeviceIdInput(device));
}
