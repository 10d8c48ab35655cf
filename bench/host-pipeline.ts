// Host benchmark: the full command pipeline (CommandReceiver.receive) against its cost floor, a bare
// node:crypto verification of the same signatures over the same Sig_structure bytes.
//
//   node --import tsx bench/host-pipeline.ts [--n 800] [--rounds 25]
//
// For each algorithm (ES256, EdDSA): N distinct commands (distinct seq, so the replay window never
// refuses) are signed before any timing. Then, after a warm-up, baseline and pipeline alternate for
// `rounds` rounds in this one process; each round times all N messages. Many short rounds rather
// than a few long ones: the machine is shared, and short alternating rounds see the same load. Reported: the median
// throughput of each, and ratio = pipeline / baseline (1.00 = the pipeline costs nothing beyond the
// signature check). Also reported, for diagnosis: the pipeline with signature math switched off
// (bench/fixture.ts noSignatureMathCrypto), i.e. the SDK's own overhead per command in microseconds.
//
// Machine-readable lines:
//   pipeline/verify ES256 ratio 0.91
//   BENCH_RESULT {"bench":"host-pipeline",...}

import { createPublicKey, verify, type KeyObject } from "node:crypto";
import { nodeCrypto } from "../ports/node/crypto";
import { signCommand } from "../sdk/command/sender";
import { COMMAND_AAD } from "../sdk/command/envelope";
import { parseSign1, sigStructure } from "../sdk/cose/sign1";
import type { CoseKey, SignatureAlgorithm } from "../sdk/cose/key";
import type { CryptoPort } from "../sdk/ports/crypto";
import { FIRST_SEQ, benchCommand, makeDevice, noSignatureMathCrypto, signerFor } from "./fixture";

function argument(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  return value;
}

