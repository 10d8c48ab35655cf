// ES256 signing with @noble/curves: deterministic RFC 6979 nonces, raw r||s, s not normalised.
// Shared by the noble port and the Moddable port (whose own ECDSA signer draws its nonce from a weak
// RC4-based generator), so that no nonce code of our own exists anywhere.

import { p256 } from "@noble/curves/nist.js";

const ES256_SIGN = { prehash: true, lowS: false, format: "compact", extraEntropy: false } as const;

/** Signs `message` (hashed with SHA-256 by noble) with the 32-byte private scalar `d`. */
export function signEs256(d: Uint8Array, message: Uint8Array): Uint8Array {
  return p256.sign(message, d, ES256_SIGN);
}
