// Detecting lost publications (docs/protocol.md section 4, "Publication streams"). Every result,
// telemetry and event a device publishes carries `stream` (the boot it was made in) and `index` (0, 1,
// 2, ... within that boot, with no number skipped); every birth carries the stream and `next`, the index
// the device will give its next publication. So the server knows which indices exist, and an index that
// does not arrive is a publication lost on its way: dropped by the device's own offline queue (counted in
// the birth's `dropped`), by the broker (a full queue for the server's session, a size limit), or by the
// server's ingest queue.
//
// What is normal and must not count as a loss:
// - arrival out of order: the offline queue is sent after the new birth, so a birth's `next` announces
//   indices that arrive right after it. An index is declared missing only when evidence that it exists
//   (a higher index received, or a birth's `next` above it) is older than `graceMs`;
// - a reboot: a new stream starts at index 0 (the persistent `seq` skips ahead, but indices do not);
// - births, deaths (the will is published only when a device dies uncleanly) and retained messages seen
//   again: they carry no index;
// - a device the server has not followed before: tracking starts where the server comes in.
//
// What is still lost and cannot be seen: publications a device had queued but not sent when it lost
// power (the next boot starts a new stream), and ones sent after the last birth or index that reached the
// server, until a later one does.
//
// The state is plain data (StreamState), stored with the device by the caller so a restart keeps it.

export interface StreamState {
  /** The boot whose indices are followed (the device's first `seq` of that boot). */
  stream: number;
  /** Every index below this was received or declared missing. */
  below: number;
  /** Every index below this exists (the highest index received + 1, or a birth's `next`). */
  known: number;
  /** Indices at or above `below` received so far, ascending. */
  received: number[];
  /** When the server learned that indices below `known` exist: [known, ms], ascending. */
  marks: [number, number][];
  /** Publications the device reported dropping from its offline queue in this stream (its birth's `dropped`). */
  droppedReported: number;
  /** Of those, how many declared gaps were already attributed to them. */
  droppedAccounted: number;
}

export interface GapReport {
  device: string;
  stream: number;
  /** The missing indices as inclusive ranges, ascending. */
  ranges: [number, number][];
  count: number;
  /** How many of `count` the device's own offline queue dropped, as it reported (counts, not identities). */
  droppedByDevice: number;
  /** "overdue": not arrived within the grace period; "restarted": the device began a new stream first. */
  reason: "overdue" | "restarted";
}

export interface GapOptions {
  /** How long an index may be overdue before it is declared missing (default 10 s). */
  graceMs?: number;
  /** Out-of-order indices held per device; past it the oldest holes are declared at once (default 4096). */
  maxPending?: number;
}

/** Most ranges listed in one report; the count covers them all. */
const MAX_RANGES = 32;
/** Marks kept per device; older ones are merged into the next (which only delays a declaration). */
const MAX_MARKS = 64;

export class PublicationGaps {
  private readonly states = new Map<string, StreamState>();
  private readonly graceMs: number;
  private readonly maxPending: number;
  /** Devices whose state changed since takeChanged(). */
  private readonly changed = new Set<string>();

  constructor(options: GapOptions = {}) {
    this.graceMs = options.graceMs ?? 10_000;
    this.maxPending = options.maxPending ?? 4096;
  }

  /** Restores a stored state; its marks count from `now` (the server was away: what was overdue then may still come). */
  restore(device: string, state: StreamState, now: number): void {
    this.states.set(device, { ...state, received: [...state.received], marks: state.marks.map(([known]) => [known, now] as [number, number]) });
  }

  /** Gives every pending mark a fresh start (after the server's own connection to the broker came back). */
  restartGrace(now: number): void {
    for (const state of this.states.values()) for (const mark of state.marks) mark[1] = Math.max(mark[1], now);
  }

  forget(device: string): void {
    this.states.delete(device);
    this.changed.add(device);
  }

  state(device: string): StreamState | undefined {
    return this.states.get(device);
  }

  /** The devices whose state changed since the last call (to store), and forgets them. */
  takeChanged(): string[] {
    const devices = [...this.changed];
    this.changed.clear();
    return devices;
  }

  /** A verified birth: the stream it belongs to, its `next`, and the device's offline-queue drops since boot. */
  birth(device: string, stream: number, next: number, droppedTotal: number, now: number): GapReport[] {
    const reports: GapReport[] = [];
    let state = this.states.get(device);
    if (state && stream < state.stream) return reports; // a birth of an earlier boot, arriving late
    if (!state) {
      // The first the server hears of this device: follow it from here.
      state = fresh(stream, next);
      this.states.set(device, state);
    } else if (stream > state.stream) {
      reports.push(...this.close(device, state));
      state = fresh(stream, 0);
      this.states.set(device, state);
    }
    state.droppedReported = Math.max(state.droppedReported, droppedTotal);
    this.learn(state, next, now);
    this.changed.add(device);
    return reports;
  }

