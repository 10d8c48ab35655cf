// The smart lock's defence against guessing: after `maxAttempts` wrong codes in a row, unlocking is refused
// for a while, whatever code comes. Device code (runs on XS).
//
// Each consecutive lockout lasts twice the one before, from `lockoutMs` up to `maxLockoutMs` (bounded: a
// guesser, or a trusted operator with a bad memory, can keep the lock shut for a while but never for
// good). A right code ends the streak and the escalation. While locked out the code is not even checked,
// so the lockout answers nothing about it.
//
// The counters survive a reboot (storage key "lock.guard": [wrong codes, level, locked out]): pulling the
// power must not reset the count, and a lock that reboots during a lockout starts that lockout over, in
// full (the monotonic clock restarts with the device, so the time already served is unknown; erring long
// is the safe side). A stored value that does not parse is reported and read as a running first-level
// lockout: fail-secure, never a silent reset of the count. Writes happen only on a wrong code, a lockout and a right code after wrong ones, so a
// guesser cannot wear the flash out faster than the lockout lets them guess.

import { GatehouseError, type ClockPort, type StoragePort } from "gatehouse/sdk";
import { MAX_LOCKOUT_SECONDS } from "./doors";

const KEY = "lock.guard";
const MAX_LEVEL = 64;
const MAX_ATTEMPTS = 20;

export interface LockoutOptions {
  clock: ClockPort;
  storage: StoragePort;
  /** Wrong codes in a row that start a lockout, 1 to 20 (default 5). */
  maxAttempts?: number;
  /** The first lockout, ms (default 60 s; at least 1 s). */
  lockoutMs?: number;
  /** The longest lockout, ms (default 15 min; at most a day). */
  maxLockoutMs?: number;
  /** Told when the stored counters could not be read (a lockout then runs). */
  onError?(error: unknown): void;
}

/** What a wrong code led to. */
export type WrongCodeOutcome = { readonly lockout: false; readonly remaining: number } | { readonly lockout: true; readonly ms: number; readonly level: number };

export class Lockout {
  readonly maxAttempts: number;
  private readonly clock: ClockPort;
  private readonly storage: StoragePort;
  private readonly lockoutMs: number;
  private readonly maxLockoutMs: number;
  private failures = 0;
  private level = 0;
  /** Monotonic ms when the current lockout ends; undefined when none runs. */
  private until: number | undefined;

  constructor(options: LockoutOptions) {
    this.clock = options.clock;
    this.storage = options.storage;
    this.maxAttempts = options.maxAttempts ?? 5;
    this.lockoutMs = options.lockoutMs ?? 60_000;
    this.maxLockoutMs = options.maxLockoutMs ?? 15 * 60_000;
    if (!Number.isInteger(this.maxAttempts) || this.maxAttempts < 1 || this.maxAttempts > MAX_ATTEMPTS) throw new GatehouseError("invalid-options", `maxAttempts must be an integer from 1 to ${MAX_ATTEMPTS}`);
    if (!(this.lockoutMs >= 1000 && this.lockoutMs <= this.maxLockoutMs && this.maxLockoutMs <= MAX_LOCKOUT_SECONDS * 1000)) {
      throw new GatehouseError("invalid-options", `lockouts must satisfy 1 s <= lockoutMs <= maxLockoutMs <= ${MAX_LOCKOUT_SECONDS} s`);
    }
    const saved = this.storage.read(KEY);
    if (saved === undefined) return;
    if (saved.length !== 3 || saved[0] > MAX_ATTEMPTS || saved[1] > MAX_LEVEL || saved[2] > 1 || (saved[2] === 1 && saved[1] === 0)) {
      this.level = 1;
      this.until = this.clock.monotonic() + this.duration(1);
      this.save();
      options.onError?.(new GatehouseError("guard-corrupt", `the stored lockout counters (${saved.length} bytes) do not parse: unlocking is locked out for ${Math.ceil(this.duration(1) / 1000)} s`));
      return;
    }
    this.failures = Math.min(saved[0], this.maxAttempts - 1);
    this.level = saved[1];
    if (saved[2] === 1) this.until = this.clock.monotonic() + this.duration(this.level);
  }

  /** Milliseconds the current lockout still runs (0: none). */
  remainingMs(): number {
    if (this.until === undefined) return 0;
    const left = this.until - this.clock.monotonic();
    if (left > 0) return left;
    this.until = undefined;
    this.save();
    return 0;
  }

  /** Throws `locked-out` while a lockout runs. */
  check(): void {
    const left = this.remainingMs();
    if (left > 0) throw new GatehouseError("locked-out", `too many wrong codes: unlocking is locked out for another ${Math.ceil(left / 1000)} s`);
  }

  /** Counts a wrong code; the `maxAttempts`-th in a row starts a lockout. */
  wrongCode(): WrongCodeOutcome {
    this.failures++;
    if (this.failures < this.maxAttempts) {
      this.save();
      return { lockout: false, remaining: this.maxAttempts - this.failures };
    }
    this.failures = 0;
    this.level = Math.min(this.level + 1, MAX_LEVEL);
    const ms = this.duration(this.level);
    this.until = this.clock.monotonic() + ms;
    this.save();
    return { lockout: true, ms, level: this.level };
  }

  /** A right code: the streak and the escalation end. */
  rightCode(): void {
    if (this.failures === 0 && this.level === 0) return;
    this.failures = 0;
    this.level = 0;
    this.save();
  }

  /** The lockout at `level`: lockoutMs doubled per level above 1, capped at maxLockoutMs. */
  private duration(level: number): number {
    return Math.min(this.maxLockoutMs, this.lockoutMs * 2 ** Math.min(level - 1, 30));
  }

  private save(): void {
    this.storage.write(KEY, Uint8Array.of(this.failures, this.level, this.until === undefined ? 0 : 1));
  }
}
