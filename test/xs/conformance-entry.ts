// XS-side entry of the conformance run. test/xs/conformance.test.ts bundles it with bundleForXs,
// evaluates the bundle once in an xsnap worker (that only defines a global), then drives it:
//
//   evaluate("gatehouseConformance.list()")  -> issueCommand {kind: "cases", names: [...]}
//   evaluate("gatehouseConformance.run(i)")  -> issueCommand {kind: "result", index, name, ok, error?, stack?}
//
// One evaluate per case gives each case its own computron budget and count, and a case that kills the
// worker (e.g. "too much computation") is attributed to that case. Every failure inside a case is caught
// here: an exception escaping an evaluate is reported by xsnap only as a bare "Uncaught exception".
// XS 13.3 has no setTimeout, queueMicrotask, structuredClone or `crypto`: this file uses none of them.
// (An error thrown while the bundle's modules initialise still escapes: the Node side then fails every
// case with that message.)

import { allCases } from "../conformance/all";
import { nobleCrypto } from "../../ports/noble/crypto";
import type { ConformanceEnv } from "../conformance/case";

function describe(e: unknown): { error: string; stack?: string } {
  if (e instanceof Error) {
    const prefix = e.name && e.name !== "Error" ? `${e.name}: ` : "";
    const stack = typeof e.stack === "string" ? e.stack : undefined;
    return stack ? { error: prefix + e.message, stack } : { error: prefix + e.message };
  }
  try {
    return { error: `non-Error thrown: ${String(e)}` };
  } catch {
    return { error: "non-Error thrown (not printable)" };
  }
}

function send(message: unknown): void {
  issueCommand(new TextEncoder().encode(JSON.stringify(message)).buffer as ArrayBuffer);
}

const env: ConformanceEnv = { crypto: nobleCrypto, platform: "xs" };

function list(): void {
  try {
    send({ kind: "cases", names: allCases.map((c) => String(c.name)) });
  } catch (e) {
    send({ kind: "crash", ...describe(e) });
  }
}

function run(index: number): void {
  const c = allCases[index];
  if (!c) {
    send({ kind: "result", index, name: "<missing>", ok: false, error: `no case at index ${index}` });
    return;
  }
  let name = "<unnamed>";
  try {
    name = String(c.name);
    const returned: unknown = c.run(env);
    if (typeof (returned as { then?: unknown } | undefined)?.then === "function") {
      // Cases are synchronous by contract; a promise would otherwise count as a pass without running.
      send({ kind: "result", index, name, ok: false, error: "case returned a promise: conformance cases must be synchronous" });
      return;
    }
    send({ kind: "result", index, name, ok: true });
  } catch (e) {
    send({ kind: "result", index, name, ok: false, ...describe(e) });
  }
}

(globalThis as { gatehouseConformance?: unknown }).gatehouseConformance = { list, run };
