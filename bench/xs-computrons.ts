// XS benchmark: device cost in computrons (XS's deterministic instruction meter; relative units, not
// ESP32 cycles). Runs bench/xs-entry.ts inside Moddable's XS 13.3 (xsnap 0.15.0), meteringLimit 0.
//
//   node --import tsx bench/xs-computrons.ts
//
// (a) computrons per CommandReceiver.receive() EXCLUDING signature math: the receiver's crypto port
//     answers verify() = true without computing (bench/fixture.ts noSignatureMathCrypto). The commands
//     are signed for real here, on the Node side, with node:crypto, and passed into XS. Median over
//     distinct commands (distinct seq), the per-evaluate wrapper cost subtracted. Plus a breakdown by
//     part (each part measured alone).
// (b) CBOR encode+decode of a 10-field map: sdk/cbor vs cbor-x (its neutral/browser build, index.js,
//     bundled into the same XS bundle), measured in the same worker, plus encode and decode apart.
//
// Machine-readable lines:
//   xs pipeline computrons 23456                  (the larger of ES256 and EdDSA)
//   xs cbor ours 12000 cbor-x 14000 ratio 0.86
//   BENCH_RESULT {"bench":"xs-computrons",...}
import "../test/xs/ses-env";
import "@endo/init";
import { nodeCrypto } from "../ports/node/crypto";
import { toHex } from "../sdk/bytes";
import { signCommand } from "../sdk/command/sender";
import type { SignatureAlgorithm } from "../sdk/cose/key";
import { bundleForXs, startXs, type XsWorker } from "../test/support/xs";
import { FIRST_SEQ, benchCommand, signerFor } from "./fixture";

const ENTRY = "bench/xs-entry.ts";
/** Pinned: computron counts depend on the bundle's bytes. Unminified, like the sources xsc compiles. */
const MINIFY = false;
const SAMPLES = 21; // measured calls per figure (after WARMUP calls that are dropped)
const WARMUP = 2;
const PIPELINE_GOAL = 40_000;
const CBOR_GOAL = 1.0;
const ALGS: SignatureAlgorithm[] = ["ES256", "EdDSA"];
const PARTS = ["parseSign1", "sigStructure", "verifySign1", "toHexKid", "decodeCommand", "replay", "dispatch"];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : Math.round((sorted[mid - 1] + sorted[mid]) / 2);
}

/** Median computrons of one call of `fn(...args)`, wrapper cost subtracted; also min/max for the record. */
async function measure(xs: XsWorker, fn: string, args: unknown[], wrapper: number): Promise<{ median: number; min: number; max: number; first: number }> {
  const counts = await xs.measure(fn, WARMUP + SAMPLES, args);
  const kept = counts.slice(WARMUP).map((c) => c - wrapper);
  return { median: median(kept), min: Math.min(...kept), max: Math.max(...kept), first: counts[0] - wrapper };
}

