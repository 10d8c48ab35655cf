// The update port on Node: the host simulator's two slot files and boot record in a folder
// (sdk/update/file-port.ts holds the boot logic, the same as on Moddable's lin). Slot files are written
// in place and synced before the agent records its progress; the boot record goes through FileStorage
// (temporary file, fsync, rename, folder fsync), so a reader sees the old record or the new one.
//
//   const port = nodeUpdatePort({ dir: "state/thermo-1/update", capacity: 32 << 20, restart: () => ... });

import { closeSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";
import { fail } from "../../sdk/errors";
import { FileUpdatePort, type SlotFiles } from "../../sdk/update/file-port";
import { FileStorage } from "./storage";

export interface NodeUpdatePortOptions {
  /** The folder of the slots and the boot record (created if missing). */
  readonly dir: string;
  /** The most bytes a slot takes. */
  readonly capacity: number;
  /** What restarting the device means here (the simulator makes it again). */
  restart(): void;
}

function io(e: unknown, what: string): never {
  return fail("update-slot", `${what}: ${(e as Error).message}`);
}

/** Slot files in `dir`, with positional reads and writes; small files replaced atomically through FileStorage. */
export class NodeSlotFiles implements SlotFiles {
  private readonly dir: string;
  private readonly records: FileStorage;

  constructor(dir: string) {
    this.dir = dir;
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      io(e, `cannot make ${dir}`);
    }
    this.records = new FileStorage(dir);
  }

  read(name: string, offset: number, length: number): Uint8Array | undefined {
    let fd: number;
    try {
      fd = openSync(join(this.dir, name), "r");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      return io(e, `cannot read ${name}`);
    }
    try {
      const out = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const n = readSync(fd, out, got, length - got, offset + got);
        if (n === 0) break;
        got += n;
      }
      return got === length ? out : out.slice(0, got);
    } catch (e) {
      return io(e, `cannot read ${name}`);
    } finally {
      closeSync(fd);
    }
  }

  write(name: string, offset: number, bytes: Uint8Array): void {
    this.withFile(name, (fd) => {
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, offset + done);
    });
  }

  truncate(name: string): void {
    this.withFile(name, (fd) => {
      ftruncateSync(fd, 0);
      fsyncSync(fd);
    });
  }

  sync(name: string): void {
    this.withFile(name, (fd) => fsyncSync(fd));
  }

  replace(name: string, bytes: Uint8Array): void {
    this.records.write(name, bytes);
  }

  /** Runs `work` on the file opened for writing, without truncating it; created when missing. */
  private withFile(name: string, work: (fd: number) => void): void {
    let fd: number;
    const path = join(this.dir, name);
    try {
      try {
        fd = openSync(path, "r+");
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
        fd = openSync(path, "w+", 0o600);
      }
    } catch (e) {
      return io(e, `cannot open ${name}`);
    }
    try {
      work(fd);
    } catch (e) {
      io(e, `cannot write ${name}`);
    } finally {
      closeSync(fd);
    }
  }
}

/** The file-backed update port over a folder (its boot step runs now, as a bootloader at reset). */
export function nodeUpdatePort(options: NodeUpdatePortOptions): FileUpdatePort {
  return new FileUpdatePort({ files: new NodeSlotFiles(options.dir), capacity: options.capacity, restart: options.restart });
}
