// The device's update trust, as a document it keeps, and trust updates: how update keys rotate and the
// minimum security epoch rises (issue 7, item 2; docs/protocol.md section 8).
//
//   update-trust.cbor = { "seq": uint, "threshold": uint, "keys": [+ COSE_Key (public)], "minEpoch": uint }
//
// `gatehouse provision --update-key FILE.pub... --update-threshold K` writes the first one (seq 0,
// minEpoch 0); the device keeps it in its storage. A trust update carries the next one, signed by update
// keys with COSE_Sign1 over the document's bytes (detached payload, external AAD "gatehouse
// update-trust v1": a manifest signature can never pass as a trust update, nor the reverse):
//
//   trust update = [ document: bstr .cbor update-trust, signatures: [+ bstr .cbor COSE_Sign1_Tagged] ]
//
// The device accepts it only when, in this order: the signatures verify under its CURRENT keys and meet
// its CURRENT threshold (k of n, as for a SUIT envelope: sdk/suit/envelope.ts verifyThreshold), and only
// then is the document decoded; its seq is greater than the current one; its keys and threshold make a
// valid trust (1 <= threshold <= keys, at most 8 keys, no key twice); its minEpoch is not lower. So a
// compromised key is removed by the others, and the epoch only ever goes up.
//
// Refusals (stable codes): update-trust-malformed, update-trust-stale, update-trust-epoch,
// suit-trust-invalid, and the k-of-n codes (suit-unsigned, suit-too-many-signatures,
// suit-threshold-not-met).

import { fail } from "../errors";
import { decode } from "../cbor/decode";
import { encode, utf8 } from "../cbor/encode";
import type { CborMap, CborValue } from "../cbor/types";
import { keyFromMap, keyToMap, publicKey, type CoseKey } from "../cose/key";
import { sign1 } from "../cose/sign1";
import type { CryptoPort } from "../ports/crypto";
import { verifyThreshold } from "../suit/envelope";
import { DEFAULT_SUIT_LIMITS } from "../suit/limits";
import { createUpdateTrust, MAX_UPDATE_KEYS, type UpdateTrust } from "../suit/trust";

/** External AAD of a trust update's signatures. */
export const TRUST_UPDATE_AAD = "gatehouse update-trust v1";

/** A trust document is stored whole in one storage value (at most 4000 bytes): 8 ES256 keys take about 900. */
export const MAX_TRUST_DOCUMENT_BYTES = 2048;
/** A trust update: the document and at most 8 signatures of about 100 bytes each. */
export const MAX_TRUST_UPDATE_BYTES = 4096;

const DOCUMENT_LIMITS = { maxLength: MAX_TRUST_DOCUMENT_BYTES, maxStringLength: 128, maxDepth: 4, maxItems: 128 };
const UPDATE_LIMITS = { maxLength: MAX_TRUST_UPDATE_BYTES, maxStringLength: MAX_TRUST_DOCUMENT_BYTES, maxDepth: 3, maxItems: 16 };
const FIELDS = ["keys", "minEpoch", "seq", "threshold"];

export interface UpdateTrustDocument {
  /** Raised by every trust update; 0 as provisioned. */
  readonly seq: number;
  readonly threshold: number;
  /** Public update keys. */
  readonly keys: readonly CoseKey[];
  /** The device refuses any build, and any rollback target, below this security epoch. */
  readonly minEpoch: number;
}