function messagesOf(run: { messages: unknown[] }, kind: string): Record<string, unknown> {
  const m = run.messages.find((x): x is Record<string, unknown> => typeof x === "object" && x !== null && (x as { kind?: unknown }).kind === kind);
  if (!m) throw new Error(`XS sent no "${kind}" message`);
  return m;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const code = await bundleForXs(ENTRY, { minify: MINIFY });
  const xs = await startXs({ meteringLimit: 0, name: "gatehouse-bench" });
  try {
    const loaded = await xs.evaluate(code);
    console.log(`xs: bundle ${(code.length / 1024).toFixed(1)} KiB (minify ${MINIFY}), loaded in ${loaded.compute} computrons`);

    // The wrapper script of measureCalls around an empty function: subtracted from every figure.
    const noop = await xs.measure("benchNoop", WARMUP + SAMPLES);
    const wrapper = median(noop.slice(WARMUP));
    if (new Set(noop.slice(WARMUP)).size !== 1) console.log(`  note: wrapper cost varies: ${[...new Set(noop)].join(", ")}`);
    console.log(`  wrapper (one evaluate of an empty call): ${wrapper} computrons, subtracted below`);

    // (a) the pipeline
    const pipeline: Record<string, number> = {};
    const breakdown: Record<string, Record<string, number>> = {};
    for (const alg of ALGS) {
      const key = signerFor(alg);
      const count = WARMUP + SAMPLES;
      const hex: string[] = [];
      for (let i = 0; i < count; i++) hex.push(toHex(signCommand(nodeCrypto, key, benchCommand(FIRST_SEQ + i))));
      await xs.evaluate(`gatehouseBench.load(${JSON.stringify(alg)}, ${JSON.stringify(hex)})`);
      const r = await measure(xs, "benchReceive", [alg], wrapper);
      pipeline[alg] = r.median;
      console.log(`  ${alg} receive() without signature math: median ${r.median} computrons (min ${r.min}, max ${r.max}, first call ${r.first}), ${(hex[0].length / 2)} bytes/command`);
      breakdown[alg] = {};
      await xs.evaluate("gatehouseBench.resetParts()");
      // Each part is called through benchPart, whose own cost (part "none") is subtracted too.
      const partCall = (await measure(xs, "benchPart", ["none", alg], wrapper)).median;
      for (const name of PARTS) {
        const p = await measure(xs, "benchPart", [name, alg], wrapper + partCall);
        breakdown[alg][name] = p.median;
      }
      const b = breakdown[alg];
      console.log(`    parts (each alone): ${PARTS.map((n) => `${n} ${b[n]}`).join(", ")}`);
      console.log(
        `    verifySign1 = parseSign1 ${b.parseSign1} + sigStructure ${b.sigStructure} + look-ups/checks ${b.verifySign1 - b.parseSign1 - b.sigStructure}; ` +
          `receive - (verifySign1 + toHex + decodeCommand + replay + dispatch) = ${r.median - b.verifySign1 - b.toHexKid - b.decodeCommand - b.replay - b.dispatch} (binding/freshness, result objects)`,
      );
    }
    const worst = Math.max(...ALGS.map((a) => pipeline[a]));
    console.log(`  goal < ${PIPELINE_GOAL.toLocaleString("en-US")}: ${worst < PIPELINE_GOAL ? "met" : "NOT met"}`);
    for (const alg of ALGS) console.log(`xs pipeline ${alg} computrons ${pipeline[alg]}`);
    console.log(`xs pipeline computrons ${worst}`);

    // (b) CBOR
    const check = messagesOf(await xs.evaluate("gatehouseBench.cborCheck()"), "cbor-check");
    if (check.ok !== true) throw new Error(`CBOR sanity check failed in XS: ${String(check.error)}`);
    console.log(`  cbor sample: sdk/cbor ${String(check.oursBytes)} bytes, cbor-x ${String(check.cborxBytes)} bytes`);
    const c: Record<string, number> = {};
    for (const name of [
      "oursRoundTrip", "oursEncode", "oursDecode", "oursMapRoundTrip", "oursMapEncode", "cborxRoundTrip", "cborxEncode", "cborxDecode",
      "oursValuesOnly", "cborxValuesOnly", "oursDecodeFixed", "cborxDecodeFixed",
    ]) {
      c[name] = (await measure(xs, "benchCbor", [name], wrapper)).median;
    }
    const ratio = c.oursRoundTrip / c.cborxRoundTrip;
    console.log(`  sdk/cbor  encode ${c.oursEncode}  decode ${c.oursDecode}  encode+decode ${c.oursRoundTrip}  (from a Map: encode ${c.oursMapEncode}, encode+decode ${c.oursMapRoundTrip})`);
    console.log(`  cbor-x    encode ${c.cborxEncode}  decode ${c.cborxDecode}  encode+decode ${c.cborxRoundTrip}`);
    console.log(`  ratio encode ${(c.oursEncode / c.cborxEncode).toFixed(2)}, decode ${(c.oursDecode / c.cborxDecode).toFixed(2)}; goal <= ${CBOR_GOAL}: ${ratio <= CBOR_GOAL ? "met" : "NOT met"}`);
    console.log(
      `  encode profile: the 10 values alone as an array (no keys to order): ours ${c.oursValuesOnly}, cbor-x ${c.cborxValuesOnly}`,
    );
    console.log(`  decode profile: fixed cost of one decode() call (one-byte item): ours ${c.oursDecodeFixed}, cbor-x ${c.cborxDecodeFixed}`);
    console.log(`xs cbor ours ${c.oursRoundTrip} cbor-x ${c.cborxRoundTrip} ratio ${ratio.toFixed(2)}`);
    console.log(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    console.log(
      `BENCH_RESULT ${JSON.stringify({
        bench: "xs-computrons",
        minify: MINIFY,
        wrapper,
        pipeline: { ...pipeline, max: worst, goal: PIPELINE_GOAL },
        breakdown,
        cbor: { ...c, ratio: Number(ratio.toFixed(4)), goal: CBOR_GOAL },
      })}`,
    );
  } finally {
    await xs.close();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
