// Ambient types for Moddable's "ecdsa" module (modules/crypt/etc/ecdsa.js). Moddable ships no typings.

declare module "ecdsa" {
  import type ECPoint from "ecp";
  import type { CurveParameters } from "curve";

  export default class ECDSA {
    /**
     * `key` is the public point (to verify) OR the private scalar d as a bigint (to sign): the class
     * keeps whichever it is given in one field. A third constructor argument is ignored.
     */
    constructor(key: ECPoint | bigint, curve: CurveParameters);
    /**
     * Signs a hash computed beforehand; raw r||s (orderSize bytes each) unless `asn1`. The nonce is
     * `curve.k` when the curve object carries one, else random from the "rng" module. Needs the
     * private-key form of the constructor.
     */
    sign(hash: ArrayBuffer, asn1?: boolean): ArrayBuffer;
    /**
     * Verifies a signature over a hash computed beforehand; `asn1` false means raw r||s. It NEVER
     * RETURNS when s is 0 (the modular inverse loops): reject r, s outside [1, n-1] before calling.
     */
    verify(hash: ArrayBuffer, signature: ArrayBuffer, asn1?: boolean): boolean;
    static randint(max: bigint): bigint;
  }
}
