// The trust list: the operator keys a device accepts, each with its role. A device trusts nothing
// else. On the wire and at rest it is CBOR: [ [COSE_Key, role], ... ].

import { fail } from "./errors";
import { decode } from "./cbor/decode";
import { encode } from "./cbor/encode";
import type { CborValue } from "./cbor/types";
import { toHex } from "./bytes";
import { keyFromMap, keyToMap, publicKey, type CoseKey } from "./cose/key";
import type { KeyRing } from "./cose/sign1";
import { isRole, type Role } from "./doors/access";

export interface TrustEntry {
  readonly key: CoseKey;
  readonly role: Role;
}

export class TrustList implements KeyRing {
  private readonly byKid = new Map<string, TrustEntry>();

  constructor(entries: Iterable<TrustEntry> = []) {
    for (const entry of entries) this.add(entry);
  }

  add(entry: TrustEntry): void {
    const kid = toHex(entry.key.kid);
    if (this.byKid.has(kid)) fail("trust-invalid", `kid ${kid} is listed twice`);
    this.byKid.set(kid, { key: publicKey(entry.key), role: entry.role });
  }

  find(kid: Uint8Array): CoseKey | undefined {
    return this.byKid.get(toHex(kid))?.key;
  }

  roleOf(kidHex: string): Role | undefined {
    return this.byKid.get(kidHex)?.role;
  }

  entries(): TrustEntry[] {
    return Array.from(this.byKid.values());
  }
}

export function encodeTrust(trust: TrustList): Uint8Array {
  return encode(trust.entries().map((e): CborValue => [keyToMap(e.key, false), e.role]));
}

export function decodeTrust(bytes: Uint8Array): TrustList {
  const items = decode(bytes);
  if (!Array.isArray(items)) return fail("trust-invalid", "trust list is not an array");
  const trust = new TrustList();
  for (const item of items) {
    if (!Array.isArray(item) || item.length !== 2 || !isRole(item[1])) fail("trust-invalid", "trust entry must be [COSE_Key, role]");
    trust.add({ key: keyFromMap(item[0]), role: item[1] as Role });
  }
  return trust;
}
