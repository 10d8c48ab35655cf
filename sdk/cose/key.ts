// COSE_Key (RFC 9052 section 7, RFC 9053 section 7): keys travel and rest as CBOR maps.
//
//   1 kty (1 OKP, 2 EC2)   2 kid (bstr)   3 alg (-7 ES256, -8 EdDSA)
//   -1 crv (1 P-256, 6 Ed25519)   -2 x   -3 y (EC2 only)   -4 d (private)
//
// Gatehouse keys always carry `kid` and `alg`: a key is usable with exactly one algorithm, which is
// how a verifier refuses algorithm confusion.

import { fail } from "../errors";
import { decode } from "../cbor/decode";
import { encode } from "../cbor/encode";
import type { CborMap, CborValue } from "../cbor/types";

export type SignatureAlgorithm = "ES256" | "EdDSA";

export const ALG_ES256 = -7;
export const ALG_EDDSA = -8;
const KTY_OKP = 1;
const KTY_EC2 = 2;
const CRV_P256 = 1;
const CRV_ED25519 = 6;

const KEY_KTY = 1;
const KEY_KID = 2;
const KEY_ALG = 3;
const KEY_CRV = -1;
const KEY_X = -2;
const KEY_Y = -3;
const KEY_D = -4;

export interface CoseKey {
  readonly alg: SignatureAlgorithm;
  readonly kid: Uint8Array;
  /** P-256: the x coordinate; Ed25519: the public key. 32 bytes either way. */
  readonly x: Uint8Array;
  /** P-256 only: the y coordinate. */
  readonly y?: Uint8Array;
  /** Private keys only. */
  readonly d?: Uint8Array;
}

const ALGORITHMS: Record<number, SignatureAlgorithm> = { [ALG_ES256]: "ES256", [ALG_EDDSA]: "EdDSA" };

export function algorithmFromId(id: CborValue): SignatureAlgorithm | undefined {
  return typeof id === "number" ? ALGORITHMS[id] : undefined;
}

export function algorithmId(alg: SignatureAlgorithm): number {
  return alg === "ES256" ? ALG_ES256 : ALG_EDDSA;
}

function bytesField(map: CborMap, label: number, length: number, name: string): Uint8Array {
  const value = map.get(label);
  if (!(value instanceof Uint8Array) || value.length !== length) fail("key-invalid", `COSE_Key ${name} must be ${length} bytes`);
  return value;
}

/** Reads a COSE_Key from its CBOR map, checking that its parts fit together. */
export function keyFromMap(map: CborValue): CoseKey {
  if (!(map instanceof Map)) return fail("key-invalid", "COSE_Key is not a map");
  const alg = algorithmFromId(map.get(KEY_ALG));
  if (alg === undefined) fail("key-invalid", "COSE_Key has no supported alg (ES256 or EdDSA)");
  const kid = map.get(KEY_KID);
  if (!(kid instanceof Uint8Array) || kid.length === 0 || kid.length > 64) fail("key-invalid", "COSE_Key kid must be 1 to 64 bytes");
  const kty = map.get(KEY_KTY);
  const crv = map.get(KEY_CRV);
  const hasD = map.has(KEY_D);
  if (alg === "ES256") {
    if (kty !== KTY_EC2 || crv !== CRV_P256) fail("key-invalid", "ES256 key must be kty EC2 on P-256");
    return {
      alg,
      kid,
      x: bytesField(map, KEY_X, 32, "x"),
      y: bytesField(map, KEY_Y, 32, "y"),
      d: hasD ? bytesField(map, KEY_D, 32, "d") : undefined,
    };
  }
  if (kty !== KTY_OKP || crv !== CRV_ED25519) fail("key-invalid", "EdDSA key must be kty OKP on Ed25519");
  return { alg, kid, x: bytesField(map, KEY_X, 32, "x"), d: hasD ? bytesField(map, KEY_D, 32, "d") : undefined };
}

export function keyToMap(key: CoseKey, includePrivate: boolean): CborMap {
  const map: CborMap = new Map<number, CborValue>();
  map.set(KEY_KTY, key.alg === "ES256" ? KTY_EC2 : KTY_OKP);
  map.set(KEY_KID, key.kid);
  map.set(KEY_ALG, algorithmId(key.alg));
  map.set(KEY_CRV, key.alg === "ES256" ? CRV_P256 : CRV_ED25519);
  map.set(KEY_X, key.x);
  if (key.y) map.set(KEY_Y, key.y);
  if (includePrivate) {
    if (!key.d) fail("key-invalid", "not a private key");
    map.set(KEY_D, key.d);
  }
  return map;
}

export function decodeKey(bytes: Uint8Array): CoseKey {
  return keyFromMap(decode(bytes));
}

export function encodeKey(key: CoseKey, includePrivate = false): Uint8Array {
  return encode(keyToMap(key, includePrivate));
}

/** The public half of a key (drops `d`). */
export function publicKey(key: CoseKey): CoseKey {
  return { alg: key.alg, kid: key.kid, x: key.x, y: key.y };
}
