// Power cuts during an update (issue 7 item 8), a few in the suite (a script runs many with the same
// runner, host/sim/power-cut.ts): a simulated thermostat in its own process is killed with SIGKILL at
// points of download, verification, install and trial; each time the build it would boot is complete
// (the old one or the new one, byte for byte), and after the restart it finishes the update.
import test from "ava";
import { join } from "node:path";
import { nodeCrypto } from "../ports/node/crypto";
import { FleetServer } from "../host/server/fleet-server";
import { simBuild } from "../host/sim/build";
import { killAtProgress, killAtState, killInTrial, runPowerCutTrial, type KillPoint } from "../host/sim/power-cut";
import { EXAMPLE_APPS } from "../host/sim/apps";
import { startMosquitto } from "./support/brokers";
import { provisionFleet, simUpdate, trustDocument, updateKeys } from "./support/updates";

test("kill -9 at download, verified, installed and trial: a complete build boots every time, and the update finishes", async (t) => {
  t.timeout(600_000);
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const keys = updateKeys(2);
  const points: KillPoint[] = [killAtProgress(30), killAtState("verified"), killAtState("installed"), killInTrial(50)];
  const ids = points.map((_, i) => `cut-${i + 1}`);
  const fleet = provisionFleet(ids, trustDocument(keys, 2));
  t.teardown(() => fleet.cleanup());
  const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", identitiesDir: fleet.identitiesDir, clientId: "power-cut-server" });
  t.teardown(() => server.stop());
  const firmware = EXAMPLE_APPS.thermostat().firmware;
  const update = simUpdate({ app: "thermostat", firmware: "thermostat-sim 0.9.0", seq: 9, keys, payloadBytes: 1 << 20 });
  const builds = { old: nodeCrypto.sha256(simBuild(firmware)), new: nodeCrypto.sha256(update.image) };
  const seen = new Set<string>();
  for (const [i, killAt] of points.entries()) {
    const log: string[] = [];
    try {
      const outcome = await runPowerCutTrial({
        server,
        brokerUrl: broker.url,
        identitiesDir: fleet.identitiesDir,
        stateDir: join(fleet.dir, "state"),
        device: ids[i],
        example: "thermostat",
        update: update.prepared,
        rollout: `cut-${i}`,
        killAt,
        builds,
        seq: 9,
        log: (line) => log.push(line),
      });
      t.log(`${outcome.killPoint}: reached ${outcome.reached}, boots the ${outcome.bootsAfterKill} build after the kill, then ${outcome.finalState} seq ${outcome.installedSeq} (${outcome.ms} ms)`);
      t.is(outcome.finalState, "confirmed");
      t.is(outcome.installedSeq, 9);
      seen.add(outcome.bootsAfterKill);
    } catch (e) {
      t.log(log.join("\n"));
      throw e;
    }
  }
  t.log(`builds booted right after a kill: ${[...seen].join(", ")}`);
  t.true(seen.has("old"), "a kill during the download leaves the old build to boot");
});
