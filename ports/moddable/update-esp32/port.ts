// The update port on an ESP32 (sdk/ports/update.ts): ESP-IDF's two OTA app partitions through ESP-IDF's
// OTA calls (FFI, port.c) and Moddable's `embedded:storage/flash`, with ESP-IDF's app rollback (enabled in
// this folder's sdkconfig: CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE) for the trial boot. Type-checked in the
// device suite (test/device/typecheck.test.ts); nothing here can flash an ESP32, so it has never run on one.
//
//   open      new image: esp_ota_begin erases the image's size of the inactive partition; after a restart
//             (resume): esp_ota_resume, which erases nothing, so what was written stays (ESP-IDF 5.5 and
//             later; Moddable 8.2.3 builds with ESP-IDF 6.0). Writes go where they belong
//             (esp_ota_write_with_offset). Moddable's `embedded:update` cannot resume: its open always
//             calls esp_ota_begin, which erases the partition again; hence the FFI (gatehouse_ota_* in port.c)
//   read      Flash "nextota" (inactive) or "running"
//   markTrial esp_ota_end (checks the app image's format) + esp_ota_set_boot_partition; with rollback
//             enabled the bootloader boots it once as ESP_OTA_IMG_PENDING_VERIFY
//   confirm   esp_ota_mark_app_valid_cancel_rollback (FFI)
//   rollback  esp_ota_mark_app_invalid_rollback_and_reboot (FFI, through gatehouse_ota_rollback): it
//             restarts at once
//   boot      the running partition's slot and state, and whether a partition was given up
//             (gatehouse_ota_boot in port.c)
//   restart   esp_restart (FFI)
//
// Resumable across a restart: the agent re-hashes the prefix it recorded (read back from "nextota") and
// writes every block from there on again, the same bytes, over flash that holds them already or is still
// erased (flash programming only clears bits, so the same bytes again change nothing). A power cut in the
// middle of a write leaves that block half-written: it is beyond the recorded prefix (recorded only after
// sync), so it is written again whole; and the final SHA-256 and esp_ota_end's image check still stand
// between any slip and a boot. Device code.

import Flash from "embedded:storage/flash";
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
  readonly resumable = true;
  private readonly info: BootInfo;
  /** The size of the image open for writing (0: none). */
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

  open(size: number, resume: boolean): void {
    if (!Number.isSafeInteger(size) || size <= 0 || size > this.capacity) fail("update-slot", `an image of ${size} bytes does not fit a partition of ${this.capacity}`);
    this.opened = 0;
    checked(Number(idf.gatehouse_ota_open(size, resume ? 1 : 0)), resume ? "esp_ota_resume" : "esp_ota_begin");
    this.opened = size;
  }

  write(offset: number, bytes: Uint8Array): void {
    if (this.opened === 0) return fail("update-slot", "no image is open for writing");
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + bytes.length > this.opened) fail("update-slot", `${bytes.length} bytes at ${offset} do not fit the ${this.opened}-byte image`);
    // The FFI takes the view's buffer (a pointer to its data) with the view's offset and length.
    const buffer = bytes.buffer;
    if (!(buffer instanceof ArrayBuffer)) return fail("update-slot", "a block in shared memory cannot be written");
    checked(Number(idf.gatehouse_ota_write(buffer, bytes.byteOffset, bytes.byteLength, offset)), "esp_ota_write_with_offset");
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
    // esp_ota_abort: the partition is never made bootable; the next open() of a new image erases it again.
    this.opened = 0;
    checked(Number(idf.gatehouse_ota_abort()), "esp_ota_abort");
  }

  markTrial(): void {
    if (this.opened === 0) return fail("update-slot", "no image was written");
    this.opened = 0;
    checked(Number(idf.gatehouse_ota_finish()), "esp_ota_end / esp_ota_set_boot_partition");
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
