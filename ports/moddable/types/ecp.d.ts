// Ambient types for Moddable's "ecp" module (modules/crypt/arith/ecp.js): an affine elliptic-curve
// point over BigInt coordinates. Moddable ships no typings for it.

declare module "ecp" {
  export default class ECPoint {
    constructor(x: bigint, y: bigint, identity?: boolean);
    X: bigint;
    Y: bigint;
    isZero(): boolean;
    /**
     * From a SEC 1 uncompressed point, 0x04 || X || Y, given as a Uint8Array (it reads `os[0]` and
     * slices the typed array: an ArrayBuffer does not work). Throws for any other format. It does NOT
     * check that the point lies on the curve.
     */
    static fromOctetString(os: Uint8Array): ECPoint;
  }
}
