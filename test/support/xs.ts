// Node-side harness for running bundled device code inside the real XS engine (Moddable's XS 13.3, via
// @agoric/xsnap 0.15.0). See /work/shared/docs/toolchain.md (XS section).
//
// IMPORTANT: a test file that uses startXs() must start with
//
//   import "./ses-env";      // test/xs/ses-env.ts: SES options that keep ava's reporters working
//   import "@endo/init";     // SES lockdown; xsnap needs `harden` and `assert`
//
// before anything else. @endo/init locks down the whole Node process, so keep every xsnap test in its
// own test file (ava runs each test file in its own child process here: workerThreads is false).
//
// Typical use:
//
//   const code = await bundleForXs("test/xs/conformance-entry.ts");
//   const xs = await startXs();
//   try {
//     const { messages, compute } = await xs.evaluate(code);   // messages: what the bundle sent
//   } finally {
//     await xs.close();
//   }
//
// XS-side conventions:
// - The device code reports through the global `issueCommand(arrayBuffer)` (typed in
//   test/xs/xs-globals.d.ts). Send UTF-8 JSON: `issueCommand(new TextEncoder().encode(JSON.stringify(x)).buffer)`.
//   Each such call shows up, decoded, in `messages` of the evaluate() that triggered it.
// - An exception that escapes the evaluated script makes evaluate() reject with only
//   "Uncaught exception in <name>: <message>" (the worker itself survives a plain throw). The XS-side
//   code must catch its own failures and report them as data.
// - Every evaluate() has a computron budget (meteringLimit, default 1e8 per call, like xsnap). Going over
//   it kills the worker (evaluate() rejects with "<name> exited: too much computation"; later calls
//   reject too). Use meteringLimit: 0 for benchmarks (unlimited). Rough rate: 3-4e8 computrons/s here.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import * as fsPromises from "node:fs/promises";
import { tmpdir, type } from "node:os";
import { join } from "node:path";
import { xsnap } from "@agoric/xsnap";
import { bundleDeviceCode, repoRoot, type DeviceBundleOptions } from "./bundle";

export { repoRoot };

export type BundleOptions = Pick<DeviceBundleOptions, "minify" | "define">;

/**
 * Bundles a TypeScript entry (path absolute, or relative to the repository root) into ONE classic script
 * (an IIFE) that xsnap's `evaluate` can run: XS-via-xsnap evaluates scripts, not modules. The settings
 * are the project's one set for device code (test/support/bundle.ts).
 */
export async function bundleForXs(entry: string, options: BundleOptions = {}): Promise<string> {
  return (await bundleDeviceCode(entry, { ...options, format: "iife" })).code;
}

export interface StartXsOptions {
  /** Computron limit per evaluate(); 0 = unlimited (benchmarks). Default: xsnap's 1e8. */
  readonly meteringLimit?: number;
  /** Worker name, shown in xsnap's error messages. Must not start with "-". */
  readonly name?: string;
  /** Pass the worker's stdout/stderr (XS `print`) through to this process (default false: ignored). */
  readonly inheritOutput?: boolean;
}

export interface XsRun {
  /** XS computrons (meterUsage.compute) of this evaluate call. */
  readonly compute: number;
  /** The messages the XS side sent with issueCommand during this call, each decoded as UTF-8 JSON. */
  readonly messages: unknown[];
}

export interface XsWorker {
  /** Runs a script in the worker's global scope (globals it defines persist across calls). */
  evaluate(code: string): Promise<XsRun>;
  /**
   * Benchmarks: calls the global function `globalName` (defined by a bundle evaluated earlier) `times`
   * times, one evaluate() per call, and returns each call's computron count. The call's own result is
   * discarded; a call that throws inside XS rejects. See `measureCalls` below for the recipe.
   */
  measure(globalName: string, times: number, args?: readonly unknown[]): Promise<number[]>;
  /** Stops the worker (waits for it to exit). Safe to call more than once. */
  close(): Promise<void>;
}

const decoder = new TextDecoder();
const EMPTY_REPLY = new Uint8Array(0);

