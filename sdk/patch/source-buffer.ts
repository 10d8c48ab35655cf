// A patch's source on its way in: the update agent pulls it over the same block transfer as an image
// (sdk/update/transfer.ts), but into memory, not into the inactive slot (a patch replaces door logic, never
// the build). The transfer writes and reads back through an UpdatePort; this one holds at most
// MAX_PATCH_SOURCE_BYTES, and has no slots, no boot record and no restart: asked for those, it refuses.

import { fail } from "../errors";
import type { BootInfo, UpdatePort } from "../ports/update";
import { MAX_PATCH_SOURCE_BYTES } from "./format";

export class PatchSourceBuffer implements UpdatePort {
  readonly capacity = MAX_PATCH_SOURCE_BYTES;
  /** A restart loses it: the server offers the patch again. */
  readonly resumable = false;
  private readonly data: Uint8Array;

  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size < 0 || size > MAX_PATCH_SOURCE_BYTES) fail("suit-image-too-long", `a patch source is at most ${MAX_PATCH_SOURCE_BYTES} bytes; this one is ${size}`);
    this.data = new Uint8Array(size);
  }

  /** The source (complete once the transfer finished, its digest checked). */
  get bytes(): Uint8Array {
    return this.data;
  }

  write(offset: number, bytes: Uint8Array): void {
    if (offset < 0 || offset + bytes.length > this.data.length) fail("suit-image-too-long", `${offset + bytes.length} bytes would pass the patch's signed size of ${this.data.length}`);
    this.data.set(bytes, offset);
  }

  read(slot: "inactive" | "running", offset: number, length: number): Uint8Array {
    if (slot !== "inactive") return fail("internal", "a patch source has no running build");
    return this.data.slice(offset, Math.min(this.data.length, offset + length));
  }

  open(): void {}
  sync(): void {}
  discard(): void {}

  boot(): BootInfo {
    return fail("internal", "a patch source has no boot record");
  }
  markTrial(): void {
    fail("internal", "a patch is never booted");
  }
  confirm(): void {
    fail("internal", "a patch is never booted");
  }
  rollback(): void {
    fail("internal", "a patch is never booted");
  }
  restart(): void {
    fail("internal", "a patch needs no restart");
  }
}