  /** A verified publication with an index. */
  publication(device: string, stream: number, index: number, now: number): GapReport[] {
    const reports: GapReport[] = [];
    let state = this.states.get(device);
    if (state && stream < state.stream) return reports; // from an earlier boot, late: nothing to account
    if (!state) {
      state = fresh(stream, index);
      this.states.set(device, state);
    } else if (stream > state.stream) {
      reports.push(...this.close(device, state));
      state = fresh(stream, 0);
      this.states.set(device, state);
    }
    this.changed.add(device);
    if (index < state.below) return reports; // declared missing before, and late; or seen already
    insertSorted(state.received, index);
    this.learn(state, index + 1, now);
    advance(state);
    while (state.received.length > this.maxPending) {
      const report = this.declare(device, state, state.received[0], "overdue");
      if (report) reports.push(report);
    }
    return reports;
  }

  /** Declares what is overdue, for every device. */
  sweep(now: number): GapReport[] {
    const reports: GapReport[] = [];
    for (const [device, state] of this.states) {
      let limit = state.below;
      for (const [known, since] of state.marks) if (since + this.graceMs <= now && known > limit) limit = known;
      if (limit <= state.below) continue;
      const report = this.declare(device, state, limit, "overdue");
      if (report) reports.push(report);
      this.changed.add(device);
    }
    return reports;
  }

  private learn(state: StreamState, known: number, now: number): void {
    if (known <= state.known) return;
    state.known = known;
    state.marks.push([known, now]);
    if (state.marks.length > MAX_MARKS) {
      // Merge the two oldest: the later time for both only delays a declaration, never hastens one.
      const [first, second] = state.marks.splice(0, 2);
      state.marks.unshift([second[0], Math.max(first[1], second[1])]);
    }
  }

  /** The stream ended (the device restarted): whatever it announced and never delivered is missing. */
  private close(device: string, state: StreamState): GapReport[] {
    const report = this.declare(device, state, state.known, "restarted");
    return report ? [report] : [];
  }

  /** Declares the indices in [below, limit) not received as missing, and moves past them. */
  private declare(device: string, state: StreamState, limit: number, reason: GapReport["reason"]): GapReport | undefined {
    const ranges: [number, number][] = [];
    let count = 0;
    let from = state.below;
    let i = 0;
    while (from < limit) {
      while (i < state.received.length && state.received[i] < from) i++;
      const next = i < state.received.length ? Math.min(state.received[i], limit) : limit;
      if (next > from) {
        count += next - from;
        if (ranges.length < MAX_RANGES) ranges.push([from, next - 1]);
      }
      from = next + 1;
    }
    state.below = Math.max(state.below, limit);
    state.received = state.received.filter((index) => index >= state.below);
    advance(state);
    state.marks = state.marks.filter(([known]) => known > state.below);
    if (count === 0) return undefined;
    const droppedByDevice = Math.min(count, state.droppedReported - state.droppedAccounted);
    state.droppedAccounted += droppedByDevice;
    return { device, stream: state.stream, ranges, count, droppedByDevice, reason };
  }
}

function fresh(stream: number, below: number): StreamState {
  return { stream, below, known: below, received: [], marks: [], droppedReported: 0, droppedAccounted: 0 };
}

/** Moves `below` over the received indices that continue it. */
function advance(state: StreamState): void {
  let n = 0;
  while (n < state.received.length && state.received[n] === state.below) {
    state.below++;
    n++;
  }
  if (n > 0) state.received.splice(0, n);
}

function insertSorted(list: number[], value: number): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  if (list[lo] !== value) list.splice(lo, 0, value);
}

/** "12-15, 20" */
export function describeRanges(ranges: [number, number][], count: number): string {
  const listed = ranges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(", ");
  const shown = ranges.reduce((n, [a, b]) => n + b - a + 1, 0);
  return shown < count ? `${listed} and ${count - shown} more` : listed;
}

/** Whether a stored value is a StreamState (a corrupted row restores nothing). */
export function isStreamState(value: unknown): value is StreamState {
  const s = value as StreamState;
  const uint = (n: unknown) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
  return (
    s !== null &&
    typeof s === "object" &&
    uint(s.stream) &&
    uint(s.below) &&
    uint(s.known) &&
    uint(s.droppedReported) &&
    uint(s.droppedAccounted) &&
    Array.isArray(s.received) &&
    s.received.every(uint) &&
    Array.isArray(s.marks) &&
    s.marks.every((m) => Array.isArray(m) && m.length === 2 && uint(m[0]) && uint(m[1]))
  );
}
