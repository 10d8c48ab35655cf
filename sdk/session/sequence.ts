// A sequence number that survives restarts without ever repeating, persisted in steps as OSCORE does
// (RFC 8613 appendix B.1.1): storage holds a ceiling; numbers below it may have been used. At start the
// counter jumps to the stored ceiling; a new ceiling is written before any number at or above the old
// one is handed out. A restart therefore skips at most `step` numbers and never reuses one.

import { fail } from "../errors";
import type { StoragePort } from "../ports/storage";

const MAX_SEQUENCE = Number.MAX_SAFE_INTEGER;

function readUint(storage: StoragePort, key: string): number {
  const bytes = storage.read(key);
  if (!bytes) return 0;
  if (bytes.length !== 8) fail("storage-corrupt", `sequence "${key}" is not 8 bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, 8);
  return view.getUint32(0) * 0x100000000 + view.getUint32(4);
}

function writeUint(storage: StoragePort, key: string, value: number): void {
  const bytes = new Uint8Array(8);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, Math.floor(value / 0x100000000));
  view.setUint32(4, value % 0x100000000);
  storage.write(key, bytes);
}

export class PersistentSequence {
  private value: number;
  private ceiling: number;

  constructor(
    private readonly storage: StoragePort,
    private readonly key: string,
    private readonly step = 64,
  ) {
    this.value = readUint(storage, key);
    this.ceiling = this.value;
  }

  /** The next number; persists a new ceiling first when the current one is reached. */
  next(): number {
    if (this.value >= this.ceiling) {
      if (this.ceiling + this.step > MAX_SEQUENCE) fail("sequence-exhausted", "sequence numbers are used up: rotate the key");
      this.ceiling += this.step;
      writeUint(this.storage, this.key, this.ceiling);
    }
    return this.value++;
  }

  /** The number next() will return. */
  peek(): number {
    return this.value;
  }
}
