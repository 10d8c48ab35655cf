// The storage port on Node.
// - FileStorage: one file per key in a directory. A write is durable when it returns: the value goes to a
//   temporary file, which is fsynced, renamed over the key's file, and then the directory is fsynced (so
//   the rename itself survives a power cut). A reader sees the old value or the new one, never a mix.
//   One process per directory: temporary files left by an interrupted write are removed when a
//   FileStorage opens the directory.
// - MemoryStorage: a Map, for tests.
// Both copy values in and out, so callers may reuse their buffers. Key limits (15 characters, 4000-byte
// values) are BoundedStorage's job (sdk/ports/storage.ts); FileStorage only refuses keys that would not be
// safe file names.

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { StoragePort } from "../../sdk/ports/storage";
import { fail } from "../../sdk/errors";

/** Letters, digits, "_", "." and "-" (the storage key alphabet), not "." or "..", at most 128 characters. */
const SAFE_KEY = /^[a-zA-Z0-9_.-]{1,128}$/;
/** Temporary files start with "~", which no key can contain. */
const TEMP_PREFIX = "~";
const TEMP_SUFFIX = ".tmp";

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

export class FileStorage implements StoragePort {
  private readonly dir: string;

  /** Creates `dir` (and its parents) if needed. */
  constructor(dir: string) {
    this.dir = dir;
    try {
      mkdirSync(dir, { recursive: true });
      for (const name of readdirSync(dir)) {
        if (name.startsWith(TEMP_PREFIX) && name.endsWith(TEMP_SUFFIX)) unlinkSync(join(dir, name));
      }
    } catch (e) {
      fail("storage-io", `cannot open storage directory ${dir}: ${(e as Error).message}`, e);
    }
  }

  read(key: string): Uint8Array | undefined {
    const path = this.path(key);
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      if (errno(e) === "ENOENT") return undefined;
      fail("storage-io", `cannot read "${key}": ${(e as Error).message}`, e);
    }
    return new Uint8Array(bytes);
  }

  write(key: string, value: Uint8Array): void {
    const path = this.path(key);
    const temp = join(this.dir, `${TEMP_PREFIX}${key}.${process.pid}${TEMP_SUFFIX}`);
    try {
      const fd = openSync(temp, "w", 0o600);
      try {
        let written = 0;
        while (written < value.length) written += writeSync(fd, value, written, value.length - written);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, path);
    } catch (e) {
      try {
        unlinkSync(temp);
      } catch {
        // already gone
      }
      fail("storage-io", `cannot write "${key}": ${(e as Error).message}`, e);
    }
    this.syncDir();
  }

  remove(key: string): void {
    const path = this.path(key);
    try {
      unlinkSync(path);
    } catch (e) {
      if (errno(e) === "ENOENT") return;
      fail("storage-io", `cannot remove "${key}": ${(e as Error).message}`, e);
    }
    this.syncDir();
  }

  private path(key: string): string {
    if (!SAFE_KEY.test(key) || key === "." || key === "..") fail("storage-key", `storage key "${key}" is not a safe file name`);
    return join(this.dir, key);
  }

  /** Makes a rename or unlink durable. Some platforms cannot fsync a directory (EISDIR, EINVAL): skipped there. */
  private syncDir(): void {
    let fd: number | undefined;
    try {
      fd = openSync(this.dir, "r");
      fsyncSync(fd);
    } catch (e) {
      const code = errno(e);
      if (code !== "EISDIR" && code !== "EINVAL") fail("storage-io", `cannot sync storage directory ${this.dir}: ${(e as Error).message}`, e);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
}

export class MemoryStorage implements StoragePort {
  private readonly values = new Map<string, Uint8Array>();

  read(key: string): Uint8Array | undefined {
    const value = this.values.get(key);
    return value === undefined ? undefined : value.slice();
  }

  write(key: string, value: Uint8Array): void {
    this.values.set(key, value.slice());
  }

  remove(key: string): void {
    this.values.delete(key);
  }

  /** The keys present, for tests. */
  keys(): string[] {
    return [...this.values.keys()];
  }
}
