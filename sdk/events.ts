// Security events: every refused attempt (and, when asked, every allowed one) becomes an event with a
// stable code. A token bucket bounds how many leave the device, so a flood of bad input costs a
// counter, not memory: what the bucket drops is counted and reported in the next event delivered.

import type { ClockPort } from "./ports/clock";

export interface SecurityEvent {
  /** The refusal code ("bad-signature", "not-allowed", ...) or "allowed". */
  readonly code: string;
  readonly allowed: boolean;
  /** kid in hex of the signer, "local" for application code, "unknown" before a signature is checked. */
  readonly principal: string;
  readonly door?: string;
  readonly op?: string;
  /** Wall time in ms since the epoch, or null when the device has no trusted time. */
  readonly time: number | null;
  /** Milliseconds since the device started. */
  readonly uptime: number;
  /** Events the rate limit dropped since the previous delivered one. */
  readonly suppressed: number;
}

export type SecurityEventInput = Pick<SecurityEvent, "code" | "allowed" | "principal" | "door" | "op">;

/** What a device may tune of its security events (DeviceOptions.events). */
export interface SecurityEventSettings {
  /** Sustained events per second (default 5). */
  ratePerSecond?: number;
  /** Events that may leave at once after a quiet spell (default 20). */
  burst?: number;
  /** Also report allowed attempts (default false). */
  recordAllowed?: boolean;
}

export interface SecurityEventLogOptions extends SecurityEventSettings {
  clock: ClockPort;
  sink: (event: SecurityEvent) => void;
}

export class SecurityEventLog {
  private readonly clock: ClockPort;
  private readonly sink: (event: SecurityEvent) => void;
  private readonly ratePerMs: number;
  private readonly burst: number;
  private readonly recordAllowed: boolean;
  private tokens: number;
  private lastRefill: number;
  private pendingSuppressed = 0;
  delivered = 0;
  suppressed = 0;

  constructor(options: SecurityEventLogOptions) {
    this.clock = options.clock;
    this.sink = options.sink;
    this.ratePerMs = (options.ratePerSecond ?? 5) / 1000;
    this.burst = options.burst ?? 20;
    this.recordAllowed = options.recordAllowed ?? false;
    this.tokens = this.burst;
    this.lastRefill = this.clock.monotonic();
  }

  /** Records an attempt; returns whether an event left (false: not recorded, or dropped by the rate limit). */
  record(input: SecurityEventInput): boolean {
    if (input.allowed && !this.recordAllowed) return false;
    const now = this.refill();
    if (this.tokens < 1) {
      this.pendingSuppressed++;
      this.suppressed++;
      return false;
    }
    return this.deliver(input, now);
  }

  /**
   * Suppressed events are reported with the next event that gets out, which after a flood may never
   * come. This delivers `input` now, carrying their count, when there are any and the rate allows; it
   * is not counted as suppressed itself when it cannot leave. Returns whether it left.
   */
  flushSuppressed(input: SecurityEventInput): boolean {
    if (this.pendingSuppressed === 0) return false;
    const now = this.refill();
    return this.tokens >= 1 && this.deliver(input, now);
  }

  private refill(): number {
    const now = this.clock.monotonic();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.lastRefill) * this.ratePerMs);
    this.lastRefill = now;
    return now;
  }

  private deliver(input: SecurityEventInput, now: number): boolean {
    this.tokens -= 1;
    const event: SecurityEvent = {
      code: input.code,
      allowed: input.allowed,
      principal: input.principal,
      door: input.door,
      op: input.op,
      time: this.clock.wallTime() ?? null,
      uptime: now,
      suppressed: this.pendingSuppressed,
    };
    this.pendingSuppressed = 0;
    this.delivered++;
    this.sink(event);
    return true;
  }
}
