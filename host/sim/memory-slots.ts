// Slot files in memory, for simulated devices without a state folder: they live as long as the
// simulator's process (a simulated restart keeps them, as flash keeps its contents; a new process does not).

import type { SlotFiles } from "../../sdk/update/file-port";

interface File {
  bytes: Uint8Array;
  length: number;
}

export class MemorySlotFiles implements SlotFiles {
  private readonly files = new Map<string, File>();

  read(name: string, offset: number, length: number): Uint8Array | undefined {
    const file = this.files.get(name);
    return file === undefined ? undefined : file.bytes.slice(Math.min(offset, file.length), Math.min(offset + length, file.length));
  }

  write(name: string, offset: number, bytes: Uint8Array): void {
    const file = this.files.get(name) ?? { bytes: new Uint8Array(0), length: 0 };
    const end = offset + bytes.length;
    if (end > file.bytes.length) {
      // Grows by doubling: an image written block by block is copied a few times, not once per block.
      const grown = new Uint8Array(Math.max(end, file.bytes.length * 2, 4096));
      grown.set(file.bytes.subarray(0, file.length));
      file.bytes = grown;
    }
    file.bytes.set(bytes, offset);
    file.length = Math.max(file.length, end);
    this.files.set(name, file);
  }

  truncate(name: string): void {
    this.files.set(name, { bytes: new Uint8Array(0), length: 0 });
  }

  sync(): void {}

  replace(name: string, bytes: Uint8Array): void {
    this.files.set(name, { bytes: bytes.slice(), length: bytes.length });
  }
}
