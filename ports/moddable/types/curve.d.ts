// Ambient types for Moddable's "curve" module (modules/crypt/etc/curve.js). Moddable ships no typings.

declare module "curve" {
  import type ECPoint from "ecp";

  /** The native point arithmetic of a curve (module "ec"): opaque to Gatehouse. */
  export interface ECArithmetic {
    readonly __moddableEc?: never;
  }

  /**
   * What Moddable's ECDSA constructor reads from its `curve` argument. `k`, when present, is used as
   * the signing nonce instead of a random one (ecdsa.js: "just for a debugging purpose").
   */
  export interface CurveParameters {
    readonly G: ECPoint;
    readonly ec: ECArithmetic;
    readonly n: bigint;
    readonly orderSize: number;
    readonly k?: bigint;
  }

  export default class Curve implements CurveParameters {
    /** Only "secp256r1" and "secp384r1" exist; another name gives an object with no parameters. */
    constructor(name: "secp256r1" | "secp384r1");
    readonly G: ECPoint;
    readonly ec: ECArithmetic;
    /** The group order. */
    readonly n: bigint;
    /** Bytes of the group order (32 for secp256r1). */
    readonly orderSize: number;
    /** ECDH: x * P (or x * G), as an uncompressed point. */
    dh(x: ArrayBuffer, P?: ArrayBuffer): ArrayBuffer | undefined;
    /** The x coordinate of an uncompressed point. */
    Z(P: ArrayBuffer): ArrayBuffer;
  }
}
