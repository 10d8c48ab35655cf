// `npm run bench`: runs each benchmark in its own child process (one after the other, so they do not
// compete for the CPU; the XS one locks its process down with SES), passes their output through, and
// ends with a summary table. Exits non-zero only when a benchmark crashed; missed goals are reported,
// not failed.
//
//   npm run bench                      (or: node --import tsx bench/run.ts)
//   node --import tsx bench/run.ts host-pipeline size     (a subset)
//   node --import tsx bench/run.ts mqtt-roundtrip sim-capacity   (two that start a mosquitto)
//   node --import tsx bench/run.ts update-fanout update-memory    (the update benchmarks)

import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");

const BENCHMARKS = ["host-pipeline", "xs-computrons", "size", "mqtt-roundtrip", "sim-capacity", "webhook-delivery", "dashboard", "update-fanout", "update-memory"] as const;
type Name = (typeof BENCHMARKS)[number];
/** Node flags a benchmark needs (sim-capacity collects garbage before it measures). */
const NODE_FLAGS: Partial<Record<Name, string[]>> = { "sim-capacity": ["--expose-gc"] };

function nodeArgs(name: Name): string[] {
  return [...(NODE_FLAGS[name] ?? []), "--import", "tsx"];
}

interface Run {
  name: Name;
  code: number | null;
  signal: NodeJS.Signals | null;
  seconds: number;
  result?: Record<string, any>;
}

function runOne(name: Name): Promise<Run> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeArgs(name), join(here, `${name}.ts`)], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
    let buffered = "";
    let result: Record<string, any> | undefined;
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.startsWith("BENCH_RESULT ")) {
          try {
            result = JSON.parse(line.slice("BENCH_RESULT ".length));
          } catch {
            console.log(`[run] ${name}: unreadable BENCH_RESULT line`);
          }
        }
        console.log(line);
      }
    });
    child.on("error", (e) => {
      console.error(`[run] ${name}: could not start: ${e.message}`);
    });
    child.on("close", (code, signal) => {
      if (buffered) console.log(buffered);
      resolve({ name, code, signal, seconds: (performance.now() - t0) / 1000, result });
    });
  });
}

function goalText(met: boolean | undefined): string {
  return met === undefined ? "" : met ? "met" : "NOT met";
}

const selected = (process.argv.slice(2).length ? process.argv.slice(2) : [...BENCHMARKS]) as Name[];
for (const name of selected) if (!BENCHMARKS.includes(name)) throw new Error(`unknown benchmark ${name} (have: ${BENCHMARKS.join(", ")})`);

const runs: Run[] = [];
for (const name of selected) {
  console.log(`\n=== ${name} (node ${nodeArgs(name).join(" ")} bench/${name}.ts)`);
  runs.push(await runOne(name));
}

