// Power-loss trials, run by hand (issue 7 item 8): a simulated thermostat in a process of its own is
// killed with SIGKILL at a random point of download, verification, install or trial, again and again.
// Every trial must leave the device on a complete build (the old or the new one, byte for byte, by the
// real boot logic over its slot files), and the device must finish the update after it restarts. The
// runner is host/sim/power-cut.ts (the suite runs a few trials with it: test/update-power-cut.test.ts).
//
//   node bin/run-ts.js scripts/power-loss.ts [--trials 60] [--seed N] [--payload BYTES]
//
// One fresh device per trial (its own identity and state), one mosquitto and one fleet server for all.
// Exits 1 when any trial fails (its device's log is printed), 0 otherwise, with a table of the kill
// points and what the device would boot right after each kill.

import { parseArgs } from "node:util";
import { join } from "node:path";
import { nodeCrypto } from "../ports/node/crypto";
import { FleetServer } from "../host/server/fleet-server";
import { simBuild } from "../host/sim/build";
import { EXAMPLE_APPS } from "../host/sim/apps";
import { randomKillPoint, runPowerCutTrial, type PowerCutOutcome } from "../host/sim/power-cut";
import { startMosquitto } from "../test/support/brokers";
import { provisionFleet, simUpdate, trustDocument, updateKeys } from "../test/support/updates";

const { values } = parseArgs({ options: { trials: { type: "string", default: "60" }, seed: { type: "string" }, payload: { type: "string", default: String(256 * 1024) } } });
const trials = Number(values.trials);
const payloadBytes = Number(values.payload);
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
if (!Number.isInteger(trials) || trials < 1 || !Number.isInteger(payloadBytes) || payloadBytes < 0 || !Number.isInteger(seed)) {
  console.error("usage: scripts/power-loss.ts [--trials N] [--seed N] [--payload BYTES]");
  process.exit(2);
}

/** mulberry32: a small seeded PRNG, so a failing run can be repeated with its --seed. */
function seeded(start: number): () => number {
  let a = start >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = seeded(seed);
console.log(`power-loss: ${trials} trials, seed ${seed}, image ${payloadBytes} bytes of payload`);
const broker = await startMosquitto();
const keys = updateKeys(2);
const ids = Array.from({ length: trials }, (_, i) => `loss-${i + 1}`);
const fleet = provisionFleet(ids, trustDocument(keys, 2));
const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", identitiesDir: fleet.identitiesDir, clientId: "power-loss-server" });
const update = simUpdate({ app: "thermostat", firmware: "thermostat-sim 0.9.0", seq: 9, keys, payloadBytes });
const builds = { old: nodeCrypto.sha256(simBuild(EXAMPLE_APPS.thermostat().firmware)), new: nodeCrypto.sha256(update.image) };

const outcomes: PowerCutOutcome[] = [];
const failures: string[] = [];
try {
  for (const [i, device] of ids.entries()) {
    const killAt = randomKillPoint(random);
    const log: string[] = [];
    try {
      const outcome = await runPowerCutTrial({
        server,
        brokerUrl: broker.url,
        identitiesDir: fleet.identitiesDir,
        stateDir: join(fleet.dir, "state"),
        device,
        example: "thermostat",
        update: update.prepared,
        rollout: `loss-${i + 1}`,
        killAt,
        builds,
        seq: 9,
        log: (line) => log.push(line),
      });
      outcomes.push(outcome);
      const ok = outcome.finalState === "confirmed" && outcome.installedSeq === 9;
      if (!ok) failures.push(`${device}: ended ${outcome.finalState} seq ${outcome.installedSeq}`);
      console.log(`${String(i + 1).padStart(3)} ${device.padEnd(9)} kill at ${outcome.killPoint.padEnd(22)} ${outcome.reached ? "reached" : "passed "}  boots ${outcome.bootsAfterKill} build  -> ${outcome.finalState} seq ${outcome.installedSeq}  ${outcome.ms} ms${ok ? "" : "  FAILED"}`);
    } catch (e) {
      failures.push(`${device}: kill at ${killAt.name}: ${(e as Error).message}`);
      console.log(`${String(i + 1).padStart(3)} ${device.padEnd(9)} kill at ${killAt.name.padEnd(22)} FAILED: ${(e as Error).message}`);
      console.log(log.map((line) => `      ${line}`).join("\n"));
    }
  }
} finally {
  await server.stop();
  await broker.stop();
  fleet.cleanup();
}

const byPhase = new Map<string, { trials: number; old: number; new: number }>();
for (const o of outcomes) {
  const phase = o.killPoint.split(" ")[0];
  const row = byPhase.get(phase) ?? { trials: 0, old: 0, new: 0 };
  row.trials++;
  row[o.bootsAfterKill]++;
  byPhase.set(phase, row);
}
console.log("\nkill point     trials  boots old  boots new");
for (const [phase, row] of byPhase) console.log(`${phase.padEnd(14)} ${String(row.trials).padStart(6)} ${String(row.old).padStart(10)} ${String(row.new).padStart(10)}`);
console.log(`\n${trials - failures.length} of ${trials} trials passed, ${failures.length} failed (seed ${seed})`);
for (const f of failures) console.log(`  ${f}`);
process.exit(failures.length === 0 ? 0 : 1);
