// The Moddable ports on XS 17 (Moddable's lin simulator), one ava test per case of the test app's ports
// mode (app/ports.ts), failing with the app's own error text. The Node side adds what the app cannot check
// itself: node:crypto verifies every signature the device made; mosquitto delivers the will of the app's
// MQTT connection once the app has dropped it; a second run finds what the first one stored.
import test from "ava";
import { connect } from "mqtt";
import { createPublicKey, verify } from "node:crypto";
import { p256 } from "@noble/curves/nist.js";
import { encodeKey } from "../../sdk/cose/key";
import { generateDeviceKey } from "../../host/identity-files";
import { startMosquitto } from "../support/brokers";
import { until } from "../support/devices";
import { appEnv, buildApp, deviceFolder, runApp, type Report } from "./support/moddable";

const key = generateDeviceKey("ports-device");
const clientId = `gh-ports-${process.pid}`;
let runs: Array<{ reports: Report[]; output: string[]; code: number | null }> = [];
let will: Buffer | undefined;
let failure: string | undefined;

try {
  const app = await buildApp("test/device/app");
  const broker = await startMosquitto();
  try {
    const watcher = connect(broker.url, { protocolVersion: 4, clientId: `${clientId}-watcher` });
    await new Promise<void>((ok, bad) => (watcher.once("connect", () => ok()), watcher.once("error", bad)));
    await watcher.subscribeAsync(`gh-test/${clientId}/will`, { qos: 1 });
    watcher.on("message", (_topic, payload) => (will = payload));
    const cwd = deviceFolder("ports", { fresh: true });
    for (const run of ["first", "second"]) {
      const env = appEnv({ GATEHOUSE_MODE: "ports", GATEHOUSE_BROKER_PORT: String(broker.port), GATEHOUSE_DEVICE_KEY: Buffer.from(encodeKey(key, true)).toString("hex"), GATEHOUSE_CLIENT_ID: clientId, GATEHOUSE_RUN: run });
      const result = await runApp(app.mcso, env, { cwd, timeoutMs: 120_000 });
      runs.push({ reports: result.reports, output: result.output, code: result.exit.code });
    }
    await until("the will of the app's dropped connection", () => will, 10_000).catch(() => undefined);
    watcher.end(true);
  } finally {
    await broker.stop();
  }
} catch (e) {
  failure = (e as Error).message;
}

const first = runs[0]?.reports ?? [];
const names = (first.find((r) => r.kind === "cases")?.names as string[] | undefined) ?? [];

test("moddable ports: both runs ended with exit(0) and reported every case", (t) => {
  if (failure) return t.fail(failure);
  for (const run of runs) {
    t.is(run.code, 0, `exit code; last output:\n${run.output.slice(-10).join("\n")}`);
    t.truthy(run.reports.find((r) => r.kind === "done"));
  }
  t.true(names.length >= 10, "the app listed its cases");
});

for (const name of names) {
  test(`moddable ports: ${name}`, (t) => {
    for (const [i, run] of runs.entries()) {
      const result = run.reports.find((r) => r.kind === "case" && r.name === name);
      if (!result) return t.fail(`run ${i + 1} did not report this case`);
      if (result.ok !== true) return t.fail(`on XS 17 (run ${i + 1}): ${String(result.error)}`);
    }
    t.pass();
  });
}

test("moddable ports: every ES256 signature made on the device verifies with node:crypto", (t) => {
  const signatures = first.filter((r) => r.kind === "signature");
  t.true(signatures.length >= 8);
  for (const s of signatures) {
    const publicKey = createPublicKey({ key: { kty: "EC", crv: "P-256", x: Buffer.from(String(s.x), "hex").toString("base64url"), y: Buffer.from(String(s.y), "hex").toString("base64url") }, format: "jwk" });
    const ok = verify("sha256", Buffer.from(String(s.message), "hex"), { key: publicKey, dsaEncoding: "ieee-p1363" }, Buffer.from(String(s.signature), "hex"));
    t.true(ok, `signature over ${String(s.message).length / 2} bytes does not verify`);
  }
  // The same inputs give the same signature in both runs (RFC 6979), and differ between messages.
  const again = (runs[1]?.reports ?? []).filter((r) => r.kind === "signature").map((r) => r.signature);
  t.deepEqual(again, signatures.map((r) => r.signature));
  t.is(new Set(signatures.map((r) => r.signature)).size, signatures.length);
});

test("moddable ports: a hash at or above n is signed as ECDSA defines it (verified by @noble/curves on the hash)", (t) => {
  const s = first.find((r) => r.kind === "hash-signature");
  if (!s) return t.fail("no hash-signature report");
  const point = Buffer.concat([Buffer.of(4), Buffer.from(String(s.x), "hex"), Buffer.from(String(s.y), "hex")]);
  t.true(p256.verify(Buffer.from(String(s.signature), "hex"), Buffer.from(String(s.hash), "hex"), point, { prehash: false, lowS: false, format: "compact" }));
});

test("moddable ports: the preference file keeps the first run's value for the second (config.file.root per device folder)", (t) => {
  t.is(first.find((r) => r.kind === "persisted")?.value, null, "the first run starts from an empty store");
  t.is(runs[1]?.reports.find((r) => r.kind === "persisted")?.value, "first");
});

test("moddable ports: mosquitto published the will of the transport's ungraceful close", (t) => {
  t.is(will?.toString(), `will of ${clientId}`);
});
