// Persistent storage on Moddable: its `preference` module (NVS on the ESP32, a JSON file on lin) with the
// ESP32's NVS limits enforced here, on every platform. The simulator's preference file accepts names and
// values of any size and floats; the device's NVS does not. An app tested on lin must fail there the way it
// would fail on the device, so these checks run before Preference sees the call ($(MODDABLE)/documentation/
// files/files.md, Preference): domain (NVS namespace) and key at most 15 characters, values at most 4000 bytes, numbers only
// as 32-bit integers ("float unsupported" on the device).

import Preference from "preference";
import { fail, type StoragePort } from "gatehouse/sdk";

export const NVS_MAX_NAME = 15;
export const NVS_MAX_VALUE = 4000;

export type NvsValue = boolean | number | string | ArrayBuffer;

function checkName(name: string, what: "domain" | "key"): void {
  const printableAscii = /^[\x21-\x7e]+$/.test(name);
  if (name.length === 0 || name.length > NVS_MAX_NAME || !printableAscii) {
    fail(what === "domain" ? "storage-domain" : "storage-key", `preference ${what} "${name}" must be 1 to ${NVS_MAX_NAME} printable ASCII characters`);
  }
}

/** Bytes NVS stores for a string: its UTF-8 encoding. */
function utf8Length(text: string): number {
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) length += 1;
    else if (c < 0x800) length += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
      length += 4; // a surrogate pair
      i++;
    } else length += 3;
  }
  return length;
}

function checkValue(domain: string, key: string, value: NvsValue): void {
  const where = `${domain}/${key}`;
  if (typeof value === "number") {
    if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) fail("storage-value", `preference ${where}: NVS stores 32-bit integers only, not ${value}`);
  } else if (typeof value === "string") {
    const length = utf8Length(value);
    if (length > NVS_MAX_VALUE) fail("storage-value", `preference ${where}: a ${length}-byte string is over NVS's ${NVS_MAX_VALUE} bytes`);
  } else if (value instanceof ArrayBuffer) {
    if (value.byteLength > NVS_MAX_VALUE) fail("storage-value", `preference ${where}: ${value.byteLength} bytes is over NVS's ${NVS_MAX_VALUE} bytes`);
  } else if (typeof value !== "boolean") {
    fail("storage-value", `preference ${where}: NVS stores booleans, 32-bit integers, strings and ArrayBuffers only`);
  }
}

/** Moddable's Preference, held to the ESP32 NVS limits on every platform. */
export const nvs = {
  get(domain: string, key: string): NvsValue | undefined {
    checkName(domain, "domain");
    checkName(key, "key");
    return Preference.get(domain, key);
  },
  set(domain: string, key: string, value: NvsValue): void {
    checkName(domain, "domain");
    checkName(key, "key");
    checkValue(domain, key, value);
    Preference.set(domain, key, value);
  },
  delete(domain: string, key: string): void {
    checkName(domain, "domain");
    checkName(key, "key");
    Preference.delete(domain, key);
  },
  keys(domain: string): string[] {
    checkName(domain, "domain");
    return Preference.keys(domain);
  },
};

/**
 * How an empty value is stored: Moddable's lin preference file reads an empty ArrayBuffer back as one zero
 * byte (it stores buffers as comma-separated text), and NVS is no friend of zero-length blobs either.
 */
const EMPTY = "";

/**
 * The SDK's storage port in one preference domain, values as ArrayBuffers. Each set erases and commits
 * on the device, so a write is durable when it returns.
 */
export class PreferenceStorage implements StoragePort {
  constructor(private readonly domain = "gatehouse") {
    checkName(domain, "domain");
  }

  read(key: string): Uint8Array | undefined {
    const value = nvs.get(this.domain, key);
    if (value === undefined) return undefined;
    if (value === EMPTY) return new Uint8Array(0);
    // Only this port writes its domain, and only buffers: anything else is damage, not a missing value.
    if (!(value instanceof ArrayBuffer)) return fail("storage-corrupt", `preference ${this.domain}/${key} holds a ${typeof value}, not bytes`);
    return new Uint8Array(value);
  }

  write(key: string, value: Uint8Array): void {
    nvs.set(this.domain, key, value.length === 0 ? EMPTY : value.slice().buffer);
  }

  remove(key: string): void {
    nvs.delete(this.domain, key);
  }
}
