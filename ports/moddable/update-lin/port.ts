// The update port on Moddable's lin simulator: sdk/update/file-port.ts's slots and boot record, kept as
// files with Moddable's `file` module ($(MODDABLE)/modules/files/file: File, File.delete, File.rename,
// Directory.create). The "image" is an app's mc.so: the device suite's harness plays the bootloader and
// starts mcsim on the mc.so of the slot boot.cbor boots (test/device/update.test.ts).
//
// Where the files live: the folder `updatedir` (mcconfig config) names, by default "gh-update/" under the
// file module's root (config.file.root: "/tmp/" on lin unless the app's manifest sets another, as the
// device suite's "./" does). The folder is made if missing.
//
// What the lin File API gives, and what it lacks:
//   - positional writes: `position` then `write`; lin's write() ends with fflush, so the bytes are with
//     the kernel when it returns. There is no fsync in the API: a power cut of the whole host may lose
//     what the kernel had not written out. `sync` can therefore only close the file; a process kill (the
//     case that matters for the simulator) loses nothing that was written.
//   - no truncate: a file is emptied by deleting it and opening it for writing (which creates it).
//   - File.rename is POSIX rename(2): the boot record is replaced atomically (temporary file, rename).
//   - lengths and positions are 32-bit integers in lin's modFile.c: slots are limited to 2 GiB.
//
// restart() ends the process with exit status 75 (RESTART_STATUS, libc exit through FFI): the harness
// starts the app again, as a reset does. Device code.

import { Directory, File } from "file";
import config from "mc/config";
import FFI from "mc/ffi";
import { fail, type SlotFiles, type UpdatePort } from "gatehouse/sdk";
import { FileUpdatePort } from "gatehouse/sdk-update";

/** The exit status that means "restart me": 75 (EX_TEMPFAIL), apart from 0 and the test app's 70 (a crash). */
export const RESTART_STATUS = 75;

/** The slot size when the build's config gives no `updatecapacity`: 16 MiB, room for an instrumented mc.so. */
export const DEFAULT_CAPACITY = 16 * 1024 * 1024;

const libc = new FFI();

/** SlotFiles over a folder of the lin file system (`folder` ends with "/"). */
export class LinSlotFiles implements SlotFiles {
  constructor(private readonly folder: string) {
    Directory.create(folder.slice(0, -1));
  }

  read(name: string, offset: number, length: number): Uint8Array | undefined {
    const path = this.folder + name;
    if (!File.exists(path)) return undefined;
    const file = new File(path);
    try {
      const n = Math.max(0, Math.min(length, file.length - offset));
      if (n === 0) return new Uint8Array(0);
      file.position = offset;
      return new Uint8Array(file.read(ArrayBuffer, n));
    } finally {
      file.close();
    }
  }

  write(name: string, offset: number, bytes: Uint8Array): void {
    const file = new File(this.folder + name, true);
    try {
      // A write past the end: lin's fseek leaves a gap that reads as zeros, as a sparse file.
      file.position = offset;
      file.write(bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? (bytes.buffer as ArrayBuffer) : bytes.slice().buffer);
    } finally {
      file.close();
    }
  }

  truncate(name: string): void {
    File.delete(this.folder + name);
    new File(this.folder + name, true).close();
  }

  /** Every write was flushed to the kernel (see above); lin's File API has no fsync to go further. */
  sync(_name: string): void {}

  replace(name: string, bytes: Uint8Array): void {
    const temporary = `${this.folder}${name}.new`;
    File.delete(temporary);
    const file = new File(temporary, true);
    try {
      file.write(bytes.slice().buffer);
    } finally {
      file.close();
    }
    // A bare name: lin's File.rename takes a path in `to` only when it is absolute ("invalid to" otherwise).
    if (!File.rename(temporary, name)) fail("update-slot", `rename ${temporary} failed`);
  }
}

/** The lin update port from the build's config: `updatedir` and `updatecapacity` (see the top of this file). */
export function createUpdatePort(option: (name: string, fallback?: string) => string | undefined): UpdatePort {
  const root = (config as { file?: { root?: string } }).file?.root ?? "/tmp/";
  let folder = option("updatedir", `${root}gh-update/`)!;
  if (!folder.endsWith("/")) folder += "/";
  const capacity = Number(option("updatecapacity", String(DEFAULT_CAPACITY)));
  if (!Number.isSafeInteger(capacity) || capacity <= 0 || capacity > 0x7fffffff) fail("config-invalid", `config updatecapacity ${option("updatecapacity")} is not 1 to 2^31-1 bytes`);
  return new FileUpdatePort({ files: new LinSlotFiles(folder), capacity, restart: () => libc.exit(RESTART_STATUS) });
}
