// The update port: the platform's two image slots and its boot record, as the update agent
// (sdk/update/agent.ts) uses them. One slot holds the running build; the other (the inactive slot) takes a
// new image. Nothing here checks an image: the agent verifies the signed manifest before anything is
// written and the image's digest before anything is marked to boot.
//
// The boot logic follows ESP-IDF's app rollback (new -> pending-verify -> valid / invalid):
// - markTrial(): the written image boots at the next restart, once, on trial;
// - that boot is a "trial": the build must confirm() itself (the agent does after its health check);
// - a trial build that restarts (a crash, a power cut, a missed deadline) before it confirmed is given up
//   by the next boot, which runs the previous build again: "rolled-back", reason "unconfirmed";
// - rollback() gives up the running trial build on purpose: the next restart runs the previous build,
//   "rolled-back", reason "rejected".
// A power cut at any point leaves a complete build to boot: the running slot is never written, and the
// boot record changes in one atomic step.
//
// Implementations: ports/node/update.ts (two slot files, the host simulator). Planned in ports/moddable:
// file-backed slots on Moddable's lin simulator, and ESP-IDF OTA partitions through embedded:update and
// FFI on the ESP32. The file-backed logic itself is shared: sdk/update/file-port.ts.

export type BootState = "normal" | "trial" | "rolled-back";

/** Why a trial build was given up. */
export type RollbackReason = "unconfirmed" | "rejected";

export interface BootInfo {
  /**
   * normal: a confirmed build. trial: a new build booted once, not confirmed yet. rolled-back: a trial
   * build was given up and the previous build runs again (reported until a new image is written).
   */
  readonly state: BootState;
  /** The slot this boot runs from: 0 or 1. */
  readonly slot: number;
  /** rolled-back: why. */
  readonly reason?: RollbackReason;
}

export interface UpdatePort {
  /** The most bytes an image may have: the inactive slot's size. */
  readonly capacity: number;
  /**
   * Whether writing can go on after a restart where it stopped (the agent then re-hashes the written
   * prefix); false: a download interrupted by a restart starts again from its first byte.
   */
  readonly resumable: boolean;
  /** What this boot is; the same answer all through the boot. */
  boot(): BootInfo;
  /**
   * Opens the inactive slot for an image of `size` bytes. `resume`: keep what is written (after a
   * restart); otherwise the slot is emptied first (and a rolled-back report ends).
   */
  open(size: number, resume: boolean): void;
  /** Writes bytes at `offset` of the opened image (within its size). */
  write(offset: number, bytes: Uint8Array): void;
  /** Makes what was written durable (the agent calls it before it records its progress). */
  sync(): void;
  /** Reads back `length` bytes at `offset`: of the image being written ("inactive"), or of the running build. */
  read(slot: "inactive" | "running", offset: number, length: number): Uint8Array;
  /** Empties the inactive slot: what was written there can never boot. */
  discard(): void;
  /** The written image boots at the next restart, once, on trial. */
  markTrial(): void;
  /** Keeps the running trial build: no rollback any more. */
  confirm(): void;
  /** Gives up the running trial build: the next restart runs the previous one. */
  rollback(): void;
  /** Restarts the device (boots what the boot record says). On a device it does not return. */
  restart(): void;
}
