// The lin update port's cost: SHA-256 plus a write of each block through it, as the update agent stores a
// download, against SHA-256 alone on the same bytes.
//
//   MODDABLE=$(/work/shared/moddable/setup) node --import tsx bench/update-lin.ts [--kib 2048] [--xs-kib 64]
//
// (a) Moddable XS 17 on lin (test/device/update-app/bench.ts, built from its manifest_bench.json): ms per
//     KiB hashed (native Digest through the Moddable crypto port) and written through ports/moddable/
//     update-lin (files), as a ratio to Digest alone on the same bytes in the same run. Wall-clock time on
//     a shared machine: a figure, not a test.
// (b) xsnap (XS 13.3), computrons per KiB of the same hash+write loop over an in-memory SlotFiles
//     (bench/update-lin-entry.ts; SHA-256 from @noble/hashes, as xsnap has no native Digest), with hash
//     alone and write alone. Needs no Moddable.
//
// Machine-readable: `lin update hash+write ms/KiB 0.05 hash ms/KiB 0.01 ratio 5.0`,
// `xs update hash+write computrons/KiB ... hash ... write ...`, and one BENCH_RESULT {json} line.
import "../test/xs/ses-env";
import "@endo/init";
import { parseArgs } from "node:util";
import { bundleForXs, startXs } from "../test/support/xs";
import { appEnv, buildApp, deviceFolder, runApp } from "../test/device/support/moddable";

const { values } = parseArgs({ options: { kib: { type: "string", default: "2048" }, "xs-kib": { type: "string", default: "64" }, "no-lin": { type: "boolean", default: false } } });
const kib = Number(values.kib);
const xsKib = Number(values["xs-kib"]);
const result: Record<string, number> = {};

if (!values["no-lin"]) {
  const app = await buildApp("test/device/update-app", {}, { manifest: "manifest_bench.json" });
  const run = await runApp(app.mcso, appEnv({ GATEHOUSE_RUN: String(kib) }), { cwd: deviceFolder("update-bench", { fresh: true }), timeoutMs: 120_000 });
  const device = run.reports.find((r) => r.kind === "bench");
  if (!device || device.same !== true) throw new Error(`the lin bench reported no figures or a slot that does not match (exit ${run.exit.code}): ${JSON.stringify(run.reports.at(-1))}\n${run.output.filter((l) => !l.startsWith("instruments")).slice(-10).join("\n")}`);
  const hash = Number(device.hashMs) / kib;
  const write = Number(device.writeMs) / kib;
  Object.assign(result, { linKib: kib, linHashMsPerKib: hash, linHashWriteMsPerKib: write, linRatio: write / hash });
  console.log(`Moddable XS 17 on lin, ${kib} KiB in ${String(device.block)}-byte blocks (instrumented build): hash+write ${device.writeMs} ms, hash alone ${device.hashMs} ms`);
  console.log(`lin update hash+write ms/KiB ${write.toFixed(4)} hash ms/KiB ${hash.toFixed(4)} ratio ${(write / hash).toFixed(2)}`);
}

const code = await bundleForXs("bench/update-lin-entry.ts", { minify: false });
const xs = await startXs({ meteringLimit: 0, name: "gatehouse-update-bench" });
try {
  await xs.evaluate(code);
  await xs.evaluate(`benchSetup(${xsKib})`);
  const one = async (name: string) => {
    const counts = await xs.measure(name, 3);
    return counts[2]; // the last of three: first calls set things up
  };
  const wrapper = await one("benchNoop");
  const hash = ((await one("benchHashOnly")) - wrapper) / xsKib;
  const both = ((await one("benchHashAndWrite")) - wrapper) / xsKib;
  const write = ((await one("benchWriteOnly")) - wrapper) / xsKib;
  Object.assign(result, { xsKib, xsHashWritePerKib: Math.round(both), xsHashPerKib: Math.round(hash), xsWritePerKib: Math.round(write) });
  console.log(`xsnap (XS 13.3), ${xsKib} KiB, in-memory SlotFiles, @noble/hashes SHA-256:`);
  console.log(`xs update hash+write computrons/KiB ${Math.round(both)} hash ${Math.round(hash)} write ${Math.round(write)} ratio ${(both / hash).toFixed(3)}`);
} finally {
  await xs.close();
}
console.log(`BENCH_RESULT ${JSON.stringify({ bench: "update-lin", ...result })}`);
