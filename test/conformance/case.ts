// A conformance case is written once and run twice: by ava on Node (test/conformance.test.ts) and
// inside the real XS engine (test/xs/conformance.test.ts). Cases use only device-safe code: no Node
// built-ins, no ava. They throw on failure (see check.ts).

import type { CryptoPort } from "../../sdk/ports/crypto";

export interface ConformanceEnv {
  /** The crypto port of the platform: node:crypto on Node, @noble in xsnap, the Moddable port (+ noble Ed25519) on XS 17. */
  readonly crypto: CryptoPort;
  readonly platform: "node" | "xs" | "moddable";
}

export interface ConformanceCase {
  readonly name: string;
  run(env: ConformanceEnv): void;
}
