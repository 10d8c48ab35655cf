// Patches and XS 13.3 (xsnap 0.15.0): its native Compartment shares intrinsics that are not frozen, and a
// function constructor reached through a prototype evaluates code in the HOST's scope, so the patch runner
// must refuse it (patch-unavailable) rather than run a patch in it. XS 17 on Moddable freezes the
// intrinsics and answers "secure mode": test/device/patch.test.ts runs the patch cases there.
import "./ses-env";
import "@endo/init";
import test from "ava";
import { bundleForXs, startXs } from "../support/xs";

test("xsnap: a bare Compartment lets a function constructor reach the host, and the patch runner refuses it", async (t) => {
  const xs = await startXs({ meteringLimit: 1e9, name: "gatehouse-patch" });
  try {
    await xs.evaluate(await bundleForXs("test/xs/patch-entry.ts"));
    const run = await xs.evaluate("gatehousePatch.probe()");
    const message = run.messages.find((m) => (m as { kind?: string }).kind === "patch") as Record<string, unknown> | undefined;
    t.truthy(message, "XS reported");
    t.is(message?.escaped, 42, "the constructor read the host's global");
    t.is(message?.frozen, false, "XS 13.3 leaves Array.prototype unfrozen");
    t.is(message?.code, "patch-unavailable", "the runner refuses the compartment");
  } finally {
    await xs.close();
  }
});
