// Patches inside XS 17: the patch cases (test/conformance/patch.cases.ts, the same file test/patch.test.ts
// runs on Node with ses) in an app built by mcconfig for lin, with XS's native Compartment. One ava test
// per case, failing with the app's own error text.
import test from "ava";
import { patchCases } from "../conformance/patch.cases";
import { xsCompartments } from "../../ports/moddable/compartment";
import { appEnv, buildApp, deviceFolder, runApp, type Report } from "./support/moddable";

const cases = patchCases(xsCompartments);
let reports: Report[] = [];
let failure: string | undefined;
try {
  const app = await buildApp("test/device/patch-app");
  const run = await runApp(app.mcso, appEnv({}), { cwd: deviceFolder("patch", { fresh: true }), timeoutMs: 180_000 });
  reports = run.reports;
  if (run.exit.code !== 0) failure = `the app exited with ${run.exit.code}${run.exit.timedOut ? " (timed out)" : ""}; its last output:\n${run.output.slice(-15).join("\n")}`;
} catch (e) {
  failure = (e as Error).message;
}

test("moddable: the patch app ran every patch case and ended with exit(0)", (t) => {
  if (failure) return t.fail(failure);
  t.deepEqual(reports.find((r) => r.kind === "cases")?.names, cases.map((c) => c.name));
  t.truthy(reports.find((r) => r.kind === "done"), "the app reported the end of the run");
});

cases.forEach((c, index) => {
  test(`moddable: ${c.name}`, (t) => {
    const result = reports.find((r) => r.kind === "case" && r.index === index);
    if (!result) return t.fail(failure ?? `case ${index} was not run on XS 17`);
    if (result.ok !== true) return t.fail(`on XS 17: ${String(result.error)}`);
    t.pass();
  });
});
