// The clock port. Devices often boot without trusted wall time; checks that need it (command expiry,
// staleness) run only when `wallTime()` answers.
export interface ClockPort {
  /** Milliseconds since the Unix epoch, or undefined while the device has no trusted time. */
  wallTime(): number | undefined;
  /** Milliseconds from an arbitrary origin; never goes back. For rate limits and timeouts. */
  monotonic(): number;
}
