// COSE_Sign1 (RFC 9052 section 4.2, algorithms from RFC 9053): one signer, one signature.
//
//   COSE_Sign1 = [protected: bstr .cbor header_map, unprotected: header_map, payload: bstr / nil, signature: bstr]
//   Sig_structure = ["Signature1", protected bytes AS RECEIVED, external_aad, payload]
//
// The verifier refuses (stable codes):
//   cose-malformed, cose-bad-tag, cose-untagged, cose-tagged, cose-duplicate-header, cose-unknown-critical,
//   alg-missing, alg-unprotected, alg-unknown, alg-not-allowed, unknown-kid, cose-detached-payload,
//   cose-attached-payload, bad-signature
// Only the envelope and the protected header are parsed before the signature is checked; the payload
// is handed back as bytes, for the caller to parse once it is known to be authentic.

import { fail } from "../errors";
import { decode } from "../cbor/decode";
import { encode } from "../cbor/encode";
import { CborTag, type CborMap, type CborValue, type DecodeLimits } from "../cbor/types";
import type { CryptoPort } from "../ports/crypto";
import { algorithmFromId, algorithmId, type CoseKey, type SignatureAlgorithm } from "./key";
import { toHex } from "../bytes";

export const TAG_COSE_SIGN1 = 18;
export const HEADER_ALG = 1;
export const HEADER_CRIT = 2;
export const HEADER_CONTENT_TYPE = 3;
export const HEADER_KID = 4;
/** Header labels this implementation processes, so they may appear in `crit`. */
const UNDERSTOOD_HEADERS = [HEADER_ALG, HEADER_CRIT, HEADER_CONTENT_TYPE, HEADER_KID];

const EMPTY = new Uint8Array(0);
const SIGNATURE_LENGTH = 64; // ES256 r||s and Ed25519 R||S are both 64 bytes
// The order n of the P-256 group: ES256 requires 1 <= r, s <= n - 1.
const P256_ORDER = Uint8Array.of(
  0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
  0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
);

/** Where keys come from when verifying: look-up by `kid`. */
export interface KeyRing {
  find(kid: Uint8Array): CoseKey | undefined;
}

/** A key ring of fixed keys, indexed by the hex of their kid. */
export class StaticKeyRing implements KeyRing {
  private readonly keys = new Map<string, CoseKey>();
  constructor(keys: Iterable<CoseKey> = []) {
    for (const key of keys) this.add(key);
  }
  add(key: CoseKey): void {
    this.keys.set(toHex(key.kid), key);
  }
  find(kid: Uint8Array): CoseKey | undefined {
    return this.keys.get(toHex(kid));
  }
}

export interface Sign1Options {
  externalAad?: Uint8Array;
  /** Emit tag 18 (default true). */
  tagged?: boolean;
  /**
   * Protected header entries. Defaults to {alg, kid}. When given, alg is set from the key (a caller
   * cannot sign with a key under another algorithm's name).
   */
  protectedHeader?: CborMap;
  unprotectedHeader?: CborMap;
  /**
   * Detached content (RFC 9052 section 2): sign `payload` but carry nil in its place. The verifier
   * must be given the same payload (VerifyOptions.detachedPayload). SUIT signs this way.
   */
  detached?: boolean;
}

export function sign1(crypto: CryptoPort, key: CoseKey, payload: Uint8Array, options: Sign1Options = {}): Uint8Array {
  const unsigned = prepareSign1(key, payload, options);
  return unsigned.complete(crypto.sign(key.alg, key, unsigned.toBeSigned));
}

/** A COSE_Sign1 waiting for its signature: what a signer that answers later (WebCrypto's promises) signs. */
export interface UnsignedSign1 {
  /** The Sig_structure's bytes: what the signature is made over. */
  readonly toBeSigned: Uint8Array;
  /** The message with `signature` (ES256: raw r||s; EdDSA: R||S, 64 bytes either way). */
  complete(signature: Uint8Array): Uint8Array;
}

/**
 * sign1 in two steps, for signers the CryptoPort cannot wrap because they answer asynchronously (a
 * browser's WebCrypto, a hardware token): the same headers and Sig_structure, the signature given later.
 */
