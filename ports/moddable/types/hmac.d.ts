// Ambient types for Moddable's "hmac" module (modules/crypt/etc/hmac.js). Moddable ships no typings.

declare module "hmac" {
  import type { Digest } from "crypt";

  /**
   * HMAC (RFC 2104) over a Digest instance, which it resets and writes on every call: give it a Digest
   * of its own, or one that nothing else uses between a process() and its result.
   */
  export default class HMAC {
    constructor(digest: Digest, key: ArrayBuffer, bitLength?: number);
    /** reset + write each item + close: the MAC of the items' concatenation. */
    process(...items: ArrayBuffer[]): ArrayBuffer;
  }
}
