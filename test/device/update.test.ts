// Signed updates on XS 17, end to end: the update agent in an app on Moddable's lin simulator (its update
// port: ports/moddable/update-lin, slot files), a real mosquitto and the fleet server. The app is built
// twice with different firmware text ("update-app 1.0", the factory build, and "update-app 1.1"); the
// update's image is the second build's real mc.so. The harness plays the bootloader (support/bootloader.ts):
// when the app exits with the restart status, it starts mcsim on the mc.so of the slot boot.cbor boots.
// The app runs on an ESP32's memory (test/device/manifest_esp32_memory.json) with its memory watched.
// Every wait is bounded and waits for an outcome; nothing is timed.
import test, { type ExecutionContext } from "ava";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { toHex } from "../../sdk/bytes";
import { buildEnvelope } from "../../sdk/suit/builder";
import { SLOT_FILES } from "../../sdk/update/file-port";
import { encodeTrustDocument } from "../../sdk/update/trust";
import { nodeCrypto } from "../../ports/node/crypto";
import { prepareUpdate, bytesImage, type PreparedUpdate } from "../../host/server/update-transfer";
import { INTEGRATED_IMAGE, withIntegratedImage } from "../../host/server/update-package";
import { until } from "../support/devices";
import { exampleIds, trustDocument, updateKeys } from "../support/updates";
import { LinBootloader, RESTART_STATUS } from "./support/bootloader";
import { appEnv, buildApp, deviceFolder, type BuiltApp } from "./support/moddable";
import { exampleConfig, memoryFigures, startWorld, xsFailures, type World } from "./support/scenario";

const APP = "test/device/update-app";
const BLOCK = 4096;
/** Three update keys; the device's trust takes any two (gatehouse provision --update-key x3 --update-threshold 2). */
const keys = updateKeys(3);
const updateTrust = encodeTrustDocument(trustDocument(keys, 2));

let world: World | undefined;
let loader: LinBootloader | undefined;
let config: Record<string, string> = {};
let factory: BuiltApp | undefined;
let next: BuiltApp | undefined;
let failure: string | undefined;
try {
  world = await startWorld("update-app", async (broker, identity) => {
    config = exampleConfig(broker, identity, { updatetrust: toHex(updateTrust) });
    factory = await buildApp(APP, { ...config, firmware: "update-app 1.0" });
    next = await buildApp(APP, { ...config, firmware: "update-app 1.1" });
    loader = new LinBootloader(deviceFolder("update-app", { fresh: true }), factory.mcso, appEnv({}), {
      timeoutMs: 1_200_000,
      onBoot: (boot) => {
        if (world) world.app = boot.app;
      },
    });
    return loader.start();
  });
} catch (e) {
  failure = (e as Error).message;
}
test.after.always(async () => {
  await loader?.stop();
  await world?.close();
});

function get(): { w: World; boot: LinBootloader } {
  if (!world || !loader) throw new Error(failure ?? "no device");
  return { w: world, boot: loader };
}

/** A signed update (SUIT envelope, the image integrated) whose image is `mcso`'s bytes. */
function signedUpdate(mcso: string, seq: number): { image: Uint8Array; prepared: PreparedUpdate } {
  const image = new Uint8Array(readFileSync(mcso));
  const envelope = buildEnvelope(
    nodeCrypto,
    { ...exampleIds("update-app"), sequenceNumber: seq, imageDigest: nodeCrypto.sha256(image), imageSize: image.length, uri: INTEGRATED_IMAGE },
    keys.slice(0, 2),
  );
  return { image, prepared: prepareUpdate(withIntegratedImage(envelope, image)) };
}

