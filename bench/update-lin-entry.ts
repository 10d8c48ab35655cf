// XS-side entry of bench/update-lin.ts (xsnap, computrons): the update port's hash-and-write loop over an
// in-memory SlotFiles, block by block as the update agent stores a download, and SHA-256 alone on the
// same bytes. SHA-256 here is @noble/hashes (xsnap has no native Digest), so the hash dominates; the
// port's own cost is the difference, and is also measured alone (write only). Each global is one call
// for measureCalls (test/support/xs.ts).
import { sha256 } from "@noble/hashes/sha2.js";
import { FileUpdatePort, type SlotFiles } from "../sdk/update/file-port";

const BLOCK = 4096;

/** Slot files in memory: each file a list of fixed blocks, so a write stores bytes without growing arrays. */
class MemorySlotFiles implements SlotFiles {
  private readonly files = new Map<string, Uint8Array>();
  constructor(private readonly capacity: number) {}
  read(name: string, offset: number, length: number): Uint8Array | undefined {
    const file = this.files.get(name);
    return file?.subarray(Math.min(offset, file.length), Math.min(offset + length, file.length));
  }
  write(name: string, offset: number, bytes: Uint8Array): void {
    let file = this.files.get(name);
    if (!file) this.files.set(name, (file = new Uint8Array(this.capacity)));
    file.set(bytes, offset);
  }
  truncate(name: string): void {
    this.files.delete(name);
  }
  sync(_name: string): void {}
  replace(name: string, bytes: Uint8Array): void {
    this.files.set(name, bytes.slice());
  }
}

let port: FileUpdatePort | undefined;
let size = 0;
const block = new Uint8Array(BLOCK);
for (let i = 0; i < BLOCK; i++) block[i] = (i * 31) & 0xff;

function setup(kib: number): void {
  size = kib * 1024;
  port = new FileUpdatePort({ files: new MemorySlotFiles(size), capacity: size, restart: () => {} });
}

function hashOnly(): void {
  const hash = sha256.create();
  for (let offset = 0; offset < size; offset += BLOCK) hash.update(block);
  hash.digest();
}

function hashAndWrite(): void {
  port!.open(size, false);
  const hash = sha256.create();
  for (let offset = 0; offset < size; offset += BLOCK) {
    hash.update(block);
    port!.write(offset, block);
  }
  port!.sync();
  hash.digest();
}

function writeOnly(): void {
  port!.open(size, false);
  for (let offset = 0; offset < size; offset += BLOCK) port!.write(offset, block);
  port!.sync();
}

function noop(): void {}

Object.assign(globalThis, { benchSetup: setup, benchHashOnly: hashOnly, benchHashAndWrite: hashAndWrite, benchWriteOnly: writeOnly, benchNoop: noop });
