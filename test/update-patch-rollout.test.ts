// A patch of door logic through the whole OTA path, as an operator runs it: `gatehouse patch create
// --integrate` then `gatehouse update push` (real CLI processes) to a fleet server over HTTP, mosquitto,
// and devices running the update agent with patches (ses's Compartment: this worker is locked down, see
// test/patch-ses.ts). The patch is served in blocks, applied without a restart, its rollout ends confirmed
// per device, the door answers with the patched logic and the birth names the patch; a device without
// patches refuses it (patch-unavailable) even though its build's sequence number is the patch's.
import "./patch-ses";
import test from "ava";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { FleetServer } from "../host/server/fleet-server";
import { createFleetHttpApi } from "../host/server/http-api";
import { serveHttp } from "../host/server/http-serve";
import { readIdentity } from "../host/identity-files";
import { MemorySlotFiles } from "../host/sim/memory-slots";
import { simBuild } from "../host/sim/build";
import { startMosquitto } from "./support/brokers";
import { runGatehouse } from "./support/cli";
import { until } from "./support/devices";
import { guardOf, tokenFor } from "./support/api-access";
import { exampleIds, provisionFleet, trustDocument, updateKeys } from "./support/updates";
import { encodeKey } from "../sdk/cose/key";
import { Device } from "../sdk/device";
import { defineDoor, t as types } from "../sdk/index";
import type { LocalDoor } from "../sdk/doors/runtime";
import { Patches } from "../sdk/patch/patches";
import { UpdateAgent } from "../sdk/update/agent";
import { FileUpdatePort, SLOT_FILES } from "../sdk/update/file-port";
import { trustOf } from "../sdk/update/trust";
import { uuidText } from "../sdk/suit/processor";
import { nodeCrypto } from "../ports/node/crypto";
import { nodeCompartments } from "../ports/node/compartment";
import { MemoryStorage } from "../ports/node/storage";
import { nodeClock, nodeTimers } from "../ports/node/platform";
import { NodeMqttTransport } from "../ports/node/transport";

/** The devices' build was installed by manifest 3: the patch's sequence number is 3 too (they count apart). */
const BUILD_SEQ = 3;

const gatehouse = (args: string[], token = "") => runGatehouse(args, { token });

const thermostat = defineDoor({
  name: "thermostat",
  properties: { target: { type: types.int({ min: 5, max: 30 }), read: "view", write: "operate" } },
});

