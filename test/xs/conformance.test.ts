// The conformance cases (test/conformance/all.ts) run inside the real XS engine (xsnap 0.15.0, XS 13.3)
// with the noble crypto port. One ava test per case: a case that fails in XS fails its test with the
// XS-side error message. test/conformance.test.ts runs the same cases on Node.
//
// "@endo/init" must come first (after ./ses-env, which sets its options): xsnap needs SES, and it
// locks down this whole process, which is why xsnap tests live in their own files.
import "./ses-env";
import "@endo/init";
import test from "ava";
import { allCases } from "../conformance/all";
import { bundleForXs, startXs, type XsWorker } from "../support/xs";

const ENTRY = "test/xs/conformance-entry.ts";
/**
 * Computron budget of ONE case (one evaluate). XS on this kind of machine runs roughly 3-4e8
 * computrons per second, so 2e9 is several seconds: far above any sane case, low enough that a
 * runaway loop fails that case with "too much computation" instead of hanging the run.
 */
const PER_CASE_LIMIT = 2e9;

interface CaseResult {
  readonly index: number;
  readonly name: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly stack?: string;
  /** Computrons of the case in XS (undefined when the worker died during it). */
  readonly compute?: number;
}

interface Outcome {
  readonly names: readonly string[];
  readonly results: readonly CaseResult[];
  readonly bundleBytes: number;
  readonly bundleMs: number;
  readonly runMs: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

function messageOfKind(messages: readonly unknown[], kind: string): Record<string, unknown> | undefined {
  return messages.filter(isRecord).find((m) => m.kind === kind);
}

async function loadWorker(code: string): Promise<XsWorker> {
  const xs = await startXs({ meteringLimit: PER_CASE_LIMIT, name: "gatehouse-conformance" });
  try {
    await xs.evaluate(code);
  } catch (e) {
    await xs.close();
    throw new Error(`the conformance bundle failed while loading in XS: ${(e as Error).message}`);
  }
  return xs;
}

async function runConformanceInXs(): Promise<Outcome> {
  const t0 = performance.now();
  const code = await bundleForXs(ENTRY);
  const t1 = performance.now();
  let xs = await loadWorker(code);
  const results: CaseResult[] = [];
  let names: string[];
  try {
    const listed = await xs.evaluate("gatehouseConformance.list()");
    const crash = messageOfKind(listed.messages, "crash");
    if (crash) throw new Error(`listing the cases in XS failed: ${String(crash.error)}`);
    const cases = messageOfKind(listed.messages, "cases");
    if (!cases || !Array.isArray(cases.names)) throw new Error("XS did not report its case list");
    names = cases.names.map(String);

    for (let index = 0; index < names.length; index++) {
      try {
        const run = await xs.evaluate(`gatehouseConformance.run(${index})`);
        const result = messageOfKind(run.messages, "result");
        if (!result) {
          results.push({ index, name: names[index]!, ok: false, error: "XS reported no result for this case" });
        } else {
          results.push({
            index,
            name: String(result.name),
            ok: result.ok === true,
            ...(typeof result.error === "string" ? { error: result.error } : {}),
            ...(typeof result.stack === "string" ? { stack: result.stack } : {}),
            compute: run.compute,
          });
        }
      } catch (e) {
        // The worker died (e.g. "too much computation") or the script threw past the entry's catch.
        // Blame this case, then continue the rest in a fresh worker.
        results.push({ index, name: names[index]!, ok: false, error: `XS worker failed: ${(e as Error).message}` });
        await xs.close();
        xs = await loadWorker(code);
      }
    }
  } finally {
    await xs.close();
  }
  const t2 = performance.now();
  return { names, results, bundleBytes: code.length, bundleMs: t1 - t0, runMs: t2 - t1 };
}

let outcome: Outcome | undefined;

test.before(async () => {
  outcome = await runConformanceInXs();
});

function getOutcome(): Outcome {
  if (!outcome) throw new Error("the XS conformance run did not complete");
  return outcome;
}

test("xs: the XS run reports exactly the Node-side cases, in order", (t) => {
  const { names, bundleBytes, bundleMs, runMs, results } = getOutcome();
  const total = results.reduce((sum, r) => sum + (r.compute ?? 0), 0);
  t.log(
    `bundle ${(bundleBytes / 1024).toFixed(1)} KiB in ${bundleMs.toFixed(0)} ms; ` +
      `${results.length} cases in XS in ${runMs.toFixed(0)} ms (${total} computrons)`,
  );
  t.is(names.length, allCases.length, "case count in XS differs from Node");
  t.deepEqual(names, allCases.map((c) => c.name));
  t.is(results.length, allCases.length, "not every case produced a result");
});

test("xs: the harness really runs XS", async (t) => {
  const xs = await startXs();
  try {
    const { compute, messages } = await xs.evaluate(`
      issueCommand(new TextEncoder().encode(JSON.stringify({
        print: typeof print,
        harden: typeof harden,
        process: typeof process,
        setTimeout: typeof setTimeout,
      })).buffer);
    `);
    // print is an XS (xsnap) global; Node has neither print nor a computron meter.
    t.deepEqual(messages, [{ print: "function", harden: "function", process: "undefined", setTimeout: "undefined" }]);
    t.true(compute > 0, "XS computron meter reported");
  } finally {
    await xs.close();
  }
});

const seenTitles = new Set<string>();
for (const [index, c] of allCases.entries()) {
  let title = `xs: ${c.name}`;
  for (let n = 2; seenTitles.has(title); n++) title = `xs: ${c.name} (#${n})`;
  seenTitles.add(title);
  test(title, (t) => {
    const result = getOutcome().results[index];
    if (!result) return t.fail(`case ${index} (${c.name}) was not run in XS`);
    t.is(result.name, c.name, "XS ran a different case at this index");
    if (result.compute !== undefined) t.log(`${result.compute} computrons`);
    if (!result.ok) {
      if (result.stack) t.log(result.stack);
      return t.fail(`in XS: ${result.error ?? "failed without a message"}`);
    }
    t.pass();
  });
}
