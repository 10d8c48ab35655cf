// Clock and timers on Node.
// - nodeClock: wall time from Date.now() (a host is assumed to have trusted time, e.g. NTP), monotonic time
//   from performance.now() (never goes back).
// - nodeTimers: setTimeout/clearTimeout. The timers are left ref'd on purpose: a pending session retry or
//   keep-alive is work the process must stay alive for. Code that wants to exit while a session is
//   waiting must stop the session (which clears its timers) rather than rely on unref.

import type { ClockPort } from "../../sdk/ports/clock";
import type { TimerHandle, TimerPort } from "../../sdk/ports/timer";

export const nodeClock: ClockPort = {
  wallTime: () => Date.now(),
  monotonic: () => performance.now(),
};

export const nodeTimers: TimerPort = {
  set: (callback: () => void, ms: number): TimerHandle => setTimeout(callback, ms),
  clear: (handle: TimerHandle): void => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
