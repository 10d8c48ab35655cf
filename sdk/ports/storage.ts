// The storage port: a small persistent key-value store (NVS on the ESP32, a file on Node).
// Keys and values follow the strictest platform's limits (ESP32 NVS through Moddable's preference
// module): keys of at most 15 characters, values of at most 4000 bytes. The wrapper enforces them,
// since the host simulator's store would not.

import { fail } from "../errors";

export const MAX_STORAGE_KEY = 15;
export const MAX_STORAGE_VALUE = 4000;

export interface StoragePort {
  read(key: string): Uint8Array | undefined;
  /** Must be durable when it returns (power may fail right after). */
  write(key: string, value: Uint8Array): void;
  remove(key: string): void;
}

/** Checks the limits before the platform sees the call. */
export class BoundedStorage implements StoragePort {
  constructor(private readonly port: StoragePort) {}

  private static check(key: string): void {
    if (key.length === 0 || key.length > MAX_STORAGE_KEY || !/^[a-zA-Z0-9_.-]+$/.test(key)) fail("storage-key", `storage key "${key}" must be 1 to ${MAX_STORAGE_KEY} of [a-zA-Z0-9_.-]`);
  }

  read(key: string): Uint8Array | undefined {
    BoundedStorage.check(key);
    return this.port.read(key);
  }

  write(key: string, value: Uint8Array): void {
    BoundedStorage.check(key);
    if (value.length > MAX_STORAGE_VALUE) fail("storage-value", `value for "${key}" is ${value.length} bytes, over ${MAX_STORAGE_VALUE}`);
    this.port.write(key, value);
  }

  remove(key: string): void {
    BoundedStorage.check(key);
    this.port.remove(key);
  }
}
