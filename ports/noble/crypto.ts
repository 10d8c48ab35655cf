// The crypto port in pure JavaScript (@noble/curves 2.4.0, @noble/hashes 2.4.0). It runs on Node and
// inside XS (test/xs): no Node built-ins, no Buffer, nothing random. Signing is deterministic
// (RFC 6979 for ES256, RFC 8032 for Ed25519), so it needs no RNG.
//
// Policy, explicit in every call rather than left to noble's defaults:
// - ES256: message hashed with SHA-256 by noble (`prehash: true`), raw 64-byte r||s (`format:
//   "compact"`), high-S ACCEPTED (`lowS: false`: COSE does not require low-S and OpenSSL signs high-S
//   half the time). Signing does not normalise s either, so signatures are plain RFC 6979 ones.
// - EdDSA: strict RFC 8032 (`zip215: false`: canonical encodings only, S < L).

import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { sha256 } from "@noble/hashes/sha2.js";
import type { CoseKey, SignatureAlgorithm } from "../../sdk/cose/key";
import type { CryptoPort, Sha256Stream } from "../../sdk/ports/crypto";
import { fail } from "../../sdk/errors";

const SIGNATURE_LENGTH = 64;
const COORDINATE_LENGTH = 32;

const ES256_VERIFY = { prehash: true, lowS: false, format: "compact" } as const;
const ES256_SIGN = { prehash: true, lowS: false, format: "compact", extraEntropy: false } as const;
const EDDSA_VERIFY = { zip215: false } as const;

// Without this, the first Ed25519 operation builds a wNAF table for the base point (W=6, over a
// thousand points): too big for an ESP32 heap without PSRAM (the like table noble builds for P-256 grew the heap
// by about 180 KB on lin). Window 1
// means no table: verification then costs about 40% more. This only records the window size.
ed25519.Point.BASE.precompute(1);

function checkKey(alg: SignatureAlgorithm, key: CoseKey): void {
  if (key.alg !== alg) fail("alg-not-allowed", `key is for ${key.alg}, not ${alg}`);
  if (key.x.length !== COORDINATE_LENGTH) fail("key-invalid", `${alg} key x must be ${COORDINATE_LENGTH} bytes`);
  if (alg === "ES256" && key.y?.length !== COORDINATE_LENGTH) fail("key-invalid", `ES256 key y must be ${COORDINATE_LENGTH} bytes`);
}

/** Checked SEC 1 public points (0x04 || x || y), per key object. */
const p256Points = new WeakMap<CoseKey, Uint8Array>();

function p256PublicKey(key: CoseKey): Uint8Array {
  let point = p256Points.get(key);
  if (point === undefined) {
    point = new Uint8Array(1 + 2 * COORDINATE_LENGTH);
    point[0] = 0x04;
    point.set(key.x, 1);
    point.set(key.y!, 1 + COORDINATE_LENGTH);
    try {
      p256.Point.fromBytes(point); // throws unless the point is on the curve
    } catch {
      return fail("key-invalid", "ES256 public key is not a point of P-256");
    }
    p256Points.set(key, point);
  }
  return point;
}

export const nobleCrypto: CryptoPort = {
  verify(alg: SignatureAlgorithm, key: CoseKey, message: Uint8Array, signature: Uint8Array): boolean {
    checkKey(alg, key);
    const point = alg === "ES256" ? p256PublicKey(key) : key.x;
    if (signature.length !== SIGNATURE_LENGTH) return false;
    try {
      return alg === "ES256"
        ? p256.verify(signature, message, point, ES256_VERIFY)
        : ed25519.verify(signature, message, point, EDDSA_VERIFY);
    } catch {
      return false; // noble returns false for most bad input, but throws for some malformed values
    }
  },

  sign(alg: SignatureAlgorithm, key: CoseKey, message: Uint8Array): Uint8Array {
    checkKey(alg, key);
    const d = key.d;
    if (d?.length !== COORDINATE_LENGTH) return fail("key-invalid", "not a private key (d must be 32 bytes)");
    return alg === "ES256" ? p256.sign(message, d, ES256_SIGN) : ed25519.sign(message, d);
  },

  sha256(data: Uint8Array): Uint8Array {
    return sha256(data);
  },

  createSha256(): Sha256Stream {
    const state = sha256.create();
    return {
      update: (data) => void state.update(data),
      digest: () => state.digest(),
    };
  },
};
