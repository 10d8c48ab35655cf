// Receiving a payload in pieces, as a SuitHost's fetch does: each piece is checked BEFORE it is
// written (never more bytes than the signed size, or than the component holds), hashed as it passes,
// and the whole is checked against the signed size and digest at the end. Memory stays constant
// whatever the image size: one SHA-256 state and a counter.
//
// Refusals (stable codes): suit-image-too-long, suit-image-size-mismatch, suit-image-digest-mismatch.

import { fail } from "../errors";
import { bytesEqual, toHex } from "../bytes";
import type { SuitDigest } from "./digest";
import type { Sha256Stream } from "../ports/crypto";

/** An incremental SHA-256: the CryptoPort makes them (createSha256). */
export type { Sha256Stream } from "../ports/crypto";

export interface ExpectedImage {
  readonly imageDigest: SuitDigest;
  /** The signed size; when the manifest has none, `capacity` alone bounds the image. */
  readonly imageSize?: number;
}

export class ImageReceiver {
  private readonly expected: ExpectedImage;
  private readonly hash: Sha256Stream;
  private readonly limit: number;
  private received = 0;
  private finished = false;

  /**
   * `capacity`: the most the component can hold. `alreadyReceived`: to resume a download after a
   * restart, the bytes already stored, which `hash` must already have been given (re-read from the slot:
   * a hash state does not survive a restart, the stored bytes do).
   */
  constructor(expected: ExpectedImage, capacity: number, hash: Sha256Stream, alreadyReceived = 0) {
    this.expected = expected;
    this.hash = hash;
    this.limit = expected.imageSize === undefined ? capacity : Math.min(expected.imageSize, capacity);
    if (expected.imageSize !== undefined && expected.imageSize > capacity) {
      fail("suit-image-too-long", `the image is ${expected.imageSize} bytes; the component holds ${capacity}`);
    }
    if (!Number.isSafeInteger(alreadyReceived) || alreadyReceived < 0 || alreadyReceived > this.limit) {
      fail("suit-image-too-long", `cannot resume after ${alreadyReceived} bytes of at most ${this.limit}`);
    }
    this.received = alreadyReceived;
  }

  get bytesReceived(): number {
    return this.received;
  }

  /** Takes the next piece; call before writing it. Refuses a piece that would pass the size. */
  accept(piece: Uint8Array): void {
    if (this.finished) fail("internal", "the image was already finished");
    if (piece.length > this.limit - this.received) {
      fail("suit-image-too-long", `${this.received + piece.length} bytes would pass the ${this.expected.imageSize === undefined ? "component's capacity" : "signed size"} of ${this.limit}`);
    }
    this.hash.update(piece);
    this.received += piece.length;
  }

  /** Checks the whole image: all of the signed size, and the signed digest. */
  finish(): void {
    if (this.finished) fail("internal", "the image was already finished");
    this.finished = true;
    const size = this.expected.imageSize;
    if (size !== undefined && this.received !== size) fail("suit-image-size-mismatch", `received ${this.received} of ${size} bytes`);
    const digest = this.hash.digest();
    if (!bytesEqual(digest, this.expected.imageDigest.bytes)) {
      fail("suit-image-digest-mismatch", `the image has SHA-256 ${toHex(digest)}, the manifest says ${toHex(this.expected.imageDigest.bytes)}`);
    }
  }
}
