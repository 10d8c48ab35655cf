// Detecting lost publications (docs/protocol.md section 4, "Publication streams"). Every result,
// telemetry and event a device publishes carries `stream` (the boot it was made in) and `index` (0, 1,
// 2, ... within that boot, with no number skipped); every birth carries the stream, `next` (the index
// the device gives its next publication) and `droppedRanges` (the indices its own offline queue dropped).
// So the server knows which indices exist, and one that does not arrive is a publication lost: by the
// device's queue (it says so), or on the way (a full broker queue for the server's session, a size limit,
// the server's own ingest queue).
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

/** Inclusive [first, last] ranges of indices, ascending and disjoint. */
export type Ranges = [number, number][];

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
  /** The indices the device reported dropping from its offline queue (its latest birth's droppedRanges). */
  deviceDropped: Ranges;
  /** Indices declared missing (the most recent ranges): a later birth may show the device dropped them. */
  declaredMissing: Ranges;
}

export interface GapReport {
  device: string;
  stream: number;
  /** Indices lost on the way: neither received nor reported dropped by the device. */
  missing: { ranges: Ranges; count: number };
  /** Indices not received that the device's own offline queue dropped, as its birth reported. */
  dropped: { ranges: Ranges; count: number };
  /**
   * "overdue": not arrived within the grace period; "restarted": the device began a new stream first;
   * "reported-late": a birth now lists as dropped by the device indices declared missing before (a drop
   * while connected is reported with the next birth); only `dropped` is set.
   */
  reason: "overdue" | "restarted" | "reported-late";
}

export interface GapOptions {
  /** How long an index may be overdue before it is declared missing (default 10 s). */
  graceMs?: number;
  /** Out-of-order indices held per device; past it the oldest holes are declared at once (default 4096). */
  maxPending?: number;
}

/** Most ranges listed in a report; the counts cover them all. */
const MAX_RANGES = 32;
/** Marks kept per device; older ones are merged into the next (which only delays a declaration). */
const MAX_MARKS = 64;
/** Declared-missing ranges remembered per device for a late report of the device's own drops. */
const MAX_DECLARED = 64;
/** Ranges taken from a birth's droppedRanges (the device sends at most 16). */
const MAX_DEVICE_RANGES = 64;

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
    this.states.set(device, {
      ...state,
      received: [...state.received],
      marks: state.marks.map(([known]) => [known, now] as [number, number]),
      deviceDropped: copyRanges(state.deviceDropped),
      declaredMissing: copyRanges(state.declaredMissing),
    });
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

  /** A verified birth: its stream, its `next`, and the indices the device reported dropping in that stream. */
  birth(device: string, stream: number, next: number, droppedRanges: Ranges, now: number): GapReport[] {
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
    state.deviceDropped = normalize(droppedRanges.slice(-MAX_DEVICE_RANGES));
    const late = intersect(state.declaredMissing, state.deviceDropped);
    if (late.length > 0) {
      state.declaredMissing = subtract(state.declaredMissing, late);
      reports.push({ device, stream, missing: { ranges: [], count: 0 }, dropped: { ranges: late.slice(0, MAX_RANGES), count: countOf(late) }, reason: "reported-late" });
    }
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

  /** Declares the indices in [below, limit) not received, split by what the device reported dropping, and moves past them. */
  private declare(device: string, state: StreamState, limit: number, reason: GapReport["reason"]): GapReport | undefined {
    const holes: Ranges = [];
    let from = state.below;
    let i = 0;
    while (from < limit) {
      while (i < state.received.length && state.received[i] < from) i++;
      const next = i < state.received.length ? Math.min(state.received[i], limit) : limit;
      if (next > from) holes.push([from, next - 1]);
      from = next + 1;
    }
    state.below = Math.max(state.below, limit);
    state.received = state.received.filter((index) => index >= state.below);
    advance(state);
    state.marks = state.marks.filter(([known]) => known > state.below);
    if (holes.length === 0) return undefined;
    const dropped = intersect(holes, state.deviceDropped);
    const missing = subtract(holes, dropped);
    state.declaredMissing = [...state.declaredMissing, ...missing].slice(-MAX_DECLARED);
    return {
      device,
      stream: state.stream,
      missing: { ranges: missing.slice(0, MAX_RANGES), count: countOf(missing) },
      dropped: { ranges: dropped.slice(0, MAX_RANGES), count: countOf(dropped) },
      reason,
    };
  }
}

