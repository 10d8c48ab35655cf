// Patches on Node: the patch cases (test/conformance/patch.cases.ts) with ses's Compartment after
// lockdown(), and what the Node port does before it. The same cases run inside XS 17 in the device suite.
import "./patch-ses";
import test from "ava";
import { nodeCrypto } from "../ports/node/crypto";
import { nodeCompartments } from "../ports/node/compartment";
import { patchCases } from "./conformance/patch.cases";

for (const c of patchCases(nodeCompartments)) {
  test(c.name, (t) => {
    c.run({ crypto: nodeCrypto, platform: "node" });
    t.pass();
  });
}