function tmpName(
  options: { template?: string; prefix?: string; postfix?: string; tmpdir?: string } | undefined,
  callback: (err: Error | null, name: string) => void,
): void {
  // The shape of tmp's tmpName, needed by xsnap's type only for snapshotUseFs (not used here).
  const unique = randomBytes(6).toString("hex");
  const base = options?.template
    ? options.template.replace("XXXXXX", unique)
    : `${options?.prefix ?? "xsnap"}-${unique}${options?.postfix ?? ""}`;
  callback(null, join(options?.tmpdir ?? tmpdir(), base));
}

/**
 * Starts one xsnap worker. The calling process must have imported "@endo/init" first.
 *
 * Messages from XS: inside XS, `issueCommand(buffer)` is synchronous; the Node side decodes the bytes
 * as UTF-8 JSON (a non-JSON payload is kept as `{ raw: text }`) and answers with an empty reply.
 */
export async function startXs(options: StartXsOptions = {}): Promise<XsWorker> {
  let inbox: unknown[] = [];
  const handleCommand = async (request: Uint8Array): Promise<Uint8Array> => {
    const text = decoder.decode(request);
    try {
      inbox.push(JSON.parse(text));
    } catch {
      inbox.push({ raw: text });
    }
    return EMPTY_REPLY;
  };
  const output = options.inheritOutput ? "inherit" : "ignore";
  const worker = await xsnap({
    os: type(),
    spawn,
    fs: { ...fsPromises, createReadStream, tmpName },
    handleCommand,
    name: options.name ?? "gatehouse-xs",
    meteringLimit: options.meteringLimit ?? 1e8,
    stdout: output,
    stderr: output,
  });
  let closed: Promise<void> | undefined;

  async function evaluate(code: string): Promise<XsRun> {
    inbox = [];
    const result = await worker.evaluate(code);
    const messages = inbox;
    inbox = [];
    return { compute: Number(result.meterUsage.compute ?? NaN), messages };
  }

  return {
    evaluate,
    measure: (globalName, times, args = []) => measureCalls({ evaluate }, globalName, times, args),
    close() {
      closed ??= worker.close().catch(() => worker.terminate());
      return closed;
    },
  };
}

/**
 * Per-call computrons of a global function, for benchmarks.
 *
 * Recipe: evaluate the bundle once (it defines globals, e.g. `globalThis.benchStep = () => {...}`), then
 * evaluate one small script per call: `globalThis.benchStep(...args)` wrapped in try/catch. Each evaluate
 * returns its own meterUsage.compute, so every element of the result is the cost of exactly one call
 * (plus a small constant for the wrapper script, identical for every call). The first call often costs
 * more (lazy initialisation, e.g. noble's precomputed tables): keep or drop it deliberately.
 * Start the worker with meteringLimit: 0 so a long call is not killed. Counts are exactly repeatable
 * for the same bundle bytes and inputs.
 *
 * `args` must be JSON-serialisable; they are embedded in the script as a JSON literal.
 */
export async function measureCalls(
  worker: Pick<XsWorker, "evaluate">,
  globalName: string,
  times: number,
  args: readonly unknown[] = [],
): Promise<number[]> {
  const fn = `globalThis[${JSON.stringify(globalName)}]`;
  const script = `(() => {
  try {
    if (typeof ${fn} !== "function") throw new Error(${JSON.stringify(`${globalName} is not a global function`)});
    ${fn}(...${JSON.stringify(args)});
  } catch (e) {
    issueCommand(new TextEncoder().encode(JSON.stringify({ measureError: String(e && e.stack || e) })).buffer);
  }
})();`;
  const counts: number[] = [];
  for (let i = 0; i < times; i++) {
    const { compute, messages } = await worker.evaluate(script);
    const failure = messages.find(
      (m): m is { measureError: string } => typeof m === "object" && m !== null && "measureError" in m,
    );
    if (failure) throw new Error(`XS: ${globalName} call ${i + 1} threw: ${failure.measureError}`);
    counts.push(compute);
  }
  return counts;
}
