// Replay protection, as OSCORE does it (RFC 8613 section 7.4): per sender, the highest sequence number
// accepted and a bitmap of which of the `width` numbers below it were seen. A number above the highest
// moves the window; one inside it is accepted once; one below it is refused as too old.

import { fail } from "../errors";

export const DEFAULT_REPLAY_WINDOW = 32;
const MAX_WIDTH = 32; // the bitmap is one 32-bit word

interface SenderWindow {
  highest: number;
  /** Bit i set: sequence number (highest - i) was accepted. Bit 0 is `highest` itself. */
  seen: number;
}

/** Sender -> [highest accepted, bitmap]: plain CBOR data, persisted as is. */
export type ReplayState = Map<string, [highest: number, seen: number]>;

export class ReplayWindow {
  private readonly width: number;
  private readonly senders = new Map<string, SenderWindow>();

  constructor(width = DEFAULT_REPLAY_WINDOW) {
    if (!(Number.isInteger(width) && width >= 1 && width <= MAX_WIDTH)) fail("config-invalid", `replay window width must be 1 to ${MAX_WIDTH}`);
    this.width = width;
  }

  /** Throws "replayed" or "too-old" without changing anything; otherwise returns. */
  check(sender: string, seq: number): void {
    const w = this.senders.get(sender);
    if (!w || seq > w.highest) return;
    const age = w.highest - seq;
    if (age >= this.width) fail("too-old", `sequence number ${seq} is below the replay window (highest ${w.highest})`);
    if ((w.seen >>> age) & 1) fail("replayed", `sequence number ${seq} was already accepted`);
  }

  /** Marks `seq` as accepted. Call only after `check` passed and the message was authenticated. */
  accept(sender: string, seq: number): void {
    const w = this.senders.get(sender);
    if (!w) {
      this.senders.set(sender, { highest: seq, seen: 1 });
      return;
    }
    if (seq > w.highest) {
      const shift = seq - w.highest;
      w.seen = shift >= 32 ? 1 : ((w.seen << shift) | 1) >>> 0;
      w.highest = seq;
    } else {
      w.seen = (w.seen | (1 << (w.highest - seq))) >>> 0;
    }
  }

  highest(sender: string): number | undefined {
    return this.senders.get(sender)?.highest;
  }

  /** Plain data to persist, so a restart keeps the window. */
  snapshot(): ReplayState {
    const state: ReplayState = new Map();
    for (const [sender, w] of this.senders) state.set(sender, [w.highest, w.seen]);
    return state;
  }

  /** Restores a snapshot (as decoded from storage); anything malformed is refused, not half-applied. */
  restore(state: unknown): void {
    if (!(state instanceof Map)) fail("storage-corrupt", "replay state is not a map");
    const senders = new Map<string, SenderWindow>();
    for (const [sender, entry] of state) {
      const ok = typeof sender === "string" && Array.isArray(entry) && entry.length === 2 && Number.isSafeInteger(entry[0]) && entry[0] >= 0 && Number.isInteger(entry[1]) && entry[1] >= 0;
      if (!ok) fail("storage-corrupt", "replay state entry is malformed");
      senders.set(sender, { highest: entry[0], seen: entry[1] >>> 0 });
    }
    this.senders.clear();
    for (const [sender, w] of senders) this.senders.set(sender, w);
  }
}
