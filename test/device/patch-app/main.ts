// The patch cases (test/conformance/patch.cases.ts) inside XS 17 on Moddable's lin, with XS's native
// Compartment through ports/moddable/compartment.ts. The build keeps XS's parser ("strip": [] in the
// manifest): a patch is source evaluated at run time. Reports as the suite's other app does.

import { patchCases } from "../../conformance/patch.cases";
import { xsCompartments } from "gatehouse/ports/moddable";
import { crypto } from "../app/conformance";
import { describe, exit, report } from "../app/report";

const cases = patchCases(xsCompartments);
report({ kind: "cases", names: cases.map((c) => c.name) });
let failed = 0;
cases.forEach((c, index) => {
  try {
    c.run({ crypto, platform: "moddable" });
    report({ kind: "case", index, name: c.name, ok: true });
  } catch (e) {
    failed++;
    report({ kind: "case", index, name: c.name, ok: false, error: describe(e) });
  }
});
report({ kind: "done", failed });
exit(0);
