// The update port on an ESP32 (sdk/ports/update.ts): ESP-IDF's two OTA app partitions through Moddable's
// `embedded:update` and `embedded:storage/flash`, with ESP-IDF's app rollback (enabled in this folder's
// sdkconfig: CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE) for the trial boot. Type-checked in the device suite
// (test/device/typecheck.test.ts); nothing here can flash an ESP32, so it has never run on one.
//
//   open      Update.open({partition: "nextota", mode: "w", byteLength}): esp_ota_begin erases the
//             image's size of the inactive partition; writes go where they belong (esp_ota_write_with_offset)
//   read      Flash "nextota" (inactive) or "running"
//   markTrial updater.complete(): esp_ota_end (checks the app image's format) + esp_ota_set_boot_partition;
//             with rollback enabled the bootloader boots it once as ESP_OTA_IMG_PENDING_VERIFY
//   confirm   esp_ota_mark_app_valid_cancel_rollback (FFI)
//   rollback  esp_ota_mark_app_invalid_rollback_and_reboot (FFI, through gatehouse_ota_rollback): it
//             restarts at once
//   boot      the running partition's slot and state, and whether a partition was given up
//             (gatehouse_ota_boot in port.c)
//   restart   esp_restart (FFI)
//
// Not resumable across a restart: esp_ota_begin erases the partition again, so a download interrupted by
// a restart starts from its first byte (`resumable` false; the agent then does so). Device code.

import Flash from "embedded:storage/flash";
import Update, { type Updater } from "embedded:update";
import FFI from "mc/ffi";
import { fail, type BootInfo, type UpdatePort } from "gatehouse/sdk";

const idf = new FFI();

/** gatehouse_ota_boot's answer: bit 0 the running slot, bit 1 pending verify (trial), bit 2 a partition was given up. */
const SLOT_BIT = 1;
const TRIAL_BIT = 2;
const ROLLED_BACK_BIT = 4;

function checked(result: number, what: string): void {
  if (result !== 0) fail("update-slot", `${what} failed: esp_err_t ${result}`);
}

export class Esp32UpdatePort implements UpdatePort {
  readonly capacity: number;
  readonly resumable = false;
  private readonly info: BootInfo;
  private updater: Updater | undefined;
  private opened = 0;

  constructor() {
    const next = Flash.open({ path: "nextota" });
    this.capacity = next.status().size;
    next.close();
    const state = Number(idf.gatehouse_ota_boot());
    if (state < 0) fail("update-slot", "no running app partition");
    const slot = state & SLOT_BIT;
    this.info = state & TRIAL_BIT ? { state: "trial", slot } : state & ROLLED_BACK_BIT ? { state: "rolled-back", slot, reason: "unconfirmed" } : { state: "normal", slot };
  }

  boot(): BootInfo {
    return this.info;
  }

  open(size: number, _resume: boolean): void {
    if (!Number.isSafeInteger(size) || size <= 0 || size > this.capacity) fail("update-slot", `an image of ${size} bytes does not fit a partition of ${this.capacity}`);
    this.updater?.close();
    this.updater = Update.open({ partition: Flash.open({ path: "nextota", mode: "r+" }), mode: "w", byteLength: size });
    this.opened = size;
  }

  write(offset: number, bytes: Uint8Array): void {
    const updater = this.updater;
    if (updater === undefined) return fail("update-slot", "no image is open for writing");
    if (offset < 0 || offset + bytes.length > this.opened) fail("update-slot", `${bytes.length} bytes at ${offset} do not fit the ${this.opened}-byte image`);
    updater.write(bytes, offset);
  }

  /** Flash writes are durable when write() returns. */
  sync(): void {}

  read(slot: "inactive" | "running", offset: number, length: number): Uint8Array {
    const flash = Flash.open({ path: slot === "inactive" ? "nextota" : "running" });
    try {
      const size = flash.status().size;
      const n = Math.max(0, Math.min(length, size - offset));
      return n === 0 ? new Uint8Array(0) : new Uint8Array(flash.read(n, offset));
    } finally {
      flash.close();
    }
  }

  discard(): void {
    // esp_ota_abort: the partition is never made bootable; the next open() erases it again.
    this.updater?.close();
    this.updater = undefined;
    this.opened = 0;
  }

  markTrial(): void {
    const updater = this.updater;
    if (updater === undefined) return fail("update-slot", "no image was written");
    updater.complete();
    this.updater = undefined;
  }

  confirm(): void {
    if (this.info.state === "trial") checked(Number(idf.esp_ota_mark_app_valid_cancel_rollback()), "esp_ota_mark_app_valid_cancel_rollback");
  }

  rollback(): void {
    if (this.info.state === "trial") checked(Number(idf.gatehouse_ota_rollback()), "esp_ota_mark_app_invalid_rollback_and_reboot");
  }

  restart(): void {
    idf.esp_restart();
  }
}
