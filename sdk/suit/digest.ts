// SUIT_Digest = [algorithm-id, digest-bytes], and the byte-string wrapping that SUIT digests cover.
//
// SUIT computes every digest over a bstr-wrapped structure INCLUDING its bstr head (the manifest at
// envelope key 3, each severable member), so that the digested bytes have known bounds. The strict
// decoder returns byte strings as views into the input, and accepts only the shortest head for a
// length; receivedBstr recovers the exact wrapped bytes as received, head and all, without a copy.
//
// Refusals (stable codes): suit-malformed, suit-unsupported-digest.

import { fail } from "../errors";
import { decode } from "../cbor/decode";
import { encode } from "../cbor/encode";
import type { CborValue, DecodeOptions } from "../cbor/types";
import { COSE_ALG_SHA256, SHA256_LENGTH } from "./labels";

export interface SuitDigest {
  /** COSE algorithm id; Gatehouse supports SHA-256 (-16) only. */
  readonly algorithm: number;
  readonly bytes: Uint8Array;
}

/** A SUIT_Digest from its decoded CBOR form. Only SHA-256 is supported (the draft's mandatory one). */
export function digestFromCbor(value: CborValue, what: string): SuitDigest {
  if (!Array.isArray(value)) return fail("suit-malformed", `${what} is not a SUIT_Digest array`);
  // Extensions after the digest bytes are allowed by the CDDL, but none is defined: refuse them
  // rather than ignore something that might qualify the digest.
  if (value.length !== 2) return fail("suit-malformed", `${what} must be [algorithm-id, digest-bytes]`);
  const [algorithm, bytes] = value;
  if (typeof algorithm !== "number" || !Number.isInteger(algorithm)) return fail("suit-malformed", `${what} algorithm id is not an integer`);
  if (algorithm !== COSE_ALG_SHA256) return fail("suit-unsupported-digest", `${what} uses COSE algorithm ${algorithm}; only SHA-256 (-16) is supported`);
  if (!(bytes instanceof Uint8Array) || bytes.length !== SHA256_LENGTH) return fail("suit-malformed", `${what} must hold ${SHA256_LENGTH} digest bytes`);
  return { algorithm, bytes };
}

/** Decodes the content of a bstr-wrapped SUIT_Digest. */
export function decodeDigest(encoded: Uint8Array, what: string, options: DecodeOptions): SuitDigest {
  return digestFromCbor(decode(encoded, options), what);
}

export function digestToCbor(digest: SuitDigest): CborValue {
  return [digest.algorithm, digest.bytes];
}

export function encodeDigest(digest: SuitDigest): Uint8Array {
  return encode(digestToCbor(digest));
}

export function sha256Digest(bytes: Uint8Array): SuitDigest {
  if (bytes.length !== SHA256_LENGTH) fail("suit-malformed", `a SHA-256 digest is ${SHA256_LENGTH} bytes, not ${bytes.length}`);
  return { algorithm: COSE_ALG_SHA256, bytes };
}

/** Length of the shortest CBOR head for a byte string of `length` bytes. */
function headLength(length: number): number {
  return length < 24 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : length < 0x100000000 ? 5 : 9;
}

/**
 * The encoded byte string whose content is `content`, as it stands in `input`: `content` must be a view
 * into `input` made by the decoder (which accepts only shortest heads).
 */
export function receivedBstr(input: Uint8Array, content: Uint8Array): Uint8Array {
  const head = headLength(content.length);
  const start = content.byteOffset - input.byteOffset - head;
  const end = content.byteOffset - input.byteOffset + content.length;
  // A content that is not a view into input (a copy) cannot be located; say so instead of guessing.
  if (content.buffer !== input.buffer || start < 0 || end > input.length || input[start] >> 5 !== 2) {
    fail("internal", "a byte string is not a view into the decoded input");
  }
  return input.subarray(start, end);
}