/** Runs a test body; a failure carries the device's latest output. */
function withOutput(body: (t: ExecutionContext) => Promise<void>): (t: ExecutionContext) => Promise<void> {
  return async (t) => {
    try {
      await body(t);
    } catch (e) {
      const output = loader?.boots.at(-1)?.app.output.filter((line) => !line.startsWith("instruments")).slice(-25) ?? [];
      throw new Error(`${(e as Error).message}\ndevice output (boot ${loader?.boots.length ?? 0}):\n${output.join("\n")}`);
    }
  };
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** The device's firmware, as its build door reads it (a signed command and a verified result). */
async function firmwareRead(w: World): Promise<unknown> {
  const read = await w.operator.command("build", "read.firmware", undefined, { ms: 60_000 });
  return read.get("value");
}

test.serial("the factory build comes online with the update agent: its birth names update-app 1.0, seq 0, idle under the provisioned trust", withOutput(async (t) => {
  const { w } = get();
  const installed = await until("a birth with update state at the fleet server", () => w.server.updateState(w.id)?.installed, 120_000);
  t.like(installed, { seq: 0, trustSeq: 0, state: "idle" });
  t.is(w.server.devices().find((d) => d.id === w.id)?.firmware, "update-app 1.0");
  t.is(await firmwareRead(w), "update-app 1.0");
}));

test.serial("a tampered update (image changed, signatures kept) is downloaded, refused with suit-image-digest-mismatch, recorded as a security event; the device keeps its build", withOutput(async (t) => {
  const { w, boot } = get();
  const update = signedUpdate(next!.mcso, 1);
  const tampered = update.image.slice();
  tampered[tampered.length >> 1] ^= 0x01;
  await w.server.offerUpdate({ device: w.id, rollout: "tampered", update: { ...update.prepared, source: bytesImage(tampered) }, blockSize: BLOCK });
  const status = await until("the refusal at the fleet server", () => {
    const s = w.server.updateState(w.id)?.status;
    return s?.state === "refused" && s;
  }, 600_000);
  t.is(status.code, "suit-image-digest-mismatch");
  await until("its security event at the fleet server", () => w.server.events({ device: w.id, limit: 1000 }).find((e) => e.code === "suit-image-digest-mismatch"), 60_000);
  t.is(boot.boots.length, 1, "no restart");
  t.is(await firmwareRead(w), "update-app 1.0", "it still runs the factory build");
  t.like(w.server.updateState(w.id)?.installed, { seq: 0 });
}));

test.serial("a signed update (2 of 3 keys) is offered, downloaded in blocks, verified, marked; the app restarts into the new mc.so, whose birth names 1.1 and seq 2; its health check passes and the server records confirmed", withOutput(async (t) => {
  const { w, boot } = get();
  const update = signedUpdate(next!.mcso, 2);
  const factoryApp = boot.current.app;
  await w.server.offerUpdate({ device: w.id, rollout: "r-1.1", update: update.prepared, blockSize: BLOCK });
  const second = await boot.booted(2, 900_000);
  t.is(second.after, RESTART_STATUS, "the factory build asked for a restart");
  t.is(second.slot, 1, "the bootloader boots slot 1");
  t.is(sha256(new Uint8Array(readFileSync(join(boot.slotDir, SLOT_FILES[1])))), sha256(update.image), "slot 1 holds exactly the signed image");
  await until("confirmed at the fleet server", () => w.server.updateState(w.id)?.status?.state === "confirmed" && w.server.updateState(w.id)?.installed?.seq === 2, 300_000);
  t.is(w.server.devices().find((d) => d.id === w.id)?.firmware, "update-app 1.1", "the birth reports the new firmware");
  t.is(await firmwareRead(w), "update-app 1.1");
  const served = w.server.transfer.offered(w.id)!;
  t.true(served.served >= Math.ceil(update.image.length / BLOCK), `blocks served: ${served.served} for ${update.image.length} bytes`);
  t.deepEqual(xsFailures([...factoryApp.output, ...second.app.output]), []);
  t.deepEqual(w.operator.failures, []);
  const download = memoryFigures(factoryApp);
  const trial = memoryFigures(second.app);
  t.log(`ESP32 memory, factory build while it downloaded, verified and marked ${update.image.length} bytes: ${download.text}`);
  t.log(`ESP32 memory, new build through its trial boot and confirm: ${trial.text}`);
  t.true(download.slots > 0 && download.slots < 4928 && download.chunks < 78848, download.text);
}));

test.serial("a build that fails its health check is rolled back: it boots on trial, its door's self-test fails until the deadline, the agent rolls back and the previous mc.so (1.1) runs again and reports rolled-back (update-unhealthy)", withOutput(async (t) => {
  const { w, boot } = get();
  // The third build: a door that cannot read its own firmware text (health=fail), 10 s to pass its health check.
  const failing = await buildApp(APP, { ...config, firmware: "update-app 1.2", health: "fail", healthdeadline: "10" });
  const update = signedUpdate(failing.mcso, 3);
  const before = boot.boots.length;
  await w.server.offerUpdate({ device: w.id, rollout: "r-1.2", update: update.prepared, blockSize: BLOCK });
  const trial = await boot.booted(before + 1, 900_000);
  t.is(trial.after, RESTART_STATUS, "1.1 asked for a restart into the new build");
  t.is(trial.slot, 0, "the new build went to the slot 1.1 does not run from");
  const back = await boot.booted(before + 2, 300_000);
  t.is(back.after, RESTART_STATUS, "the trial build gave up and asked for the restart itself");
  t.is(back.slot, 1, "the bootloader boots 1.1's slot again");
  const status = await until("rolled-back at the fleet server", () => {
    const s = w.server.updateState(w.id)?.status;
    return s?.rollout === "r-1.2" && s.state === "rolled-back" && s;
  }, 300_000);
  t.is(status.code, "update-unhealthy");
  t.like(w.server.updateState(w.id)?.installed, { seq: 2 });
  t.is(await firmwareRead(w), "update-app 1.1", "the previous build runs");
  t.true(trial.app.output.some((line) => line.includes("health check")), "the trial build ran its health check");
  t.deepEqual(xsFailures([...trial.app.output, ...back.app.output]), []);
}));