function isUint(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** The update trust a verifier takes (checked: no repeated key, threshold within 1..keys). */
export function trustOf(document: UpdateTrustDocument): UpdateTrust {
  return createUpdateTrust(document.keys, document.threshold);
}

/** The document's deterministic CBOR. Its keys and threshold must make a valid trust (suit-trust-invalid). */
export function encodeTrustDocument(document: UpdateTrustDocument): Uint8Array {
  for (const field of ["seq", "minEpoch"] as const) {
    if (!isUint(document[field])) fail("update-trust-malformed", `${field} must be an unsigned integer below 2^53`);
  }
  trustOf(document);
  const bytes = encode({
    seq: document.seq,
    threshold: document.threshold,
    keys: document.keys.map((key): CborValue => keyToMap(publicKey(key), false)),
    minEpoch: document.minEpoch,
  });
  if (bytes.length > MAX_TRUST_DOCUMENT_BYTES) fail("update-trust-malformed", `the trust document is ${bytes.length} bytes, more than ${MAX_TRUST_DOCUMENT_BYTES}`);
  return bytes;
}

/** Reads a trust document (strict CBOR, exactly its four fields, a valid trust). */
export function decodeTrustDocument(bytes: Uint8Array): UpdateTrustDocument {
  let map: CborValue;
  try {
    map = decode(bytes, DOCUMENT_LIMITS);
  } catch (e) {
    return fail("update-trust-malformed", `the trust document is not deterministic CBOR within its limits: ${(e as Error).message}`);
  }
  if (!(map instanceof Map)) return fail("update-trust-malformed", "the trust document is not a map");
  for (const key of map.keys()) if (typeof key !== "string" || FIELDS.indexOf(key) < 0) fail("update-trust-malformed", `the trust document has an unknown field ${String(key)}`);
  const get = (field: string): CborValue => (map as CborMap).get(field);
  for (const field of ["seq", "threshold", "minEpoch"]) if (!isUint(get(field))) fail("update-trust-malformed", `the trust document's ${field} is not an unsigned integer`);
  const list = get("keys");
  if (!Array.isArray(list)) return fail("update-trust-malformed", "the trust document's keys are not a list");
  if (list.length > MAX_UPDATE_KEYS) fail("suit-trust-invalid", `the trust document names ${list.length} keys; at most ${MAX_UPDATE_KEYS}`);
  const keys = list.map((entry) => {
    const key = keyFromMap(entry);
    if (key.d !== undefined) fail("update-trust-malformed", "the trust document holds a private key");
    return key;
  });
  const document: UpdateTrustDocument = { seq: get("seq") as number, threshold: get("threshold") as number, keys, minEpoch: get("minEpoch") as number };
  trustOf(document);
  return document;
}

/**
 * A trust update carrying `document`, signed by each of `signers` (private update keys of the CURRENT
 * trust: at least its threshold of them must sign). Host side (`gatehouse update trust`), but device-safe.
 */
export function signTrustUpdate(crypto: CryptoPort, document: UpdateTrustDocument, signers: readonly CoseKey[]): Uint8Array {
  if (signers.length === 0) fail("update-trust-malformed", "a trust update needs at least one signature");
  if (signers.length > DEFAULT_SUIT_LIMITS.maxSignatures) fail("update-trust-malformed", `at most ${DEFAULT_SUIT_LIMITS.maxSignatures} signatures; devices check no more`);
  const bytes = encodeTrustDocument(document);
  const aad = utf8(TRUST_UPDATE_AAD);
  const signatures = signers.map((key) => {
    if (key.d === undefined) fail("update-trust-malformed", "signing a trust update needs private keys");
    return sign1(crypto, key, bytes, { detached: true, externalAad: aad });
  });
  return encode([bytes, signatures]);
}

/**
 * The document a trust update carries, when the device may take it: verified under `current` (its keys,
 * its threshold) before the document is read, then newer, and never lowering the minimum epoch. The
 * caller persists the result (atomically: one storage value).
 */
export function acceptTrustUpdate(crypto: CryptoPort, message: Uint8Array, current: UpdateTrustDocument): UpdateTrustDocument {
  let outer: CborValue;
  try {
    outer = decode(message, UPDATE_LIMITS);
  } catch (e) {
    return fail("update-trust-malformed", `the trust update is not deterministic CBOR within its limits: ${(e as Error).message}`);
  }
  if (!Array.isArray(outer) || outer.length !== 2 || !(outer[0] instanceof Uint8Array) || !Array.isArray(outer[1])) {
    return fail("update-trust-malformed", "a trust update is [document bytes, [signatures]]");
  }
  const [bytes, signatures] = outer as [Uint8Array, CborValue[]];
  for (const s of signatures) if (!(s instanceof Uint8Array)) fail("update-trust-malformed", "a signature of a trust update is not a byte string");
  verifyThreshold(crypto, signatures as Uint8Array[], bytes, trustOf(current), DEFAULT_SUIT_LIMITS, utf8(TRUST_UPDATE_AAD));
  const next = decodeTrustDocument(bytes);
  if (next.seq <= current.seq) fail("update-trust-stale", `the trust update's seq ${next.seq} is not newer than the trust in force (${current.seq})`);
  if (next.minEpoch < current.minEpoch) fail("update-trust-epoch", `the trust update would lower the minimum security epoch from ${current.minEpoch} to ${next.minEpoch}`);
  return next;
}
