// bench/moddable-crypto.ts's device side: ES256 sign and verify with the Moddable port on XS 17, timed here
// (milliseconds per operation over many), reported as {kind: "bench", ...}. Not a test: nothing is asserted.

import { decodeKey, fromHex } from "gatehouse/sdk";
import { moddableCrypto } from "gatehouse/ports/moddable";
import { env, exit, report } from "./report";

export function runBench(): void {
  const key = decodeKey(fromHex(env("GATEHOUSE_DEVICE_KEY"))!);
  const message = new Uint8Array(256).fill(7);
  const rounds = 200;
  const signature = moddableCrypto.sign("ES256", key, message); // warm-up: verifier and curve set up
  moddableCrypto.verify("ES256", key, message, signature);
  let started = Date.now();
  for (let i = 0; i < rounds; i++) {
    message[0] = i;
    moddableCrypto.sign("ES256", key, message);
  }
  const signMs = (Date.now() - started) / rounds;
  message[0] = 0;
  const toVerify = moddableCrypto.sign("ES256", key, message);
  started = Date.now();
  for (let i = 0; i < rounds; i++) moddableCrypto.verify("ES256", key, message, toVerify);
  const verifyMs = (Date.now() - started) / rounds;
  report({ kind: "bench", rounds, messageBytes: message.length, signMs, verifyMs });
  exit(0);
}