// Summary: figure | value | goal | status
const rows: [string, string, string, string][] = [];
for (const run of runs) {
  const r = run.result;
  const crashed = run.code !== 0 || !r;
  if (crashed) {
    rows.push([run.name, run.signal ? `killed (${run.signal})` : `CRASHED (exit ${run.code}${r ? "" : ", no result"})`, "", ""]);
    continue;
  }
  if (run.name === "host-pipeline") {
    for (const a of r.results) {
      rows.push([`host ${a.alg} baseline verify`, `${a.baselineOpsPerSec.toLocaleString("en-US")} ops/s`, "", ""]);
      rows.push([`host ${a.alg} pipeline receive()`, `${a.pipelineOpsPerSec.toLocaleString("en-US")} ops/s`, "", ""]);
      rows.push([`host ${a.alg} pipeline/verify`, a.ratio.toFixed(2), `>= ${r.goal}`, goalText(a.ratio >= r.goal)]);
      rows.push([`host ${a.alg} SDK overhead`, `${a.sdkOverheadUs.toFixed(1)} us/cmd`, "", ""]);
    }
  } else if (run.name === "xs-computrons") {
    rows.push(["xs receive() ES256, no sig math", `${r.pipeline.ES256} computrons`, `< ${r.pipeline.goal}`, goalText(r.pipeline.ES256 < r.pipeline.goal)]);
    rows.push(["xs receive() EdDSA, no sig math", `${r.pipeline.EdDSA} computrons`, `< ${r.pipeline.goal}`, goalText(r.pipeline.EdDSA < r.pipeline.goal)]);
    rows.push(["xs cbor enc+dec sdk/cbor", `${r.cbor.oursRoundTrip} computrons`, "", ""]);
    rows.push(["xs cbor enc+dec cbor-x", `${r.cbor.cborxRoundTrip} computrons`, "", ""]);
    rows.push(["xs cbor ours/cbor-x", r.cbor.ratio.toFixed(2), `<= ${r.cbor.goal}`, goalText(r.cbor.ratio <= r.cbor.goal)]);
  } else if (run.name === "size") {
    rows.push(["size device-core (minified)", `${r.kib.toFixed(1)} KiB (${r.bytes} B)`, `< ${r.goalKib} KiB`, goalText(r.kib < r.goalKib)]);
    rows.push(["size device-core (gzip)", `${(r.gzipBytes / 1024).toFixed(1)} KiB`, "", ""]);
  } else if (run.name === "mqtt-roundtrip") {
    for (const c of r.results) {
      const at = `c=${c.concurrency}`;
      rows.push([`mqtt ${at} unsigned round trips`, `${c.unsignedPerSec.toLocaleString("en-US")} rt/s`, "", ""]);
      rows.push([`mqtt ${at} signed round trips`, `${c.signedPerSec.toLocaleString("en-US")} rt/s`, "", ""]);
      rows.push([`mqtt ${at} signed/unsigned`, c.ratio.toFixed(2), `>= ${r.goal}`, goalText(c.ratio >= r.goal)]);
      rows.push([`mqtt ${at} signed latency`, `p50 ${c.signedP50Ms.toFixed(1)} ms, p99 ${c.signedP99Ms.toFixed(1)} ms`, "", ""]);
    }
  } else if (run.name === "webhook-delivery") {
    for (const b of r.results) {
      rows.push([`webhook batch ${b.batch} delivered`, `${b.webhookPerSec.toLocaleString("en-US")} events/s`, "", ""]);
      rows.push([`webhook batch ${b.batch} bare POST loop`, `${b.barePerSec.toLocaleString("en-US")} events/s`, "", ""]);
      rows.push([`webhook batch ${b.batch} webhook/bare`, b.ratio.toFixed(2), "", ""]);
    }
  } else if (run.name === "dashboard") {
    rows.push(["dashboard events stored, SSE client", `${r.eventsPerSecondConnected.toLocaleString("en-US")} events/s`, "", ""]);
    rows.push(["dashboard events stored, no client", `${r.eventsPerSecondWithout.toLocaleString("en-US")} events/s`, "", ""]);
    rows.push(["dashboard connected/none", r.ratio.toFixed(2), "", ""]);
    rows.push(["dashboard refusal -> browser row", `p50 ${r.refusalToRowMs.p50} ms, p99 ${r.refusalToRowMs.p99} ms`, "", ""]);
  } else if (run.name === "update-fanout") {
    rows.push([`update ${r.kib} KiB to ${r.devices} devices`, `${r.updateSeconds.toFixed(1)} s`, "", ""]);
    rows.push([`plain MQTT, same bytes`, `${r.plainSeconds.toFixed(1)} s`, "", ""]);
    rows.push(["update/plain MQTT throughput", r.ratio.toFixed(2), `>= ${r.goal}`, goalText(r.ratio >= r.goal)]);
    rows.push(["update/plain MQTT, one process", r.oneProcessRatio.toFixed(2), "", ""]);
  } else if (run.name === "update-memory") {
    for (const image of r.images) rows.push([`update memory ${image.kib} KiB image`, `peak live ${image.peakLiveMib.toFixed(2)} MiB (+${image.aboveBaseMib.toFixed(2)}), rss ${image.peakRssMib} MiB`, "", ""]);
    rows.push(["update memory difference", `${r.differenceMib.toFixed(2)} MiB`, `<= ${r.goalMib} MiB`, goalText(r.differenceMib <= r.goalMib)]);
  } else if (run.name === "sim-capacity") {
    rows.push(["sim devices online", `${r.online} of ${r.devices} in ${r.onlineSeconds.toFixed(1)} s`, `${r.devices}`, goalText(r.allOnline)]);
    rows.push(["sim heap per device", `${r.heapPerDeviceKib.toFixed(1)} KiB`, `< ${r.goalKib} KiB`, goalText(r.heapPerDeviceKib < r.goalKib)]);
    rows.push(["sim rss per device", `${r.rssPerDeviceKib.toFixed(1)} KiB`, `< ${r.goalKib} KiB`, goalText(r.rssPerDeviceKib < r.goalKib)]);
  }
}
const header: [string, string, string, string] = ["figure", "value", "goal", "status"];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
console.log("\n=== summary");
console.log(line(header));
console.log(line(widths.map((w) => "-".repeat(w))));
for (const row of rows) console.log(line(row));
console.log(`(${runs.map((r) => `${r.name} ${r.seconds.toFixed(1)} s`).join(", ")})`);

const crashed = runs.filter((r) => r.code !== 0 || !r.result);
if (crashed.length > 0) {
  console.log(`benchmarks crashed: ${crashed.map((r) => r.name).join(", ")}`);
  process.exit(1);
}