export function prepareSign1(key: Pick<CoseKey, "alg" | "kid">, payload: Uint8Array, options: Sign1Options = {}): UnsignedSign1 {
  const protectedHeader: CborMap = options.protectedHeader ? new Map(options.protectedHeader) : new Map([[HEADER_KID, key.kid]]);
  protectedHeader.set(HEADER_ALG, algorithmId(key.alg));
  const protectedBytes = encode(protectedHeader);
  const toBeSigned = sigStructure(protectedBytes, options.externalAad ?? EMPTY, payload);
  return {
    toBeSigned,
    complete(signature) {
      if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_LENGTH) fail("cose-malformed", `a ${key.alg} signature is ${SIGNATURE_LENGTH} bytes`);
      const message: CborValue[] = [protectedBytes, options.unprotectedHeader ?? new Map(), options.detached === true ? null : payload, signature];
      return encode(options.tagged === false ? message : new CborTag(TAG_COSE_SIGN1, message));
    },
  };
}

export function sigStructure(protectedBytes: Uint8Array, externalAad: Uint8Array, payload: Uint8Array): Uint8Array {
  return encode(["Signature1", protectedBytes, externalAad, payload]);
}

export interface VerifyOptions {
  externalAad?: Uint8Array;
  /** "optional" (default) takes both forms; "required" insists on tag 18; "forbidden" on none. */
  tag?: "optional" | "required" | "forbidden";
  /** The payload, when the message carries nil (detached content). */
  detachedPayload?: Uint8Array;
  /**
   * Insist on detached content: a message that carries a payload is refused (cose-attached-payload)
   * instead of being checked over the payload it brings. Where the signed content is known from
   * elsewhere (a SUIT digest), an attached payload would let an old signature over other content
   * pass as a signature over this one.
   */
  requireDetached?: boolean;
  limits?: Partial<DecodeLimits>;
}

export interface VerifiedSign1 {
  readonly payload: Uint8Array;
  readonly key: CoseKey;
  readonly alg: SignatureAlgorithm;
  readonly protectedHeader: CborMap;
  readonly unprotectedHeader: CborMap;
}

/**
 * Verifies a COSE_Sign1 message. `keys` is a key ring, or one key (then the message's kid, if any,
 * must be that key's). Returns the authenticated payload or throws a GatehouseError.
 */
export function verifySign1(crypto: CryptoPort, message: Uint8Array, keys: KeyRing | CoseKey, options: VerifyOptions = {}): VerifiedSign1 {
  const parts = parseSign1(message, options);
  const { protectedHeader, unprotectedHeader } = parts;

  const alg = protectedHeader.get(HEADER_ALG);
  if (alg === undefined) {
    if (unprotectedHeader.has(HEADER_ALG)) fail("alg-unprotected", "alg is only in the unprotected header");
    fail("alg-missing", "the protected header has no alg");
  }
  const algorithm = algorithmFromId(alg);
  if (algorithm === undefined) return fail("alg-unknown", `unsupported alg ${String(alg)}`);

  const kid = protectedHeader.get(HEADER_KID) ?? unprotectedHeader.get(HEADER_KID);
  if (kid !== undefined && !(kid instanceof Uint8Array)) fail("cose-malformed", "kid is not a byte string");
  const key = findKey(keys, kid);
  if (key.alg !== algorithm) fail("alg-not-allowed", `key ${toHex(key.kid)} is for ${key.alg}, not ${algorithm}`);

  let payload = parts.payload;
  if (payload !== null && options.requireDetached === true) fail("cose-attached-payload", "the payload must be detached, but the message carries one");
  if (payload === null) {
    if (!options.detachedPayload) fail("cose-detached-payload", "the payload is detached and none was supplied");
    payload = options.detachedPayload;
  }

  const signature = parts.signature;
  if (signature.length !== SIGNATURE_LENGTH) fail("bad-signature", `signature is ${signature.length} bytes, not ${SIGNATURE_LENGTH}`);
  // Moddable's ECDSA never returns for s = 0, so out-of-range scalars stop here, before any port.
  if (algorithm === "ES256" && !(scalarInRange(signature, 0) && scalarInRange(signature, 32))) {
    fail("bad-signature", "ES256 r or s is outside [1, n-1]");
  }

  const toBeSigned = sigStructure(parts.protectedBytes, options.externalAad ?? EMPTY, payload);
  if (!crypto.verify(algorithm, key, toBeSigned, signature)) fail("bad-signature", "signature does not verify");
  return { payload, key, alg: algorithm, protectedHeader, unprotectedHeader };
}

