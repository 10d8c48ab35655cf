// The crypto port on Node: node:crypto (OpenSSL). Host side only (server, CLI, provisioning, tests).
//
// ES256 is ECDSA P-256 with SHA-256, signatures as raw r||s (IEEE P1363, 64 bytes); OpenSSL accepts
// high-S signatures, as COSE requires. EdDSA is pure Ed25519 (RFC 8032); OpenSSL rejects S >= L and
// a non-canonical R.
//
// Ed25519 public keys: OpenSSL skips two checks of RFC 8032's point decoding (y >= p, and x = 0 with the
// sign bit set) and accepts small-order keys, for which a signature (R, S = 0) verifies on every message.
// @noble (zip215: false) refuses all of them, so this port refuses them too, once per key: verify then
// returns false, as it does on the noble port.
//
// Speed: building a KeyObject from a JWK costs far more than a verify, so KeyObjects are cached per
// CoseKey object (WeakMap: the entry goes away with the key). A CoseKey is treated as immutable: do not
// change the bytes of a key after it has been used.

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type JsonWebKey, type KeyObject } from "node:crypto";
import type { CoseKey, SignatureAlgorithm } from "../../sdk/cose/key";
import type { CryptoPort, KeyGenerator, Sha256Stream } from "../../sdk/ports/crypto";
import { fail } from "../../sdk/errors";

const SIGNATURE_LENGTH = 64;
const COORDINATE_LENGTH = 32;

/** null: an Ed25519 public key that no signature verifies under (see above). */
const publicKeys = new WeakMap<CoseKey, KeyObject | null>();
const privateKeys = new WeakMap<CoseKey, KeyObject>();

/** The points of order 1, 2, 4 and 8 (canonical encodings), and the two x = 0 points with the sign bit set. */
const ED25519_SMALL_ORDER = new Set([
  "0100000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000080",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0000000000000000000000000000000000000000000000000000000000000080",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
]);

/** RFC 8032 section 5.1.3 decodes y only below p = 2^255 - 19 (the sign bit aside). */
function ed25519YBelowP(x: Uint8Array): boolean {
  if ((x[31]! & 0x7f) !== 0x7f) return true;
  for (let i = 30; i >= 1; i--) if (x[i] !== 0xff) return true;
  return x[0]! < 0xed;
}

function ed25519KeyUsable(x: Uint8Array): boolean {
  return ed25519YBelowP(x) && !ED25519_SMALL_ORDER.has(Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString("hex"));
}

function b64u(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

/** A plain Uint8Array copy of base64url text (never a Buffer, never a view of Node's buffer pool). */
function fromB64u(text: string | undefined, what: string): Uint8Array {
  if (typeof text !== "string") return fail("key-invalid", `exported JWK has no ${what}`);
  return new Uint8Array(Buffer.from(text, "base64url"));
}

function checkKey(alg: SignatureAlgorithm, key: CoseKey): void {
  if (key.alg !== alg) fail("alg-not-allowed", `key is for ${key.alg}, not ${alg}`);
  if (key.x.length !== COORDINATE_LENGTH) fail("key-invalid", `${alg} key x must be ${COORDINATE_LENGTH} bytes`);
  if (alg === "ES256" && key.y?.length !== COORDINATE_LENGTH) fail("key-invalid", `ES256 key y must be ${COORDINATE_LENGTH} bytes`);
}

function jwkOf(key: CoseKey, withPrivate: boolean): JsonWebKey {
  const jwk: JsonWebKey =
    key.alg === "ES256"
      ? { kty: "EC", crv: "P-256", x: b64u(key.x), y: b64u(key.y!) }
      : { kty: "OKP", crv: "Ed25519", x: b64u(key.x) };
  if (withPrivate) {
    if (key.d?.length !== COORDINATE_LENGTH) fail("key-invalid", "not a private key (d must be 32 bytes)");
    jwk.d = b64u(key.d);
  }
  return jwk;
}

function publicKeyObject(alg: SignatureAlgorithm, key: CoseKey): KeyObject | null {
  let object = publicKeys.get(key);
  if (object === undefined) {
    checkKey(alg, key);
    if (alg === "EdDSA" && !ed25519KeyUsable(key.x)) {
      publicKeys.set(key, null);
      return null;
    }
    try {
      object = createPublicKey({ key: jwkOf(key, false), format: "jwk" });
    } catch (e) {
      return fail("key-invalid", `${alg} public key is not a valid point: ${(e as Error).message}`);
    }
    publicKeys.set(key, object);
  } else if (key.alg !== alg) {
    fail("alg-not-allowed", `key is for ${key.alg}, not ${alg}`);
  }
  return object;
}

function privateKeyObject(alg: SignatureAlgorithm, key: CoseKey): KeyObject {
  let object = privateKeys.get(key);
  if (object === undefined) {
    checkKey(alg, key);
    const jwk = jwkOf(key, true);
    try {
      object = createPrivateKey({ key: jwk, format: "jwk" });
    } catch (e) {
      return fail("key-invalid", `${alg} private key is invalid: ${(e as Error).message}`);
    }
    privateKeys.set(key, object);
  } else if (key.alg !== alg) {
    fail("alg-not-allowed", `key is for ${key.alg}, not ${alg}`);
  }
  return object;
}

function toPlain(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer); // copies: the result never aliases a Buffer (or its pool)
}

export const nodeCrypto: CryptoPort & KeyGenerator = {
  verify(alg: SignatureAlgorithm, key: CoseKey, message: Uint8Array, signature: Uint8Array): boolean {
    const object = publicKeyObject(alg, key);
    if (object === null || signature.length !== SIGNATURE_LENGTH) return false;
    try {
      return alg === "ES256"
        ? verify("sha256", message, { key: object, dsaEncoding: "ieee-p1363" }, signature)
        : verify(null, message, object, signature);
    } catch {
      return false; // OpenSSL refusing the signature's bytes is a bad signature, not an error
    }
  },

  sign(alg: SignatureAlgorithm, key: CoseKey, message: Uint8Array): Uint8Array {
    const object = privateKeyObject(alg, key);
    return toPlain(alg === "ES256" ? sign("sha256", message, { key: object, dsaEncoding: "ieee-p1363" }) : sign(null, message, object));
  },

  sha256(data: Uint8Array): Uint8Array {
    return toPlain(createHash("sha256").update(data).digest());
  },

  createSha256(): Sha256Stream {
    const hash = createHash("sha256");
    return {
      update: (data) => void hash.update(data),
      digest: () => toPlain(hash.digest()),
    };
  },

  generateKey(alg: SignatureAlgorithm, kid: Uint8Array): CoseKey {
    if (alg !== "ES256" && alg !== "EdDSA") fail("alg-unknown", `cannot generate a key for ${String(alg)}`);
    const pair = alg === "ES256" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : generateKeyPairSync("ed25519");
    const jwk = pair.privateKey.export({ format: "jwk" });
    const key: CoseKey =
      alg === "ES256"
        ? { alg, kid: kid.slice(), x: fromB64u(jwk.x, "x"), y: fromB64u(jwk.y, "y"), d: fromB64u(jwk.d, "d") }
        : { alg, kid: kid.slice(), x: fromB64u(jwk.x, "x"), d: fromB64u(jwk.d, "d") };
    publicKeys.set(key, pair.publicKey);
    privateKeys.set(key, pair.privateKey);
    return key;
  },
};
