// The README's app (section "An app") as written, on Moddable's XS 17 (the lin simulator): its app.ts,
// main.ts and manifest.json are written out unchanged and built with mcconfig the way the README says
// (GATEHOUSE naming this repository, the broker and the identity as config values); a wrapping manifest
// adds only what the suite needs of every app (preferences in the device's own folder). Then it is
// commanded through mosquitto like the Node run (test/readme-app.test.ts): online at the fleet server,
// answered and refused by its door, every publication verified with its key.
import test from "ava";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { toHex } from "../../sdk/bytes";
import { utf8 } from "../../sdk/cbor/encode";
import { encodeKey, publicKey } from "../../sdk/cose/key";
import { encodeTrust, TrustList } from "../../sdk/trust";
import { nodeCrypto } from "../../ports/node/crypto";
import { generateDeviceKey } from "../../host/identity-files";
import { FleetServer } from "../../host/server/index";
import { startMosquitto } from "../support/brokers";
import { until } from "../support/devices";
import { writeReadmeApp } from "../support/readme";
import { BUILD_DIR, buildApp, deviceFolder, RunningApp } from "./support/moddable";
import { Operator, xsFailures } from "./support/scenario";

test("the README's app, built as written for Moddable, runs on XS 17: online, commands answered and refused by its door, publications verified", async (t) => {
  const broker = await startMosquitto({ extraConfig: ["set_tcp_nodelay true"] });
  t.teardown(() => broker.stop());
  const id = `readme-${process.pid}`;
  const key = generateDeviceKey(id); // ES256: stock Moddable verifies and signs ES256 only
  const operatorKey = nodeCrypto.generateKey("ES256", utf8("readme-operator"));
  const adminKey = nodeCrypto.generateKey("ES256", utf8("readme-admin"));
  const trust = new TrustList([
    { key: publicKey(operatorKey), role: "operate" },
    { key: publicKey(adminKey), role: "administer" },
  ]);

  const dir = join(BUILD_DIR, "readme-app");
  const files = writeReadmeApp(dir);
  t.true(files.has("main.ts") && files.has("app.ts") && files.has("manifest.json"));
  writeFileSync(join(dir, "manifest_suite.json"), JSON.stringify({ include: ["./manifest.json"], config: { file: { root: "./" } } }, null, "\t"));
  const app = await buildApp(
    dir,
    { broker: "127.0.0.1", brokerport: String(broker.port), devicekey: toHex(encodeKey(key, true)), trust: toHex(encodeTrust(trust)) },
    { manifest: "manifest_suite.json" },
  );
  t.log(`built in ${(app.buildMs / 1000).toFixed(1)} s`);

  const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", clientId: `readme-server-${process.pid}` });
  t.teardown(() => server.stop());
  server.registerDevice(id, publicKey(key));
  const operator = await Operator.connect(broker.url, id, publicKey(key), operatorKey);
  t.teardown(() => operator.close());
  const admin = await Operator.connect(broker.url, id, publicKey(key), adminKey);
  t.teardown(() => admin.close());
  const running = new RunningApp(app.mcso, {}, { cwd: deviceFolder("readme", { fresh: true }), timeoutMs: 240_000 });
  t.teardown(async () => {
    running.kill();
    await running.exited;
  });

  await until("the app online at the fleet server", () => server.device(id)?.online, 60_000).catch((e: Error) => {
    throw new Error(`${e.message}; app output:\n${running.output.slice(-20).join("\n")}`);
  });
  t.is(server.device(id)?.firmware, "readme-app 1.0");
  const outcome = async (who: Operator, op: string, args?: unknown) => {
    const result = await who.command("setpoint", op, args as never);
    return result.get("ok") === true ? { ok: true, value: result.get("value") } : { ok: false, code: result.get("code") };
  };
  t.deepEqual(await outcome(operator, "read.target"), { ok: true, value: 21 }, "the app wrote 21 through its own door");
  t.deepEqual(await outcome(operator, "write.target", 22.5), { ok: true, value: undefined });
  t.deepEqual(await outcome(operator, "read.target"), { ok: true, value: 22.5 });
  t.deepEqual(await outcome(operator, "write.target", 40), { ok: false, code: "invalid-args" }, "outside the schema");
  t.deepEqual(await outcome(operator, "invoke.setLimits", { min: 10, max: 20 }), { ok: false, code: "not-allowed" }, "setLimits needs administer");
  t.deepEqual(await outcome(admin, "invoke.setLimits", { min: 10, max: 20 }), { ok: true, value: true });
  t.deepEqual(await outcome(operator, "write.target", 25), { ok: false, code: "out-of-limits" }, "the door's own refusal");
  await until("the changed event as telemetry at the server", () => server.device(id)?.telemetry.find((row) => row.event === "changed" && row.data === 22.5), 20_000);
  await until("the not-allowed event at the server", () => server.events({ device: id }).find((e) => e.code === "not-allowed" && e.source === "device"), 20_000);
  t.deepEqual(operator.failures, [], "every publication verified with the device's key");
  t.deepEqual(xsFailures(running.output), []);
});
