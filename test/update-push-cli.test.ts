// `gatehouse update push|status|abort` as a user runs them: the real CLI process against a fleet server
// served over HTTP (token auth), mosquitto, and simulated devices running the update agent. Standard
// output is not a terminal here, so the progress comes as plain lines, one per change.
import test from "ava";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { FleetServer } from "../host/server/fleet-server";
import { createFleetHttpApi } from "../host/server/http-api";
import { serveHttp } from "../host/server/http-serve";
import { Simulator } from "../host/sim/simulator";
import { thermostatApp } from "../host/sim/apps";
import { startMosquitto } from "./support/brokers";
import { runGatehouse } from "./support/cli";
import { until } from "./support/devices";
import { guardOf, tokenFor } from "./support/api-access";
import { exampleIds, provisionFleet, simUpdate, trustDocument, updateKeys } from "./support/updates";


const gatehouse = (args: string[], token = "") => runGatehouse(args, { token });

test("update push shows progress per device and a summary; a refused update exits 1 with the devices' codes; status and abort", async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const keys = updateKeys(2);
  const ids = ["push-1", "push-2", "push-3"];
  const fleet = provisionFleet(ids, trustDocument(keys, 2));
  t.teardown(() => fleet.cleanup());
  const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: join(fleet.dir, "fleet.db"), identitiesDir: fleet.identitiesDir, clientId: "push-cli-server", updates: { requestsPerSecond: 8, requestBurst: 1 } });
  t.teardown(() => server.stop());
  const guard = guardOf(server);
  const served = await serveHttp(createFleetHttpApi(server, { guard }), { host: "127.0.0.1", port: 0 });
  t.teardown(() => served.close());
  const token = tokenFor(guard, "manage", { name: "release" });
  const sim = await Simulator.start({
    example: thermostatApp({ tickMs: 500 }),
    brokerUrl: broker.url,
    devices: ids.length,
    identitiesDir: fleet.identitiesDir,
    stateDir: join(fleet.dir, "state"),
    updates: { healthDeadlineMs: 30_000, healthRetryMs: 200, transfer: { retryMs: 500, maxRetryMs: 2000 } },
  });
  t.teardown(() => sim.stop());
  await sim.waitOnline(ids.length, 30_000);
  await until("births with update state", () => ids.every((id) => server.updateState(id)?.installed), 30_000);

  // The server serves 8 blocks a second per device (a 3 s download of 25 blocks), so the CLI's polls see it.
  const good = join(fleet.dir, "good.suit");
  writeFileSync(good, simUpdate({ app: "thermostat", firmware: "thermostat-sim 4.0", seq: 4, keys, payloadBytes: 100_000 }).file);
  const pushed = await gatehouse(["update", "push", good, "--all", "--server", served.url, "--wave", "2"], token);
  t.is(pushed.code, 0, pushed.stderr);
  t.regex(pushed.stdout, /push-1 +wave 1 +\[#*-*\] +\d+% +downloading/, "a progress line while downloading");
  t.regex(pushed.stdout, /push-3 +wave 2 +\[#{24}\] 100% +confirmed/);
  t.regex(pushed.stdout, /confirmed +3\n/);
  t.regex(pushed.stdout, /refused +0\n/);
  for (const id of ids) t.is(sim.device(id).build.firmware, "thermostat-sim 4.0");
  const id = /rollout (r-[a-z0-9-]+) started/.exec(pushed.stderr)?.[1];
  t.truthy(id, pushed.stderr);

  const shown = await gatehouse(["update", "status", id!, "--server", served.url], token);
  t.is(shown.code, 0, shown.stderr);
  t.regex(shown.stdout, new RegExp(`rollout ${id}: manifest 4 .* to 3 device\\(s\\), wave 2 of 2, done`));

  // Signed properly, for another class of device: each device refuses; two failures halt after wave 1.
  const wrong = join(fleet.dir, "wrong.suit");
  writeFileSync(wrong, simUpdate({ app: "thermostat", firmware: "x", seq: 5, keys, spec: { classId: exampleIds("smart-lock").classId } }).file);
  const refused = await gatehouse(["update", "push", wrong, "--device", "push-1", "--device", "push-2", "--device", "push-3", "--server", served.url, "--wave", "2", "--max-failures", "1"], token);
  t.is(refused.code, 1, refused.stdout);
  t.regex(refused.stdout, /refused +2: push-1 suit-[a-z-]+, push-2 suit-[a-z-]+/);
  t.regex(refused.stdout, /not started +1 \(the rollout halted\)/);

  const again = await gatehouse(["update", "abort", id!, "--server", served.url], token);
  t.is(again.code, 1);
  t.regex(again.stderr, /gatehouse update: error rollout-ended: /);
  const usage = await gatehouse(["update", "push", good, "--server", served.url], token);
  t.is(usage.code, 2);
  t.regex(usage.stderr, /--device ID \(repeatable\) or --all/);
});