function findKey(keys: KeyRing | CoseKey, kid: Uint8Array | undefined): CoseKey {
  if ("find" in keys) {
    if (kid === undefined) return fail("unknown-kid", "the message names no kid");
    const key = keys.find(kid);
    if (key === undefined) fail("unknown-kid", `no trusted key with kid ${toHex(kid)}`);
    return key;
  }
  if (kid !== undefined && toHex(kid) !== toHex(keys.kid)) fail("unknown-kid", `message kid ${toHex(kid)} is not the key's ${toHex(keys.kid)}`);
  return keys;
}

interface Sign1Parts {
  protectedBytes: Uint8Array;
  protectedHeader: CborMap;
  unprotectedHeader: CborMap;
  payload: Uint8Array | null;
  signature: Uint8Array;
}

/** Splits a COSE_Sign1 into its parts and checks the header rules; checks no signature. */
export function parseSign1(message: Uint8Array, options: VerifyOptions = {}): Sign1Parts {
  let item = decode(message, options.limits);
  const tagRule = options.tag ?? "optional";
  if (item instanceof CborTag) {
    if (item.tag !== TAG_COSE_SIGN1) fail("cose-bad-tag", `tag ${String(item.tag)} is not COSE_Sign1 (18)`);
    if (tagRule === "forbidden") fail("cose-tagged", "expected an untagged COSE_Sign1");
    item = item.value;
  } else if (tagRule === "required") {
    fail("cose-untagged", "expected tag 18 (COSE_Sign1)");
  }
  if (!Array.isArray(item) || item.length !== 4) return fail("cose-malformed", "COSE_Sign1 is not an array of four");
  const [protectedBytes, unprotectedHeader, payload, signature] = item;
  if (!(protectedBytes instanceof Uint8Array)) return fail("cose-malformed", "protected header is not a byte string");
  if (!(unprotectedHeader instanceof Map)) return fail("cose-malformed", "unprotected header is not a map");
  if (!(payload instanceof Uint8Array) && payload !== null) return fail("cose-malformed", "payload is neither bytes nor nil");
  if (!(signature instanceof Uint8Array)) return fail("cose-malformed", "signature is not a byte string");

  // A zero-length bstr is the empty protected header (RFC 9052 section 3).
  const protectedHeader = protectedBytes.length === 0 ? new Map() : decode(protectedBytes, options.limits);
  if (!(protectedHeader instanceof Map)) return fail("cose-malformed", "protected header is not a map");
  for (const label of protectedHeader.keys()) {
    if (unprotectedHeader.has(label)) fail("cose-duplicate-header", `header ${String(label)} is both protected and unprotected`);
  }
  if (unprotectedHeader.has(HEADER_CRIT)) fail("cose-malformed", "crit must be protected");
  const crit = protectedHeader.get(HEADER_CRIT);
  if (crit !== undefined) {
    if (!Array.isArray(crit) || crit.length === 0) fail("cose-malformed", "crit must be a non-empty array");
    for (const label of crit) {
      if (typeof label !== "number" || UNDERSTOOD_HEADERS.indexOf(label) < 0) fail("cose-unknown-critical", `critical header ${String(label)} is not understood`);
    }
  }
  return { protectedBytes, protectedHeader, unprotectedHeader, payload, signature };
}

/** True when the 32-byte big-endian scalar at `offset` lies in [1, n-1] for P-256. */
function scalarInRange(signature: Uint8Array, offset: number): boolean {
  // The signature is public: no need for a constant-time scan. The first byte that differs from n
  // decides between "above n" and "below n"; a scalar below n is in range unless it is zero.
  for (let i = 0; i < 32; i++) {
    const b = signature[offset + i];
    if (b !== P256_ORDER[i]) {
      if (b > P256_ORDER[i]) return false;
      // Below n. Past the first byte, the bytes before i equal n's, whose first byte (0xff) is not zero.
      if (i > 0 || b !== 0) return true;
      for (let j = 1; j < 32; j++) if (signature[offset + j] !== 0) return true;
      return false;
    }
  }
  return false; // equal to n
}
