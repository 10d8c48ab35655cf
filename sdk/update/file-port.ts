// An UpdatePort over files: two slot files and a boot record, for platforms whose "firmware" is not
// flashed (the host simulator: ports/node/update.ts; Moddable's lin simulator, planned in ports/moddable).
// Each platform gives its file operations (SlotFiles); the boot logic is this one, so both behave alike.
//
//   slot-0.bin, slot-1.bin   the images; slot 0 holds the factory build the platform put there
//   boot.cbor                the boot record, replaced in one atomic step (temporary file, sync, rename):
//                            { "boot": slot, "states": [state0, state1], ? "rollback": { "slot", "reason" } }
//
// Slot states follow ESP-IDF's app rollback: empty -> (markTrial) new -> (the next boot) pending ->
// (confirm) valid, or (rollback, or a boot that finds it still pending) invalid. The boot step runs when
// the port is made, as a bootloader runs at reset: a slot still "pending" there never confirmed (it
// crashed, lost power or restarted), so the previous build boots instead. Only the inactive slot's file is
// ever written; the running slot's never is, and the record changes atomically, so a kill at any point
// leaves a complete build to boot.
//
// Refusals (stable code): update-slot (a write outside the opened image, no bootable slot, a damaged record).

import { fail } from "../errors";
import { decode } from "../cbor/decode";
import { encode } from "../cbor/encode";
import type { CborMap, CborObject } from "../cbor/types";
import type { BootInfo, RollbackReason, UpdatePort } from "../ports/update";

/** The file operations a platform gives. Names are plain file names in the platform's slot folder. */
export interface SlotFiles {
  /** Up to `length` bytes from `offset` (fewer at the end, none past it); undefined when the file does not exist. */
  read(name: string, offset: number, length: number): Uint8Array | undefined;
  /** Writes at `offset`, creating the file or growing it as needed. */
  write(name: string, offset: number, bytes: Uint8Array): void;
  /** Empties the file (creating it). */
  truncate(name: string): void;
  /** Makes what was written to the file durable. */
  sync(name: string): void;
  /** Replaces a small file whole, in one atomic step. */
  replace(name: string, bytes: Uint8Array): void;
}

export interface FileUpdatePortOptions {
  readonly files: SlotFiles;
  /** The most bytes a slot takes. */
  readonly capacity: number;
  /** What restarting means on the platform (the simulator makes the device again; lin ends the process). */
  restart(): void;
}

type SlotState = "empty" | "new" | "pending" | "valid" | "invalid";
const STATES: readonly SlotState[] = ["empty", "new", "pending", "valid", "invalid"];

interface BootRecord {
  boot: number;
  states: [SlotState, SlotState];
  rollback?: { slot: number; reason: RollbackReason };
}

export const SLOT_FILES = ["slot-0.bin", "slot-1.bin"] as const;
export const BOOT_RECORD_FILE = "boot.cbor";

export class FileUpdatePort implements UpdatePort {
  readonly capacity: number;
  readonly resumable = true;
  private readonly o: FileUpdatePortOptions;
  private readonly record: BootRecord;
  private readonly info: BootInfo;
  /** The size of the image being written, once opened. */
  private opened: number | undefined;

  constructor(options: FileUpdatePortOptions) {
    this.o = options;
    this.capacity = options.capacity;
    this.record = this.load();
    this.info = this.bootStep();
  }

  boot(): BootInfo {
    return this.info;
  }

