// Reading and writing the host tools' files safely, in one place (the CLI, identities, the fleet
// server's identity scan). Host side only (Node).
//
// Reading: the bytes read are bounded, not the size on disk: /dev/zero, a FIFO or a growing file
// reports size 0 and never ends, so a stat() check alone would read forever (issue 11).
//
// Writing: never through a symbolic link and never into a name someone else prepared. A new file is
// created with O_CREAT | O_EXCL (which fails on any existing name, a dangling symlink included); a
// replacement is written to a fresh, randomly named temporary file (O_EXCL again) in the same folder
// and renamed over the target (rename replaces a symlink itself, never what it points to). Private
// folders are opened with O_NOFOLLOW and set to 0700 through the descriptor, also when they exist.
//
// Error codes: too-large (more bytes than allowed), file-exists (an exclusive write met an existing
// name), file (anything else the system refused, or a symlink where none may be), and `code` where a
// caller names its own (key-file, identity-invalid, ...).

import { closeSync, constants, fchmodSync, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { GatehouseError, fail } from "../sdk/errors";
import type { ErrorCode } from "../sdk/error-codes";

/** Why the system refused, for a message: a few common codes in words, the rest by their code. */
export function systemMessage(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.code === "string") {
    switch (err.code) {
      case "ENOENT":
        return "no such file";
      case "EACCES":
      case "EPERM":
        return "permission denied";
      case "EISDIR":
        return "is a directory";
      case "ENOTDIR":
        return "a parent is not a directory";
      case "EEXIST":
        return "already exists";
      case "ELOOP":
        return "is a symbolic link";
    }
    return err.code;
  }
  return String((e as Error)?.message ?? e);
}

export interface ReadOptions {
  /** Most bytes accepted; one more is a "too-large" error. */
  maxBytes: number;
  /** Error code for a file that cannot be read (default "file"). */
  code?: ErrorCode;
  /** Refuse a symbolic link instead of following it (O_NOFOLLOW). */
  noFollow?: boolean;
}

const CHUNK = 64 * 1024;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Reads from an open descriptor until end of file, failing "too-large" after `maxBytes`. */
export function readBoundedFd(fd: number, what: string, maxBytes: number): Uint8Array {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(Math.min(CHUNK, maxBytes + 1 - total));
    let n: number;
    try {
      n = readSync(fd, chunk, 0, chunk.length, null);
    } catch (e) {
      // A non-blocking standard input (a pipe Node set up) has nothing yet: wait a little for it.
      if ((e as NodeJS.ErrnoException).code === "EAGAIN") {
        sleepSync(5);
        continue;
      }
      throw e;
    }
    if (n === 0) break;
    total += n;
    if (total > maxBytes) fail("too-large", `${what} is over ${maxBytes} bytes`);
    chunks.push(chunk.subarray(0, n));
  }
  const joined = Buffer.concat(chunks, total);
  return new Uint8Array(joined.buffer, joined.byteOffset, joined.byteLength);
}

/** Reads a whole file, at most `maxBytes` of it (see ReadOptions). */
export function readFileBounded(path: string, options: ReadOptions): Uint8Array {
  const code = options.code ?? "file";
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (options.noFollow ? constants.O_NOFOLLOW : 0));
  } catch (e) {
    return fail(code, `cannot read ${path}: ${systemMessage(e)}`);
  }
  try {
    if (fstatSync(fd).isDirectory()) fail(code, `${path}: is a directory`);
    return readBoundedFd(fd, path, options.maxBytes);
  } catch (e) {
    if (e instanceof GatehouseError) throw e;
    return fail(code, `cannot read ${path}: ${systemMessage(e)}`);
  } finally {
    closeSync(fd);
  }
}

/** true when something (a file, a folder, a symlink, even a dangling one) has this name. */
export function nameTaken(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ENOENT";
  }
}

function writeAll(fd: number, data: Uint8Array): void {
  let offset = 0;
  while (offset < data.length) offset += writeSync(fd, data, offset, data.length - offset);
}

/** Creates `path` exclusively (never an existing name, never through a symlink) with `mode`, writes and syncs it. */
function createExclusive(path: string, data: Uint8Array, mode: number): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    fchmodSync(fd, mode); // the umask may have narrowed it
    writeAll(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface WriteOptions {
  /** Replace an existing file (atomically). Without it an existing name is "file-exists". */
  replace?: boolean;
  /** Mode of the file (default 0644); the file is always created fresh, so the mode holds. */
  mode?: number;
  /** The message for "file-exists". */
  existsMessage?: string;
}

/**
 * Writes `data` to `path` (see the top of this file): exclusively without `replace`; with it through a
 * fresh temporary file renamed over the target, so a reader never sees half a file.
 */
export function writeFileSafely(path: string, data: Uint8Array, options: WriteOptions = {}): void {
  const mode = options.mode ?? 0o644;
  if (!options.replace) {
    try {
      createExclusive(path, data, mode);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST") fail("file-exists", options.existsMessage ?? `${path} already exists`);
      fail("file", `cannot write ${path}: ${systemMessage(e)}`);
    }
    return;
  }
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(8).toString("hex")}.tmp`);
  try {
    createExclusive(temp, data, mode);
    renameSync(temp, path);
  } catch (e) {
    try {
      unlinkSync(temp);
    } catch {
      // never created, or already renamed
    }
    fail("file", `cannot write ${path}: ${systemMessage(e)}`);
  }
}

/**
 * Creates `path` (and its parents) if missing and makes it a private folder: mode 0700, set through a
 * descriptor opened without following a symlink, so a planted link is refused instead of changed.
 */
export function privateFolder(path: string): void {
  try {
    mkdirSync(path, { recursive: true, mode: 0o700 });
  } catch (e) {
    fail("file", `cannot create ${path}: ${systemMessage(e)}`);
  }
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (e) {
    let link = false;
    try {
      link = lstatSync(path).isSymbolicLink();
    } catch {
      // gone meanwhile: the message below says why it could not be opened
    }
    if (link) return fail("file", `${path} is a symbolic link: refusing to keep keys behind it`);
    return fail("file", `cannot open the folder ${path}: ${systemMessage(e)}`);
  }
  try {
    fchmodSync(fd, 0o700);
  } catch (e) {
    fail("file", `cannot make ${path} private: ${systemMessage(e)}`);
  } finally {
    closeSync(fd);
  }
}
