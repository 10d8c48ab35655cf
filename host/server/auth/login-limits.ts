// Failed logins, counted per account and per address in sliding windows. Guessing one person's password
// slowly from many addresses meets the account limit; trying many names from one address meets the
// address limit. A login refused by a limit does not check the password (no scrypt spent) and is not
// counted, so a limit ends when the window moves past the failures that caused it.
//
// The per-account limit also lets anyone lock a person out for a window by failing on purpose: that is
// the price of stopping a distributed guess (a person can still log in once the window has passed, and
// an administrator can always use a token). The counts live in memory: a restart clears them.
//
// IPv6 addresses count per /64 (one host usually holds a whole /64), IPv4-mapped IPv6 as IPv4.
// Memory is bounded: at most MAX_TRACKED names and addresses each; when full, the entry whose last
// failure is oldest is forgotten first.

import { isIPv6 } from "node:net";

export interface LoginLimit {
  /** Failures within the window after which further logins are refused. */
  readonly failures: number;
  readonly windowMs: number;
}

export const LOGIN_LIMITS = {
  account: { failures: 5, windowMs: 15 * 60 * 1000 },
  address: { failures: 20, windowMs: 15 * 60 * 1000 },
} as const satisfies Record<string, LoginLimit>;

export const MAX_TRACKED = 10_000;

export type LimitCheck = { limited: false } | { limited: true; scope: "account" | "address"; retryAfterMs: number; failures: number; limit: LoginLimit };

/** The key an address counts under: IPv4 as is, IPv6 by its /64. */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1];
  if (!isIPv6(address)) return address;
  const [head, tail = ""] = address.toLowerCase().split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === "" ? [] : tail.split(":");
  const groups = address.includes("::") ? [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}

class Window {
  private readonly failures = new Map<string, number[]>();

  constructor(readonly limit: LoginLimit) {}

  /** Failures still inside the window (and drops those that are not). */
  count(key: string, now: number): number[] {
    const times = this.failures.get(key);
    if (!times) return [];
    const inside = times.filter((t) => now - t < this.limit.windowMs);
    if (inside.length === 0) this.failures.delete(key);
    else if (inside.length !== times.length) this.failures.set(key, inside);
    return inside;
  }

  add(key: string, now: number): number {
    const inside = this.count(key, now);
    inside.push(now);
    // Only the latest `failures` times matter; the map is re-inserted so its order is by last failure.
    this.failures.delete(key);
    this.failures.set(key, inside.slice(-this.limit.failures));
    while (this.failures.size > MAX_TRACKED) this.failures.delete(this.failures.keys().next().value as string);
    return inside.length;
  }

  clear(key: string): void {
    this.failures.delete(key);
  }
}

export class LoginLimiter {
  private readonly account: Window;
  private readonly address: Window;

  constructor(limits: { account?: LoginLimit; address?: LoginLimit } = {}) {
    this.account = new Window(limits.account ?? LOGIN_LIMITS.account);
    this.address = new Window(limits.address ?? LOGIN_LIMITS.address);
  }

  /** Whether a login for `name` from `address` may be tried now. */
  check(name: string, address: string, now: number): LimitCheck {
    for (const [scope, window, key] of [
      ["account", this.account, name],
      ["address", this.address, addressKey(address)],
    ] as const) {
      const times = window.count(key, now);
      if (times.length >= window.limit.failures) {
        const retryAfterMs = times[times.length - window.limit.failures] + window.limit.windowMs - now;
        return { limited: true, scope, retryAfterMs: Math.max(1, retryAfterMs), failures: times.length, limit: window.limit };
      }
    }
    return { limited: false };
  }

  /** Records a failed login; returns the failures now counted for the account and the address. */
  failed(name: string, address: string, now: number): { account: number; address: number } {
    return { account: this.account.add(name, now), address: this.address.add(addressKey(address), now) };
  }

  /** A successful login clears the account's failures (not the address's: it may be guessing others). */
  succeeded(name: string): void {
    this.account.clear(name);
  }

  get limits(): { account: LoginLimit; address: LoginLimit } {
    return { account: this.account.limit, address: this.address.limit };
  }
}
