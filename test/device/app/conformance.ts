// The conformance cases (test/conformance: the same files that run on Node and in xsnap) inside XS 17 with
// the Moddable ports. Every case runs; each reports {kind: "case", index, name, ok, error?}.
//
// Crypto: the Moddable port for ES256 and SHA-256 (native Digest, Moddable's ECDSA, RFC 6979 signing).
// Stock Moddable has no Ed25519, and the port refuses EdDSA with "alg-unsupported"; but most cases sign
// their commands with an Ed25519 operator key (the vectors they check are Ed25519 ones). So, for this
// test app only, EdDSA goes to the pure-JS noble port, a verifier no device build contains. Everything
// else a case touches (CBOR, COSE, doors, session, errors) is the SDK as the Moddable build compiled it.

import { allCases } from "../../conformance/all";
import type { ConformanceEnv } from "../../conformance/case";
import type { CoseKey, CryptoPort, SignatureAlgorithm } from "gatehouse/sdk";
import { moddableCrypto } from "gatehouse/ports/moddable";
import { nobleCrypto } from "../../../ports/noble/crypto";
import { describe, exit, report } from "./report";

export const crypto: CryptoPort = {
  verify: (alg: SignatureAlgorithm, key: CoseKey, message: Uint8Array, signature: Uint8Array) =>
    (alg === "EdDSA" ? nobleCrypto : moddableCrypto).verify(alg, key, message, signature),
  sign: (alg: SignatureAlgorithm, key: CoseKey, message: Uint8Array) => (alg === "EdDSA" ? nobleCrypto : moddableCrypto).sign(alg, key, message),
  sha256: (data: Uint8Array) => moddableCrypto.sha256(data),
  createSha256: () => moddableCrypto.createSha256(),
};

export function runConformance(): void {
  const env: ConformanceEnv = { crypto, platform: "moddable" };
  report({ kind: "cases", names: allCases.map((c) => c.name) });
  let failed = 0;
  allCases.forEach((c, index) => {
    try {
      c.run(env);
      report({ kind: "case", index, name: c.name, ok: true });
    } catch (e) {
      failed++;
      report({ kind: "case", index, name: c.name, ok: false, error: describe(e) });
    }
  });
  report({ kind: "done", failed });
  exit(0);
}