  open(size: number, resume: boolean): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.capacity) fail("update-slot", `an image of ${size} bytes does not fit a slot of ${this.capacity}`);
    const slot = this.inactive;
    if (!resume) this.o.files.truncate(SLOT_FILES[slot]);
    this.record.states[slot] = "empty";
    this.record.rollback = undefined;
    this.save();
    this.opened = size;
  }

  write(offset: number, bytes: Uint8Array): void {
    const size = this.opened;
    if (size === undefined) return fail("update-slot", "no image is open for writing");
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + bytes.length > size) fail("update-slot", `${bytes.length} bytes at ${offset} do not fit the ${size}-byte image`);
    this.o.files.write(SLOT_FILES[this.inactive], offset, bytes);
  }

  sync(): void {
    this.o.files.sync(SLOT_FILES[this.inactive]);
  }

  read(slot: "inactive" | "running", offset: number, length: number): Uint8Array {
    const index = slot === "running" ? this.info.slot : this.inactive;
    return this.o.files.read(SLOT_FILES[index], offset, length) ?? new Uint8Array(0);
  }

  discard(): void {
    const slot = this.inactive;
    this.o.files.truncate(SLOT_FILES[slot]);
    this.record.states[slot] = "empty";
    this.record.rollback = undefined;
    this.save();
    this.opened = undefined;
  }

  markTrial(): void {
    const slot = this.inactive;
    this.o.files.sync(SLOT_FILES[slot]);
    this.record.states[slot] = "new";
    this.record.boot = slot;
    this.record.rollback = undefined;
    this.save();
  }

  confirm(): void {
    const slot = this.info.slot;
    if (this.record.states[slot] !== "pending") return;
    this.record.states[slot] = "valid";
    this.save();
  }

  rollback(): void {
    const slot = this.info.slot;
    if (this.record.states[slot] !== "pending") return;
    this.record.states[slot] = "invalid";
    this.record.boot = 1 - slot;
    this.record.rollback = { slot, reason: "rejected" };
    this.save();
  }

  restart(): void {
    this.o.restart();
  }

  private get inactive(): number {
    return 1 - this.info.slot;
  }

  /** What a bootloader does at reset: a new image boots on trial; one still pending is given up. */
  private bootStep(): BootInfo {
    const r = this.record;
    const slot = r.boot;
    const state = r.states[slot];
    if (state === "new") {
      r.states[slot] = "pending";
      this.save();
      return { state: "trial", slot };
    }
    if (state === "pending") {
      r.states[slot] = "invalid";
      r.boot = 1 - slot;
      r.rollback = { slot, reason: "unconfirmed" };
      if (r.states[r.boot] !== "valid") fail("update-slot", `slot ${slot} never confirmed and slot ${r.boot} holds no valid build`);
      this.save();
      return { state: "rolled-back", slot: r.boot, reason: "unconfirmed" };
    }
    if (state !== "valid") fail("update-slot", `the boot record boots slot ${slot}, which is ${state}`);
    return r.rollback ? { state: "rolled-back", slot, reason: r.rollback.reason } : { state: "normal", slot };
  }

  private load(): BootRecord {
    const bytes = this.o.files.read(BOOT_RECORD_FILE, 0, 256);
    if (bytes === undefined || bytes.length === 0) return { boot: 0, states: ["valid", "empty"] };
    try {
      const map = decode(bytes, { maxLength: 256, maxDepth: 3, maxItems: 16 }) as CborMap;
      const boot = map.get("boot");
      const states = map.get("states");
      const rollback = map.get("rollback");
      if ((boot !== 0 && boot !== 1) || !Array.isArray(states) || states.length !== 2 || !states.every((s) => STATES.indexOf(s as SlotState) >= 0)) throw new Error("fields");
      const record: BootRecord = { boot, states: [states[0] as SlotState, states[1] as SlotState] };
      if (rollback instanceof Map) {
        const slot = rollback.get("slot");
        const reason = rollback.get("reason");
        if ((slot !== 0 && slot !== 1) || (reason !== "unconfirmed" && reason !== "rejected")) throw new Error("rollback");
        record.rollback = { slot, reason };
      } else if (rollback !== undefined) throw new Error("rollback");
      return record;
    } catch (e) {
      return fail("update-slot", `the boot record does not parse: ${(e as Error).message}`);
    }
  }

  private save(): void {
    const r = this.record;
    const map: CborObject = { boot: r.boot, states: [r.states[0], r.states[1]] };
    if (r.rollback) map.rollback = { slot: r.rollback.slot, reason: r.rollback.reason };
    this.o.files.replace(BOOT_RECORD_FILE, encode(map));
  }
}
