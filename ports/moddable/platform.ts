// Clock, timers and storage on Moddable (ESP32): thin wrappers over Moddable's `time`, `timer` and
// `preference` modules (docs/moddable.md sections 6 and 8). Device code. UNTESTED on hardware.

import Preference from "preference";
import Time from "time";
import Timer from "timer";
import type { ClockPort } from "../../sdk/ports/clock";
import type { StoragePort } from "../../sdk/ports/storage";
import type { TimerPort } from "../../sdk/ports/timer";

/** Wall time before this is the boot default, not a time anyone set (SNTP sets the real one). */
const TRUSTED_AFTER_MS = Date.UTC(2025, 0, 1);

let lastTicks = 0;
let ticksBase = 0;

export const moddableClock: ClockPort = {
  wallTime() {
    const now = Date.now();
    return now >= TRUSTED_AFTER_MS ? now : undefined;
  },
  // Time.ticks is a hardware millisecond counter; should it ever wrap or jump back, carry on from where
  // it was, so the clock never goes back (rate limits and timeouts only need it to move forward).
  monotonic() {
    const ticks = Time.ticks;
    if (ticks < lastTicks) ticksBase += lastTicks - ticks;
    lastTicks = ticks;
    return ticksBase + ticks;
  },
};

export const moddableTimers: TimerPort = {
  set: (callback, ms) => Timer.set(() => callback(), ms),
  // Typed from Timer.clear itself: Moddable's typings name the timer type differently across versions.
  clear: (handle) => Timer.clear(handle as Parameters<typeof Timer.clear>[0]),
};

/**
 * The SDK's storage in NVS through `preference`: one domain (NVS namespace, at most 15 characters),
 * values as ArrayBuffers. Each set erases and commits, so a write is durable when it returns. The SDK's
 * BoundedStorage already holds keys to 15 characters and values to 4000 bytes, NVS's limits.
 */
export class PreferenceStorage implements StoragePort {
  constructor(private readonly domain = "gatehouse") {}

  read(key: string): Uint8Array | undefined {
    const value = Preference.get(this.domain, key);
    return value instanceof ArrayBuffer ? new Uint8Array(value) : undefined;
  }

  write(key: string, value: Uint8Array): void {
    Preference.set(this.domain, key, value.slice().buffer as ArrayBuffer);
  }

  remove(key: string): void {
    Preference.delete(this.domain, key);
  }
}
