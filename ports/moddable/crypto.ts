// The crypto port on the device: Moddable's native SHA-256 (`crypt` Digest) and its ECDSA
// (`ecdsa` + `curve` + `ecp`, BigInt arithmetic in C). See docs/moddable.md section 5.
//
// - ES256 verify: hash with Digest, then ECDSA.verify(hash, r||s, false). High-S signatures verify.
// - ES256 sign: @noble/curves (deterministic RFC 6979 nonces). Moddable's own ECDSA signer draws its
//   nonce from the RC4-based `rng` module, and a guessable nonce gives the private key away. Pure-JS
//   signing is slow on the ESP32 (about 0.5 s per signature, docs/moddable.md section 11): it is the
//   price of signing every publication until a native deterministic signer is wired through FFI.
// - EdDSA: stock Moddable has no Ed25519; both verify and sign refuse with "alg-unsupported".
//
// The manifest must include the crypt digest module and, from $(MODULES)/crypt, `ecdsa`, `curve`,
// `ecp`, `ec`, `mont`, `modular`, `pkcs1`, `ber`, `rng` (ecdsa.js imports rng even when unused).

import { Digest } from "crypt";
import Curve from "curve";
import ECDSA from "ecdsa";
import ECPoint from "ecp";
import type { CoseKey, SignatureAlgorithm } from "../../sdk/cose/key";
import type { CryptoPort } from "../../sdk/ports/crypto";
import { fail } from "../sdk";
import { signEs256 } from "../noble/es256-sign";

const SIGNATURE_LENGTH = 64;
const COORDINATE_LENGTH = 32;

let digest: Digest | undefined;
let secp256r1: Curve | undefined;
const verifiers = new WeakMap<CoseKey, ECDSA>();

/** The bytes as an ArrayBuffer of exactly their length (no copy when the view spans its buffer). */
function arrayBufferOf(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  return bytes.slice().buffer as ArrayBuffer;
}

function bytesToBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (let i = 0; i < bytes.length; i++) value = (value << 8n) | BigInt(bytes[i]);
  return value;
}

function bigIntToBytes(value: bigint, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    bytes[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return bytes;
}

function sha256Parts(parts: readonly Uint8Array[]): Uint8Array {
  digest ??= new Digest("SHA256");
  digest.reset();
  for (const part of parts) digest.write(arrayBufferOf(part));
  return new Uint8Array(digest.close());
}

function curve(): Curve {
  secp256r1 ??= new Curve("secp256r1");
  return secp256r1;
}

function checkEs256Key(alg: SignatureAlgorithm, key: CoseKey): void {
  if (alg !== "ES256") fail("alg-unsupported", `${alg} is not available on this device (stock Moddable has ES256 only)`);
  if (key.alg !== alg) fail("alg-not-allowed", `key is for ${key.alg}, not ${alg}`);
  if (key.x.length !== COORDINATE_LENGTH || key.y?.length !== COORDINATE_LENGTH) fail("key-invalid", "ES256 key x and y must be 32 bytes");
}

/** P-256: field prime p and curve coefficient b (a = -3). */
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;

/** Moddable's ECPoint does not check that a point lies on the curve: y^2 = x^3 - 3x + b (mod p). */
function onCurve(x: bigint, y: bigint): boolean {
  if (x >= P || y >= P) return false;
  return (y * y) % P === (((x * x) % P) * x - 3n * x + B + 3n * P) % P;
}

function verifierFor(key: CoseKey): ECDSA {
  let verifier = verifiers.get(key);
  if (verifier === undefined) {
    if (!onCurve(bytesToBigInt(key.x), bytesToBigInt(key.y!))) fail("key-invalid", "ES256 public key is not a point of P-256");
    const point = new Uint8Array(1 + 2 * COORDINATE_LENGTH);
    point[0] = 0x04;
    point.set(key.x, 1);
    point.set(key.y!, 1 + COORDINATE_LENGTH);
    verifier = new ECDSA(ECPoint.fromOctetString(point), curve());
    verifiers.set(key, verifier);
  }
  return verifier;
}

/**
 * The hash as the integer e mod n, 32 bytes: what ECDSA uses (equal to bits2int(H) except for the
 * rare H >= n). Handing Moddable the reduced value keeps its modular code within its usual range.
 */
function hashModN(hash: Uint8Array, n: bigint): ArrayBuffer {
  const e = bytesToBigInt(hash);
  return e < n ? arrayBufferOf(hash) : arrayBufferOf(bigIntToBytes(e - n, COORDINATE_LENGTH));
}

/** r and s both in [1, n-1]: Moddable's verify never returns for s = 0. */
function scalarsInRange(signature: Uint8Array, n: bigint): boolean {
  const r = bytesToBigInt(signature.subarray(0, COORDINATE_LENGTH));
  const s = bytesToBigInt(signature.subarray(COORDINATE_LENGTH, SIGNATURE_LENGTH));
  return r >= 1n && r < n && s >= 1n && s < n;
}

export const moddableCrypto: CryptoPort = {
  verify(alg: SignatureAlgorithm, key: CoseKey, message: Uint8Array, signature: Uint8Array): boolean {
    checkEs256Key(alg, key);
    if (signature.length !== SIGNATURE_LENGTH) return false;
    // The core checks this too; a port that can hang the device on one crafted message checks again.
    if (!scalarsInRange(signature, curve().n)) return false;
    const verifier = verifierFor(key);
    const hash = hashModN(sha256Parts([message]), curve().n);
    try {
      return verifier.verify(hash, arrayBufferOf(signature), false);
    } catch {
      return false;
    }
  },

  sign(alg: SignatureAlgorithm, key: CoseKey, message: Uint8Array): Uint8Array {
    checkEs256Key(alg, key);
    const d = key.d;
    if (d?.length !== COORDINATE_LENGTH) return fail("key-invalid", "not a private key (d must be 32 bytes)");
    return signEs256(d, message);
  },

  sha256(data: Uint8Array): Uint8Array {
    return sha256Parts([data]);
  },
};
