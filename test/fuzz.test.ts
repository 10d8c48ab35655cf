// A bounded fuzz run over the device's input paths: CBOR decode, COSE_Sign1 verification and the
// command receiver (see test/fuzz/). Every input must end in "ok" or a typed refusal; the work is bounded
// by an iteration count (nothing here measures time); memory must not grow from one batch to the next.
// The long run is `npm run fuzz` (test/fuzz/long-run.ts).
import test from "ava";
import { nodeCrypto } from "../ports/node/crypto";
import { createTargets } from "./fuzz/targets";
import { Fuzzer } from "./fuzz/harness";

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) >>> 0 : 0x6a7e;
const BATCH = 10_000; // two batches: 20,000 inputs over four targets
const MAX_HEAP_GROWTH = 5 * 1024 * 1024;

function collectGarbage(): void {
  const gc = globalThis.gc;
  if (!gc) throw new Error("run with --expose-gc (package.json's ava nodeArguments do)");
  gc();
  gc();
}

test("fuzz: every input ends in ok or a typed refusal, and memory stays flat", (t) => {
  const fuzzer = new Fuzzer(createTargets(nodeCrypto), SEED);
  t.log(`seed ${SEED} (set FUZZ_SEED to change it)`);

  // The seeds themselves are valid: each target accepts them (the stranger's message aside).
  const seeds = fuzzer.seedOutcomes();
  t.true(seeds.get("decode")!.every((c) => c === "ok"), "every CBOR seed decodes");
  t.deepEqual(seeds.get("sign1")!.filter((c) => c !== "ok"), ["unknown-kid"], "every signed seed verifies but the stranger's");
  t.true(seeds.get("command")!.every((c) => c === "ok"), "every command seed executes");

  fuzzer.run(BATCH);
  collectGarbage();
  const before = process.memoryUsage().heapUsed;
  fuzzer.run(BATCH);
  collectGarbage();
  const after = process.memoryUsage().heapUsed;

  t.log(`heap before the second batch ${(before / 1048576).toFixed(1)} MiB, after ${(after / 1048576).toFixed(1)} MiB`);
  t.log(fuzzer.report());

  // Every input finished (the loop is bounded by iterations; a hang would end in ava's timeout).
  t.is(fuzzer.iterations, 2 * BATCH);
  for (const escape of fuzzer.escapes.slice(0, 5)) {
    t.log(`UNTYPED ESCAPE in ${escape.target} at iteration ${escape.iteration} (seed ${escape.seed}): ${escape.message}\ninput h'${escape.inputHex}'\n${escape.stack ?? ""}`);
  }
  t.is(fuzzer.escapes.length, 0, "only typed refusals");
  t.true(after - before < MAX_HEAP_GROWTH, `heap grew ${after - before} bytes over a batch of ${BATCH}`);

  // The mutator reaches the refusals it aims at ...
  const codes = fuzzer.codes();
  for (const code of [
    "cbor-truncated",
    "cbor-trailing-bytes",
    "cbor-non-shortest",
    "cbor-indefinite-length",
    "cbor-reserved-info",
    "cbor-too-deep",
    "cbor-invalid-utf8",
    "cbor-key-type",
    "cbor-unsorted-keys",
    "cbor-duplicate-key",
    "cbor-bignum",
    "cose-malformed",
    "cose-bad-tag",
    "cose-untagged",
    "unknown-kid",
    "bad-signature",
    "command-malformed",
    "wrong-device",
    "invalid-args",
    "not-allowed",
    "unknown-op",
  ]) {
    t.true(codes.has(code), `the fuzzer reached "${code}"`);
  }
  // ... and is not trivially broken: some mutated inputs are still accepted.
  t.true(fuzzer.count("decode", "ok") > 100, "mutated CBOR that still decodes");
  t.true(fuzzer.count("sign1", "ok") > 10, "mutated COSE_Sign1 that still verifies (unprotected header edits)");
  t.true(fuzzer.count("command-payload", "ok") > 10, "mutated command payloads that still execute");
});
