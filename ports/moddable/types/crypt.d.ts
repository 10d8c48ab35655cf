// Ambient types for Moddable's "crypt" module (modules/crypt/digest/crypt.js, native modCrypt.c).
// Moddable ships no typings for it. Only the parts Gatehouse uses are declared.

declare module "crypt" {
  export type DigestAlgorithm = "MD5" | "SHA1" | "SHA224" | "SHA256" | "SHA384" | "SHA512";

  /**
   * A native (C, no hardware acceleration) streaming hash. `process(...items)` is reset + write each +
   * close. Strings are hashed as their UTF-8 bytes. Gatehouse passes ArrayBuffers, which every
   * Moddable version takes (newer ones also take typed arrays).
   */
  export class Digest {
    constructor(algorithm: DigestAlgorithm);
    write(data: ArrayBuffer | string): void;
    update(data: ArrayBuffer | string): void;
    /** The digest (`outputSize` bytes). */
    close(): ArrayBuffer;
    reset(): void;
    process(...items: Array<ArrayBuffer | string>): ArrayBuffer;
    readonly blockSize: number;
    readonly outputSize: number;
  }
}
