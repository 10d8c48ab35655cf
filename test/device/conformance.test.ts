// The conformance cases (test/conformance, the same files that run on Node and in xsnap) inside XS 17: the
// device suite's test app, built by Moddable's mcconfig for lin, runs every case in its simulator with the
// Moddable ports (see app/conformance.ts for the one test-only piece, an Ed25519 verifier). One ava test
// per case, failing with the app's own error text.
import test from "ava";
import { allCases } from "../conformance/all";
import { appEnv, buildApp, deviceFolder, runApp, type Report } from "./support/moddable";

let reports: Report[] = [];
let failure: string | undefined;
try {
  const app = await buildApp("test/device/app");
  const run = await runApp(app.mcso, appEnv({ GATEHOUSE_MODE: "conformance" }), { cwd: deviceFolder("conformance", { fresh: true }), timeoutMs: 180_000 });
  reports = run.reports;
  if (run.exit.code !== 0) failure = `the app exited with ${run.exit.code}${run.exit.timedOut ? " (timed out)" : ""}; its last output:\n${run.output.slice(-15).join("\n")}`;
} catch (e) {
  failure = (e as Error).message;
}

test("moddable: the app ran every Node-side case, in order, and ended with exit(0)", (t) => {
  if (failure) return t.fail(failure);
  const listed = reports.find((r) => r.kind === "cases");
  t.deepEqual(listed?.names, allCases.map((c) => c.name));
  t.is(reports.filter((r) => r.kind === "case").length, allCases.length, "a result for every case");
  t.truthy(reports.find((r) => r.kind === "done"), "the app reported the end of the run");
});

const seen = new Set<string>();
allCases.forEach((c, index) => {
  let title = `moddable: ${c.name}`;
  for (let n = 2; seen.has(title); n++) title = `moddable: ${c.name} (#${n})`;
  seen.add(title);
  test(title, (t) => {
    const result = reports.find((r) => r.kind === "case" && r.index === index);
    if (!result) return t.fail(failure ?? `case ${index} was not run on XS 17`);
    t.is(result.name, c.name, "the app ran a different case at this index");
    if (result.ok !== true) return t.fail(`on XS 17: ${String(result.error)}`);
    t.pass();
  });
});