const N = argument("n", 800);
const ROUNDS = argument("rounds", 25);
const GOAL = 0.85;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function b64u(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

/** A KeyObject built once, outside the timing, straight from the key's coordinates. */
function keyObject(key: CoseKey): KeyObject {
  const jwk = key.alg === "ES256" ? { kty: "EC", crv: "P-256", x: b64u(key.x), y: b64u(key.y!) } : { kty: "OKP", crv: "Ed25519", x: b64u(key.x) };
  return createPublicKey({ key: jwk, format: "jwk" });
}

interface Prepared {
  messages: Uint8Array[];
  toBeSigned: Uint8Array[];
  signatures: Uint8Array[];
}

function prepare(alg: SignatureAlgorithm): Prepared {
  const key = signerFor(alg);
  const messages: Uint8Array[] = [];
  const toBeSigned: Uint8Array[] = [];
  const signatures: Uint8Array[] = [];
  for (let i = 0; i < N; i++) {
    const message = signCommand(nodeCrypto, key, benchCommand(FIRST_SEQ + i));
    const parts = parseSign1(message);
    messages.push(message);
    // The bytes the pipeline hands to the crypto port: Sig_structure over the protected header as received.
    toBeSigned.push(sigStructure(parts.protectedBytes, COMMAND_AAD, parts.payload!).slice());
    signatures.push(parts.signature.slice());
  }
  return { messages, toBeSigned, signatures };
}

/** Seconds for N bare verifications. Throws if any signature fails (that would be a broken benchmark). */
function runBaseline(alg: SignatureAlgorithm, object: KeyObject, p: Prepared): number {
  const options = { key: object, dsaEncoding: "ieee-p1363" as const };
  let good = 0;
  const t0 = process.hrtime.bigint();
  if (alg === "ES256") {
    for (let i = 0; i < N; i++) if (verify("sha256", p.toBeSigned[i], options, p.signatures[i])) good++;
  } else {
    for (let i = 0; i < N; i++) if (verify(null, p.toBeSigned[i], object, p.signatures[i])) good++;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (good !== N) throw new Error(`baseline ${alg}: ${N - good} of ${N} signatures did not verify`);
  return seconds;
}

/** Seconds for N receive() calls on a fresh device. Throws unless every command executed. */
function runPipeline(alg: SignatureAlgorithm, p: Prepared, crypto: CryptoPort = nodeCrypto): number {
  const device = makeDevice(crypto); // outside the timing
  const receiver = device.receiver;
  let refused = 0;
  let firstRefusal = "";
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const result = receiver.receive(p.messages[i], "setpoint");
    if (!result.outcome.ok) {
      refused++;
      firstRefusal ||= `${result.outcome.code}: ${result.outcome.message}`;
    }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (refused !== 0) throw new Error(`pipeline ${alg}: ${refused} of ${N} commands refused (first: ${firstRefusal})`);
  if (device.state.writes !== N || device.state.doorEvents !== N) throw new Error(`pipeline ${alg}: the door did not run for every command`);
  return seconds;
}

interface AlgResult {
  alg: SignatureAlgorithm;
  baselineOps: number;
  pipelineOps: number;
  ratio: number;
  pairedRatio: number;
  overheadUs: number;
  noCryptoOps: number;
  /** Spread of the baseline across rounds: (p90 - p10) / median. Large = the machine was busy. */
  noise: number;
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
}

function benchAlgorithm(alg: SignatureAlgorithm): AlgResult {
  const p = prepare(alg);
  const object = keyObject(signerFor(alg));
  // Warm-up: JIT both paths (and the KeyObject caches) before anything is timed.
  runBaseline(alg, object, p);
  runPipeline(alg, p);
  runBaseline(alg, object, p);
  runPipeline(alg, p);
  const baseline: number[] = [];
  const pipeline: number[] = [];
  const paired: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate which goes first, so slow drift of the machine does not favour one side.
    let b: number;
    let q: number;
    if (r % 2 === 0) {
      b = runBaseline(alg, object, p);
      q = runPipeline(alg, p);
    } else {
      q = runPipeline(alg, p);
      b = runBaseline(alg, object, p);
    }
    baseline.push(N / b);
    pipeline.push(N / q);
    paired.push(b / q);
  }
  // The SDK's own cost per command: the same pipeline with signature math switched off.
  const noCrypto: number[] = [];
  for (let r = 0; r < ROUNDS; r++) noCrypto.push(N / runPipeline(alg, p, noSignatureMathCrypto));
  const baselineOps = median(baseline);
  const pipelineOps = median(pipeline);
  const noCryptoOps = median(noCrypto);
  return {
    alg,
    baselineOps,
    pipelineOps,
    ratio: pipelineOps / baselineOps,
    pairedRatio: median(paired),
    overheadUs: 1e6 / noCryptoOps,
    noCryptoOps,
    noise: (quantile(baseline, 0.9) - quantile(baseline, 0.1)) / baselineOps,
  };
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

console.log(`host pipeline: N=${N} distinct signed commands, ${ROUNDS} alternating rounds, medians (node ${process.version})`);
const results: AlgResult[] = [];
for (const alg of ["ES256", "EdDSA"] as const) {
  const r = benchAlgorithm(alg);
  results.push(r);
  console.log(`  ${alg} baseline node:crypto verify   ${fmt(r.baselineOps).padStart(8)} ops/s  (${(1e6 / r.baselineOps).toFixed(1)} us/op)`);
  console.log(`  ${alg} pipeline receive()            ${fmt(r.pipelineOps).padStart(8)} ops/s  (${(1e6 / r.pipelineOps).toFixed(1)} us/op)`);
  console.log(`  ${alg} pipeline without signature    ${fmt(r.noCryptoOps).padStart(8)} ops/s  (${r.overheadUs.toFixed(1)} us/op of SDK overhead)`);
  console.log(`  ${alg} median of per-round ratios    ${r.pairedRatio.toFixed(2)}${r.ratio < GOAL ? `   BELOW GOAL ${GOAL}` : ""}`);
  console.log(`  ${alg} baseline spread p10-p90       ${(100 * r.noise).toFixed(0)}% of the median${r.noise > 0.15 ? "   (busy machine: figures unreliable, run again on an idle one)" : ""}`);
  console.log(`pipeline/verify ${alg} ratio ${r.ratio.toFixed(2)}`);
}
console.log(
  `BENCH_RESULT ${JSON.stringify({
    bench: "host-pipeline",
    n: N,
    rounds: ROUNDS,
    goal: GOAL,
    results: results.map((r) => ({
      alg: r.alg,
      baselineOpsPerSec: Math.round(r.baselineOps),
      pipelineOpsPerSec: Math.round(r.pipelineOps),
      ratio: Number(r.ratio.toFixed(4)),
      pairedRatio: Number(r.pairedRatio.toFixed(4)),
      sdkOverheadUs: Number(r.overheadUs.toFixed(2)),
      baselineSpread: Number(r.noise.toFixed(3)),
    })),
  })}`,
);
