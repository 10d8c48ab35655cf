// The device suite's test app on Moddable's lin simulator: one build, several modes, chosen at run time
// by GATEHOUSE_MODE (test/device/support/moddable.ts sets it). One app keeps the suite's build to one
// mcconfig run (its TypeScript step compiles each module once). Modes load on demand, so the e2e mode
// runs without the conformance cases and @noble in memory.

import { describe, env, exit, report } from "./report";

async function run(mode: string): Promise<void> {
  if (mode === "conformance") (await import("./conformance")).runConformance();
  else if (mode === "ports") await (await import("./ports")).runPorts();
  else if (mode === "e2e") (await import("./e2e")).runE2e();
  else if (mode === "bench") (await import("./bench")).runBench();
  else throw new Error(`unknown GATEHOUSE_MODE "${mode}"`);
}

run(env("GATEHOUSE_MODE")).catch((e) => {
  report({ kind: "crash", error: describe(e) });
  exit(70);
});
