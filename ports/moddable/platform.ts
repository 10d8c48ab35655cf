// Clock and timers on Moddable: thin wrappers over its `time` and `timer` modules ($(MODDABLE)/
// documentation/base/base.md). Device code.

import Time from "time";
import Timer from "timer";
import type { ClockPort, TimerPort } from "gatehouse/sdk";

/** Wall time before this is the boot default, not a time anyone set (SNTP sets the real one). */
const TRUSTED_AFTER_MS = Date.UTC(2025, 0, 1);

// Time.ticks is milliseconds from the device's boot on an ESP32 but from the Unix epoch on lin (the
// simulator), so the monotonic clock counts from its own first reading: an uptime is an uptime on both.
// Taken at the first call, not when the module loads: a preloaded module loads at build time.
let origin: number | undefined;
let lastTicks = 0;
let carried = 0;

export const moddableClock: ClockPort = {
  wallTime() {
    const now = Date.now();
    return now >= TRUSTED_AFTER_MS ? now : undefined;
  },
  // Should the tick counter ever wrap or jump back, carry on from where it was, so the clock never goes
  // back (rate limits and timeouts only need it to move forward).
  monotonic() {
    const ticks = Time.ticks;
    origin ??= ticks;
    if (ticks < lastTicks) carried += lastTicks - ticks;
    lastTicks = ticks;
    return carried + ticks - origin;
  },
};

export const moddableTimers: TimerPort = {
  set: (callback, ms) => Timer.set(() => callback(), ms),
  clear: (handle) => Timer.clear(handle as Parameters<typeof Timer.clear>[0]),
};
