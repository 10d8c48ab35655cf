// The smart lock's access codes, kept only as hashes. Device code (runs on XS).
//
// A code is stored as SHA-256("gatehouse lock code v1" 0 <device id> 0 <code>) through the CryptoPort: the
// device id as salt, so one table of hashes does not fit every lock. Honest limit: a 4-12 digit code is a
// small space, and anyone who reads the flash can search it offline in seconds. The hash keeps the codes
// out of plain sight (logs, a storage dump, a support bundle); what protects a lock against guessing is
// the online lockout (lockout.ts), and against flash readout the ESP32's flash encryption.
//
// Storage: one value under "lock.codes": [format 1, count, count x 32-byte hash], at most 2 + 8 x 32 = 258
// bytes, well within the StoragePort's 4,000-byte limit (BoundedStorage holds the app to it anyway).
// A stored value that does not parse is reported, and the lock then holds NO codes (it stays locked until
// an administrator rotates them): never a silent fallback to something that opens.

import { GatehouseError, type CryptoPort, type StoragePort } from "gatehouse/sdk";
import { MAX_CODES } from "./doors";

const KEY = "lock.codes";
const FORMAT = 1;
const HASH_LENGTH = 32;
const CODE_PATTERN = /^[0-9]{4,12}$/;

/** ASCII bytes of `text` (device ids and codes are ASCII; anything else is refused, not mangled). */
function ascii(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7e) throw new GatehouseError("invalid-codes", "device ids and access codes must be ASCII");
    bytes[i] = c;
  }
  return bytes;
}

export interface AccessCodesOptions {
  deviceId: string;
  crypto: CryptoPort;
  storage: StoragePort;
  /** Told when the stored codes could not be read (the lock then holds none). */
  onError?(error: unknown): void;
}

export class AccessCodes {
  private readonly crypto: CryptoPort;
  private readonly storage: StoragePort;
  private readonly salt: string;
  private hashes: Uint8Array[] = [];

  constructor(options: AccessCodesOptions) {
    this.crypto = options.crypto;
    this.storage = options.storage;
    this.salt = `gatehouse lock code v1\u0000${options.deviceId}\u0000`;
    ascii(this.salt);
    try {
      this.hashes = this.load();
    } catch (e) {
      this.hashes = [];
      options.onError?.(e);
    }
  }

  get count(): number {
    return this.hashes.length;
  }

  /**
   * Whether `code` is one of the codes. Compares against every stored hash, all bytes of each, so the
   * time taken does not tell which code or how much of one matched.
   */
  matches(code: string): boolean {
    const candidate = this.hash(code);
    let found = 0;
    for (const stored of this.hashes) {
      let difference = 0;
      for (let i = 0; i < HASH_LENGTH; i++) difference |= stored[i] ^ candidate[i];
      found |= difference === 0 ? 1 : 0;
    }
    return found === 1;
  }

  /** Replaces every code with `codes` (1 to 8 distinct) and stores the new hashes before it returns. */
  rotate(codes: readonly string[]): number {
    if (codes.length < 1 || codes.length > MAX_CODES) throw new GatehouseError("invalid-codes", `give 1 to ${MAX_CODES} access codes, not ${codes.length}`);
    for (let i = 0; i < codes.length; i++) {
      if (!CODE_PATTERN.test(codes[i])) throw new GatehouseError("invalid-codes", `access code ${i + 1} is not 4 to 12 digits`);
      if (codes.indexOf(codes[i]) !== i) throw new GatehouseError("invalid-codes", `access code ${i + 1} repeats an earlier one`);
    }
    const hashes = codes.map((code) => this.hash(code));
    const value = new Uint8Array(2 + hashes.length * HASH_LENGTH);
    value[0] = FORMAT;
    value[1] = hashes.length;
    hashes.forEach((hash, i) => value.set(hash, 2 + i * HASH_LENGTH));
    this.storage.write(KEY, value); // durable first: a crash right after must not bring back the old codes
    this.hashes = hashes;
    return hashes.length;
  }

  private hash(code: string): Uint8Array {
    return this.crypto.sha256(ascii(this.salt + code));
  }

  private load(): Uint8Array[] {
    const value = this.storage.read(KEY);
    if (value === undefined) return [];
    const count = value[1];
    if (value.length < 2 || value[0] !== FORMAT || count > MAX_CODES || value.length !== 2 + count * HASH_LENGTH) {
      throw new GatehouseError("codes-corrupt", `the stored access codes (${value.length} bytes) do not parse: the lock holds none until they are rotated`);
    }
    const hashes: Uint8Array[] = [];
    for (let i = 0; i < count; i++) hashes.push(value.slice(2 + i * HASH_LENGTH, 2 + (i + 1) * HASH_LENGTH));
    return hashes;
  }
}
