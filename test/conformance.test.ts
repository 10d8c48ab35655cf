// The conformance cases on Node, with the node:crypto port. The same cases run inside XS with the
// @noble port (test/xs/conformance.test.ts).
import test from "ava";
import { allCases } from "./conformance/all";
import { nodeCrypto } from "../ports/node/crypto";

const names = new Set<string>();
for (const c of allCases) {
  test(`node: ${c.name}`, (t) => {
    t.false(names.has(c.name), "case names are unique");
    names.add(c.name);
    c.run({ crypto: nodeCrypto, platform: "node" });
    t.pass();
  });
}