test("gatehouse patch create --integrate, then update push: the patch is served in blocks and applied, the rollout ends confirmed, the door runs the patched logic, the birth names it", async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const keys = updateKeys(1, "patch-rollout");
  const trust = trustDocument(keys, 1);
  const ids = ["patch-1", "patch-2", "nopatch-1"];
  const fleet = provisionFleet(ids, trust);
  t.teardown(() => fleet.cleanup());
  const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: join(fleet.dir, "fleet.db"), identitiesDir: fleet.identitiesDir, clientId: "patch-rollout-server" });
  t.teardown(() => server.stop());
  const guard = guardOf(server);
  const served = await serveHttp(createFleetHttpApi(server, { guard }), { host: "127.0.0.1", port: 0 });
  t.teardown(() => served.close());
  const token = tokenFor(guard, "manage", { name: "release" });

  const ids2 = exampleIds("thermostat");
  const devices = new Map<string, { device: Device; door: LocalDoor<typeof thermostat>; stored: { value: number } }>();
  for (const id of ids) {
    const identity = readIdentity(join(fleet.identitiesDir, id));
    const slots = new MemorySlotFiles();
    slots.write(SLOT_FILES[0], 0, simBuild("thermostat-sim 1.0"));
    const storage = new MemoryStorage();
    const device = new Device({
      id,
      key: identity.key,
      trust: identity.trust,
      ports: { crypto: nodeCrypto, clock: nodeClock, timers: nodeTimers, storage, transport: new NodeMqttTransport({ url: broker.url }) },
      firmware: { version: "thermostat-sim 1.0" },
      session: { backoffInitialMs: 100 },
      patches: id.startsWith("nopatch") ? undefined : (link) => new Patches({ compartment: nodeCompartments, trust: trustOf(trust), ...ids2 }, link),
    });
    const stored = { value: 20 };
    const door = device.register(thermostat, { read: { target: () => stored.value }, write: { target: (v) => void (stored.value = v) } });
    const port = new FileUpdatePort({ files: slots, capacity: 1 << 20, restart: () => t.fail(`${id} restarted`) });
    const agent = new UpdateAgent({ device, port, storage, crypto: nodeCrypto, clock: nodeClock, timers: nodeTimers, ...ids2, trust, factory: { seq: BUILD_SEQ }, transfer: { retryMs: 500, maxRetryMs: 2000 } });
    device.start();
    t.teardown(() => {
      agent.stop();
      device.stop(false);
    });
    devices.set(id, { device, door, stored });
  }
  await until("births with update state", () => ids.every((id) => server.updateState(id)?.installed?.seq === BUILD_SEQ), 30_000);

  writeFileSync(join(fleet.dir, "update.key"), encodeKey(keys[0], true), { mode: 0o600 });
  writeFileSync(join(fleet.dir, "clamp.js"), "export default { thermostat: { write: { target(value, ctx) { return ctx.original(value > 25 ? 25 : value); } } } };\n");
  const file = join(fleet.dir, "clamp.suit");
  const made = await gatehouse(["patch", "create", join(fleet.dir, "clamp.js"), "--seq", String(BUILD_SEQ), "--vendor-id", uuidText(ids2.vendorId), "--class-id", uuidText(ids2.classId), "--key", join(fleet.dir, "update.key"), "--integrate", "--out", file]);
  t.is(made.code, 0, made.stderr);
  t.regex(made.stdout, /with the source integrated as "#image"/);

  // Without --integrate the file is the envelope alone: push says how to make one it can roll out.
  const bare = join(fleet.dir, "clamp-bare.suit");
  t.is((await gatehouse(["patch", "create", join(fleet.dir, "clamp.js"), "--seq", String(BUILD_SEQ), "--vendor-id", uuidText(ids2.vendorId), "--class-id", uuidText(ids2.classId), "--key", join(fleet.dir, "update.key"), "--out", bare])).code, 0);
  const notIntegrated = await gatehouse(["update", "push", bare, "--all", "--server", served.url], token);
  t.is(notIntegrated.code, 1);
  t.regex(notIntegrated.stderr, /^gatehouse update: error suit-image-missing: .*carries no patch source: make it with 'gatehouse patch create --integrate'\n$/);
  t.deepEqual(server.rollouts(), [], "no rollout started");

  const pushed = await gatehouse(["update", "push", file, "--device", "patch-1", "--device", "patch-2", "--server", served.url], token);
  t.is(pushed.code, 0, `${pushed.stdout}\n${pushed.stderr}`);
  t.regex(pushed.stdout, /patch-1 .*100% +confirmed/);
  t.regex(pushed.stdout, /patch-2 .*100% +confirmed/);
  t.regex(pushed.stdout, /confirmed +2\n/);
  for (const id of ["patch-1", "patch-2"]) {
    const d = devices.get(id)!;
    t.is(d.device.patches!.active?.sequenceNumber, BUILD_SEQ, `${id} runs the patch`);
    d.door.write("target", 29);
    t.is(d.stored.value, 25, `${id}'s door answers with the patched logic`);
    // The birth names the patch: the next connection's (a broker that drops the link, as a restart would).
    d.device.stop(false);
    d.device.start();
  }
  await until("births naming the patch", () => ["patch-1", "patch-2"].every((id) => server.devices().find((r) => r.id === id)?.patch === BUILD_SEQ), 30_000);
  t.deepEqual(server.events({}).filter((e) => e.code.startsWith("update") || e.code.startsWith("suit") || e.code.startsWith("patch")), [], "no refusals on the way");

  // A device without patches refuses it; its build's sequence number (3) is no sign it runs the patch.
  const refused = await gatehouse(["update", "push", file, "--device", "nopatch-1", "--server", served.url], token);
  t.is(refused.code, 1, refused.stdout);
  t.regex(refused.stdout, /refused +1: nopatch-1 patch-unavailable/);
  const d = devices.get("nopatch-1")!;
  d.door.write("target", 29);
  t.is(d.stored.value, 29, "the original logic");
  t.is(server.updateState("nopatch-1")!.installed!.seq, BUILD_SEQ, "its build is unchanged");
});
