// ES256 on Moddable's XS 17 (lin simulator) against node:crypto on the same machine, in one run, plus the
// size of the device suite's lin builds. Needs MODDABLE (see README, "On the ESP32"). Not part of `npm run
// bench`, which runs without Moddable:
//
//   MODDABLE=... node --import tsx bench/moddable-crypto.ts
//
// The device side (test/device/app/bench.ts) signs and verifies a 256-byte message 200 times each with the
// Moddable port: native ECDSA, RFC 6979 nonces from native HMAC-SHA256. The goal from the issue: one sign
// at most 2x one native verify.
import { createPrivateKey, sign, verify, createPublicKey } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { toHex } from "../sdk/bytes";
import { encodeKey } from "../sdk/cose/key";
import { generateDeviceKey } from "../host/identity-files";
import { appEnv, buildApp, BUILD_DIR, deviceFolder, runApp } from "../test/device/support/moddable";

function bytesUnder(dir: string, suffix: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) total += bytesUnder(path, suffix);
    else if (name.endsWith(suffix)) total += statSync(path).size;
  }
  return total;
}

const key = generateDeviceKey("bench-device");
const app = await buildApp("test/device/app");
const run = await runApp(app.mcso, appEnv({ GATEHOUSE_MODE: "bench", GATEHOUSE_DEVICE_KEY: toHex(encodeKey(key, true)) }), { cwd: deviceFolder("bench", { fresh: true }), timeoutMs: 120_000 });
const device = run.reports.find((r) => r.kind === "bench");
if (!device) throw new Error(`the app reported no figures (exit ${run.exit.code}):\n${run.output.slice(-10).join("\n")}`);

const jwk = { kty: "EC", crv: "P-256", x: Buffer.from(key.x).toString("base64url"), y: Buffer.from(key.y!).toString("base64url"), d: Buffer.from(key.d!).toString("base64url") };
const privateKey = createPrivateKey({ key: jwk, format: "jwk" });
const publicKey = createPublicKey(privateKey);
const message = Buffer.alloc(256, 7);
const rounds = 2000;
let t0 = performance.now();
for (let i = 0; i < rounds; i++) sign("sha256", message, { key: privateKey, dsaEncoding: "ieee-p1363" });
const nodeSign = (performance.now() - t0) / rounds;
const signature = sign("sha256", message, { key: privateKey, dsaEncoding: "ieee-p1363" });
t0 = performance.now();
for (let i = 0; i < rounds; i++) verify("sha256", message, { key: publicKey, dsaEncoding: "ieee-p1363" }, signature);
const nodeVerify = (performance.now() - t0) / rounds;

const signMs = Number(device.signMs);
const verifyMs = Number(device.verifyMs);
const tmp = join(BUILD_DIR, "tmp/lin/mc/instrument", app.name);
console.log(`ES256, ${String(device.messageBytes)}-byte message (ms per operation; XS over ${String(device.rounds)}, node over ${rounds}):`);
console.log(`  Moddable XS 17 (lin, instrumented build): sign ${signMs.toFixed(2)}  verify ${verifyMs.toFixed(2)}  sign/verify ${(signMs / verifyMs).toFixed(2)} (goal <= 2)`);
console.log(`  node:crypto:                              sign ${nodeSign.toFixed(3)}  verify ${nodeVerify.toFixed(3)}`);
console.log(`  XS / node:                                sign ${(signMs / nodeSign).toFixed(0)}x  verify ${(verifyMs / nodeVerify).toFixed(0)}x`);
console.log(`device suite app (lin): mc.so ${statSync(app.mcso).size} bytes; its XS modules (.xsb) ${bytesUnder(join(tmp, "modules"), ".xsb")} bytes`);
