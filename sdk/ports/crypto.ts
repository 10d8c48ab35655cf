// The crypto port: the only place signature math and hashing happen. The core hands it bytes and
// gets booleans or bytes back; it never sees a platform crypto API.
//
// Implementations: ports/node (node:crypto), ports/noble (pure JS, for tests inside XS),
// ports/moddable (Moddable's `ecdsa` + `crypt` Digest on the device).

import type { CoseKey, SignatureAlgorithm } from "../cose/key";

export interface CryptoPort {
  /**
   * Checks `signature` over `message` with a public key. For ES256 the port hashes `message` with
   * SHA-256 and takes `signature` as raw r||s (64 bytes); high-S signatures are valid. For EdDSA it is
   * strict RFC 8032 Ed25519. Returns false for a bad signature; never throws for one.
   * The core has already checked lengths and that ES256's r and s lie in [1, n-1].
   */
  verify(alg: SignatureAlgorithm, key: CoseKey, message: Uint8Array, signature: Uint8Array): boolean;
  /** Signs `message` with a private key (`key.d` present). ES256 output is raw r||s. */
  sign(alg: SignatureAlgorithm, key: CoseKey, message: Uint8Array): Uint8Array;
  sha256(data: Uint8Array): Uint8Array;
  /**
   * A fresh incremental SHA-256: an image is hashed piece by piece as it is written, in constant memory
   * (node:crypto's Hash, Moddable's Digest, @noble/hashes' sha256.create()).
   */
  createSha256(): Sha256Stream;
}

/** An incremental SHA-256. */
export interface Sha256Stream {
  update(data: Uint8Array): void;
  /** The digest of everything given to update; the stream is finished afterwards. */
  digest(): Uint8Array;
}

/** Key generation is host-side work (provisioning, the CLI); devices receive their keys. */
export interface KeyGenerator {
  generateKey(alg: SignatureAlgorithm, kid: Uint8Array): CoseKey;
}
