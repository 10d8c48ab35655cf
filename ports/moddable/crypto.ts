// The crypto port on Moddable: native SHA-256 (`crypt` Digest) and ES256 on Moddable's ECDSA (`ecdsa` over
// `curve`, `ec` and `Mont`: BigInt and elliptic-curve arithmetic in C); $(MODDABLE)/documentation/crypt/crypt.md.
//
// - ES256 verify: hash with Digest, then ECDSA.verify(hash, r||s, false). High-S signatures verify.
// - ES256 sign: Moddable's ECDSA with its nonce `k` set from RFC 6979 (./rfc6979: HMAC-SHA256 over the
//   private key and the hash), never from `rng`, the RC4-based generator its signer would otherwise use.
// - EdDSA: stock Moddable has no Ed25519; verify and sign refuse with "alg-unsupported".
//
// The root manifest.json maps what this needs: the crypt Digest, `ecdsa`, `curve`, `hmac`, `ecp`, `ec`,
// `mont`, `pkcs1`, `ber`, `bin`, and `rng` (ecdsa.js imports it; nothing here calls it).

import { Digest } from "crypt";
import Curve from "curve";
import ECDSA from "ecdsa";
import ECPoint from "ecp";
import { fail, type CoseKey, type CryptoPort, type Sha256Stream, type SignatureAlgorithm } from "gatehouse/sdk";
import { bigIntToBytes, bytesToBigInt, Rfc6979Nonces } from "./rfc6979";

const SIGNATURE_LENGTH = 64;
const COORDINATE_LENGTH = 32;

/** P-256: field prime p and curve coefficient b (a = -3). */
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;

// Made on first use: the root manifest preloads this module, and a WeakMap made at build time would be
// read-only on the device (and a Digest or Curve cannot be made then: their constructors are native).
let digest: Digest | undefined;
let secp256r1: Curve | undefined;
let verifiers: WeakMap<CoseKey, ECDSA> | undefined;
let privateScalars: WeakMap<CoseKey, bigint> | undefined;

/** The bytes as an ArrayBuffer of exactly their length (no copy when the view spans its buffer). */
function arrayBufferOf(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  return bytes.slice().buffer;
}

function sha256(data: Uint8Array): Uint8Array {
  digest ??= new Digest("SHA256");
  digest.reset();
  digest.write(arrayBufferOf(data));
  return new Uint8Array(digest.close());
}

/**
 * A Digest of its own per stream (an image hashed while it is written, next to signatures that use the
 * shared one). Pieces go in as ArrayBuffers, as the typing says (a view that does not span its buffer is
 * copied, as sha256 does).
 */
function createSha256(): Sha256Stream {
  const stream = new Digest("SHA256");
  return {
    update: (data) => stream.write(arrayBufferOf(data)),
    digest: () => new Uint8Array(stream.close()),
  };
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

/** Moddable's ECPoint does not check that a point lies on the curve: y^2 = x^3 - 3x + b (mod p). */
function onCurve(x: bigint, y: bigint): boolean {
  if (x >= P || y >= P) return false;
  return (y * y) % P === (((x * x) % P) * x - 3n * x + B + 3n * P) % P;
}

function verifierFor(key: CoseKey): ECDSA {
  verifiers ??= new WeakMap();
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

function privateScalar(key: CoseKey): bigint {
  privateScalars ??= new WeakMap();
  let d = privateScalars.get(key);
  if (d === undefined) {
    if (key.d?.length !== COORDINATE_LENGTH) return fail("key-invalid", "not a private key (d must be 32 bytes)");
    d = bytesToBigInt(key.d);
    if (d < 1n || d >= curve().n) fail("key-invalid", "ES256 private key is outside [1, n-1]");
    privateScalars.set(key, d);
  }
  return d;
}

/**
 * The hash as the integer e mod n, 32 bytes: what ECDSA uses (equal to bits2int(H) except for the rare
 * H >= n). Moddable's ECDSA takes the whole hash as e; handing it the reduced value keeps its modular code
 * within its usual range.
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

/**
 * Signs a 32-byte hash with private scalar d; the nonce is RFC 6979's. Moddable's ECDSA reads `k` from its
 * curve argument when constructed, so each signature gets a signer of its own with that k: nothing is left
 * behind that a later signature could reuse. Moddable returns r = (k*G).x without reducing it mod n; a
 * result outside [1, n-1] (about 2^-128 likely) moves on to the next nonce, as RFC 6979 step h.3 says.
 * (Its signer loops forever on s = 0, which a hash would have to hit with probability 2^-256.)
 */
export function signHash(d: bigint, hash: Uint8Array): Uint8Array {
  const c = curve();
  const e = hashModN(hash, c.n);
  const nonces = new Rfc6979Nonces(bigIntToBytes(d, COORDINATE_LENGTH), hash, c.n);
  for (;;) {
    const signer = new ECDSA(d, { G: c.G, ec: c.ec, n: c.n, orderSize: c.orderSize, k: nonces.next() });
    const signature = new Uint8Array(signer.sign(e, false));
    if (signature.length === SIGNATURE_LENGTH && scalarsInRange(signature, c.n)) return signature;
  }
}

export const moddableCrypto: CryptoPort = {
  verify(alg: SignatureAlgorithm, key: CoseKey, message: Uint8Array, signature: Uint8Array): boolean {
    checkEs256Key(alg, key);
    if (signature.length !== SIGNATURE_LENGTH) return false;
    // The core checks this too; a port that can hang the device on one crafted message checks again.
    if (!scalarsInRange(signature, curve().n)) return false;
    const verifier = verifierFor(key);
    const hash = hashModN(sha256(message), curve().n);
    try {
      return verifier.verify(hash, arrayBufferOf(signature), false);
    } catch {
      return false;
    }
  },

  sign(alg: SignatureAlgorithm, key: CoseKey, message: Uint8Array): Uint8Array {
    checkEs256Key(alg, key);
    return signHash(privateScalar(key), sha256(message));
  },

  sha256,
  createSha256,
};
