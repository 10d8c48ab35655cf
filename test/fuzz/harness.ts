// The fuzz loop shared by the bounded test (test/fuzz.test.ts) and the long run (test/fuzz/long-run.ts).
// Round-robin over the targets; each iteration mutates a seed (or an earlier mutated input that was
// accepted) and records the outcome code. Work is bounded by an iteration count, never by time.
// Device-safe: no Node built-ins.

import { toHex } from "../../sdk/bytes";
import { mutate } from "./mutator";
import { Prng } from "./prng";
import { UntypedEscape, type FuzzTarget } from "./targets";

/** An input after which something other than a typed refusal came out. */
export interface Escape {
  readonly target: string;
  readonly seed: number;
  readonly iteration: number;
  readonly inputHex: string;
  readonly message: string;
  readonly stack?: string;
}

/** Accepted mutated inputs kept per target to mutate further. Bounded, so memory stays flat. */
const KEEP_ACCEPTED = 32;

interface TargetState {
  readonly target: FuzzTarget;
  readonly histogram: Map<string, number>;
  readonly accepted: Uint8Array[];
}

export class Fuzzer {
  readonly seed: number;
  private readonly rng: Prng;
  private readonly states: TargetState[];
  readonly escapes: Escape[] = [];
  iterations = 0;

  constructor(targets: readonly FuzzTarget[], seed: number) {
    this.seed = seed >>> 0;
    this.rng = new Prng(this.seed);
    this.states = targets.map((target) => ({ target, histogram: new Map(), accepted: [] }));
  }

  /** Runs every seed unmutated through its target: code per seed, per target. */
  seedOutcomes(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const { target } of this.states) out.set(target.name, target.seeds.map((s) => target.run(s)));
    return out;
  }

  /** Runs `iterations` more iterations (the PRNG continues where the last batch stopped). */
  run(iterations: number, shouldStop?: () => boolean): void {
    const rng = this.rng;
    for (let i = 0; i < iterations; i++) {
      if (shouldStop && (i & 255) === 0 && shouldStop()) return;
      const state = this.states[this.iterations % this.states.length];
      const { target, accepted, histogram } = state;
      const base = accepted.length > 0 && rng.chance(0.25) ? rng.pick(accepted) : rng.pick(target.seeds);
      const donors = accepted.length > 0 && rng.chance(0.5) ? accepted : target.seeds;
      const input = mutate(rng, base, donors);
      let code: string;
      try {
        code = target.run(input);
      } catch (e) {
        code = "UNTYPED-ESCAPE";
        this.escapes.push({
          target: target.name,
          seed: this.seed,
          iteration: this.iterations,
          inputHex: toHex(input),
          message: e instanceof Error ? e.message : String(e),
          stack: e instanceof UntypedEscape && e.error instanceof Error ? e.error.stack : e instanceof Error ? e.stack : undefined,
        });
      }
      histogram.set(code, (histogram.get(code) ?? 0) + 1);
      if (code === "ok") {
        if (accepted.length < KEEP_ACCEPTED) accepted.push(input);
        else accepted[rng.int(KEEP_ACCEPTED)] = input;
      }
      this.iterations++;
    }
  }

  /** Outcome counts per target: target name -> code -> count. */
  histograms(): Map<string, Map<string, number>> {
    const out = new Map<string, Map<string, number>>();
    for (const s of this.states) out.set(s.target.name, new Map(s.histogram));
    return out;
  }

  /** Every distinct code seen, over all targets. */
  codes(): Set<string> {
    const all = new Set<string>();
    for (const s of this.states) for (const code of s.histogram.keys()) all.add(code);
    return all;
  }

  count(target: string, code: string): number {
    return this.states.find((s) => s.target.name === target)?.histogram.get(code) ?? 0;
  }

  /** The histograms as text, most frequent first. */
  report(): string {
    const lines: string[] = [];
    for (const s of this.states) {
      let total = 0;
      for (const n of s.histogram.values()) total += n;
      lines.push(`${s.target.name} (${total} inputs)`);
      const sorted = Array.from(s.histogram.entries()).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
      for (const [code, n] of sorted) lines.push(`  ${code.padEnd(24)} ${String(n).padStart(9)}`);
    }
    return lines.join("\n");
  }
}