function fresh(stream: number, below: number): StreamState {
  return { stream, below, known: below, received: [], marks: [], deviceDropped: [], declaredMissing: [] };
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

function copyRanges(ranges: Ranges): Ranges {
  return ranges.map(([a, b]) => [a, b]);
}

/** Sorted, merged, well-formed ranges (what a birth sends is checked, not trusted to be tidy). */
function normalize(ranges: Ranges): Ranges {
  const sorted = ranges.filter(([a, b]) => a <= b).sort((x, y) => x[0] - y[0]);
  const out: Ranges = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** The parts of `a` inside `b` (both sorted and disjoint). */
function intersect(a: Ranges, b: Ranges): Ranges {
  const out: Ranges = [];
  let j = 0;
  for (const [from, to] of a) {
    while (j < b.length && b[j][1] < from) j++;
    for (let k = j; k < b.length && b[k][0] <= to; k++) out.push([Math.max(from, b[k][0]), Math.min(to, b[k][1])]);
  }
  return out;
}

/** The parts of `a` outside `b` (both sorted and disjoint). */
function subtract(a: Ranges, b: Ranges): Ranges {
  const out: Ranges = [];
  let j = 0;
  for (const [from, to] of a) {
    let start = from;
    while (j < b.length && b[j][1] < from) j++;
    for (let k = j; k < b.length && b[k][0] <= to; k++) {
      if (b[k][0] > start) out.push([start, b[k][0] - 1]);
      start = Math.max(start, b[k][1] + 1);
    }
    if (start <= to) out.push([start, to]);
  }
  return out;
}

function countOf(ranges: Ranges): number {
  return ranges.reduce((n, [a, b]) => n + b - a + 1, 0);
}

/** "12-15, 20", and how many more when the list was cut. */
export function describeRanges(ranges: Ranges, count: number): string {
  const listed = ranges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(", ");
  const shown = countOf(ranges);
  return shown < count ? `${listed} and ${count - shown} more` : listed;
}

/** Whether a stored value is a StreamState (a corrupted row restores nothing). */
export function isStreamState(value: unknown): value is StreamState {
  const s = value as StreamState;
  const uint = (n: unknown) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
  const pairs = (list: unknown) => Array.isArray(list) && list.every((m) => Array.isArray(m) && m.length === 2 && uint(m[0]) && uint(m[1]));
  return (
    s !== null &&
    typeof s === "object" &&
    uint(s.stream) &&
    uint(s.below) &&
    uint(s.known) &&
    Array.isArray(s.received) &&
    s.received.every(uint) &&
    pairs(s.marks) &&
    pairs(s.deviceDropped) &&
    pairs(s.declaredMissing)
  );
}

/** A birth's droppedRanges as the wire carries it, or undefined when it is not a list of index pairs. */
export function rangesOf(value: unknown, max: number): Ranges | undefined {
  if (!Array.isArray(value) || value.length > max) return undefined;
  const out: Ranges = [];
  for (const item of value) {
    if (!Array.isArray(item) || item.length !== 2) return undefined;
    const [a, b] = item as unknown[];
    if (typeof a !== "number" || typeof b !== "number" || !Number.isSafeInteger(a) || !Number.isSafeInteger(b) || a < 0 || b < a) return undefined;
    out.push([a, b]);
  }
  return out;
}
