// Peak live memory of an app in an instrumented build (mcconfig -i): the XS chunk and slot heaps, sampled
// after a forced collection (a fixed heap collects only when full, so the plain "used" figures would just
// approach the heap size), on a timer and whenever a caller asks. Each new peak is reported as a
// {kind: "memory", chunks, slots, samples} line (report.ts). The stack's peak is not sampled here: Moddable
// resets it every second, after printing it on the simulator's "instruments:" line, which the suite reads
// (support/moddable.ts, stackPeak). Outside an instrumented build the figures stay 0. Device code.

import Instrumentation from "instrumentation";
import Debug from "debug";
import Timer from "timer";
import { report } from "./report";

const CHUNKS = Instrumentation.map("XS Chunk Heap Used");
const SLOTS = Instrumentation.map("XS Slot Heap Used");

export const peak = { chunks: 0, slots: 0, samples: 0 };

export function sampleMemory(): void {
  if (CHUNKS === undefined || SLOTS === undefined) return;
  Debug.gc();
  const chunks = Instrumentation.get(CHUNKS) ?? 0;
  const slots = Instrumentation.get(SLOTS) ?? 0;
  peak.samples++;
  if (chunks <= peak.chunks && slots <= peak.slots) return;
  peak.chunks = Math.max(peak.chunks, chunks);
  peak.slots = Math.max(peak.slots, slots);
  report({ kind: "memory", ...peak });
}

/** Samples every `ms` from now on. */
export function watchMemory(ms = 250): void {
  Timer.repeat(sampleMemory, ms);
}
