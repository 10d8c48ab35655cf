// Device memory while it takes an update, independent of the image's size (issue 7 item 9): the same
// simulated device takes a 1 MiB and a 16 MiB image; its peak live memory must be within 2 MiB of each
// other (the agent streams: blocks are hashed and written as they come, nothing holds the image).
//
//   node --import tsx bench/update-memory.ts [--small-kib 1024] [--large-kib 16384]
//
// Each device runs in a process of its own (bench/update-memory-device.ts: slot files on disk, garbage
// collected before every sample, so the figure is what the device holds); the fleet server and
// mosquitto run here. Reported per image: peak live memory (heapUsed + external) above the device's
// memory before the offer, and the process's peak RSS (VmHWM, which includes what the collector had not
// freed yet, so it is noisier).
//
// Machine-readable lines:
//   update memory 1024 KiB image: peak live +0.21 MiB, peak rss 98.1 MiB
//   update memory 16384 KiB image: peak live +0.23 MiB, peak rss 99.0 MiB
//   update memory difference 0.02 MiB (goal <= 2 MiB)
//   BENCH_RESULT {"bench":"update-memory",...}

import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FleetServer } from "../host/server/fleet-server";
import { startMosquitto } from "../test/support/brokers";
import { provisionFleet, simUpdate, trustDocument, updateKeys } from "../test/support/updates";

const here = dirname(fileURLToPath(import.meta.url));
function argument(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  return value;
}
const SIZES_KIB = [argument("small-kib", 1024), argument("large-kib", 16 * 1024)];
const GOAL_MIB = 2;
const TIMEOUT_MS = 600_000;
const MIB = 1024 * 1024;
const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

async function until(what: string, ready: () => boolean): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

interface Peak {
  liveBytes: number;
  baseLiveBytes: number;
  hwmKib: number;
}

const broker = await startMosquitto();
const keys = updateKeys(2);
const ids = SIZES_KIB.map((kib) => `mem-${kib}`);
const fleet = provisionFleet(ids, trustDocument(keys, 2));
const work = mkdtempSync(join(tmpdir(), "gh-update-memory-"));
const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", identitiesDir: fleet.identitiesDir, clientId: "update-memory-server" });

async function measure(device: string, kib: number): Promise<Peak> {
  const own = join(work, device, "identities");
  cpSync(join(fleet.identitiesDir, device), join(own, device), { recursive: true });
  const args = ["--expose-gc", "--import", "tsx", join(here, "update-memory-device.ts"), "--broker", broker.url, "--identities", own, "--state", join(work, device, "state")];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  let output = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => (output += chunk));
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  try {
    await until(`${device} ready`, () => output.includes("READY\n"));
    const update = simUpdate({ app: "thermostat", firmware: `thermostat-sim ${kib}`, seq: 1, keys, payloadBytes: kib * 1024 - 40 });
    await server.offerUpdate({ device, rollout: `memory-${kib}`, update: update.prepared });
    await until(`${device} confirmed`, () => server.updateState(device)?.status?.state === "confirmed");
    child.kill("SIGTERM");
    await exited;
    const line = output.split("\n").find((l) => l.startsWith("PEAK "));
    if (!line) throw new Error(`${device}: no PEAK line in ${JSON.stringify(output.slice(-300))}`);
    return JSON.parse(line.slice(5)) as Peak;
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}

try {
  const peaks: { kib: number; peak: Peak; aboveBase: number }[] = [];
  for (const [i, kib] of SIZES_KIB.entries()) {
    const peak = await measure(ids[i], kib);
    const aboveBase = peak.liveBytes - peak.baseLiveBytes;
    peaks.push({ kib, peak, aboveBase });
    console.log(`update memory ${kib} KiB image: peak live +${(aboveBase / MIB).toFixed(2)} MiB (${(peak.liveBytes / MIB).toFixed(1)} MiB in all), peak rss ${(peak.hwmKib / 1024).toFixed(1)} MiB`);
  }
  const difference = Math.abs(peaks[1].peak.liveBytes - peaks[0].peak.liveBytes) / MIB;
  const rssDifference = Math.abs(peaks[1].peak.hwmKib - peaks[0].peak.hwmKib) / 1024;
  console.log(`update memory difference ${difference.toFixed(2)} MiB live, ${rssDifference.toFixed(1)} MiB rss (goal <= ${GOAL_MIB} MiB live)${difference > GOAL_MIB ? "   ABOVE GOAL" : ""}`);
  console.log(
    `BENCH_RESULT ${JSON.stringify({
      bench: "update-memory",
      goalMib: GOAL_MIB,
      differenceMib: Number(difference.toFixed(3)),
      rssDifferenceMib: Number(rssDifference.toFixed(2)),
      images: peaks.map((p) => ({ kib: p.kib, peakLiveMib: Number((p.peak.liveBytes / MIB).toFixed(3)), aboveBaseMib: Number((p.aboveBase / MIB).toFixed(3)), peakRssMib: Number((p.peak.hwmKib / 1024).toFixed(1)) })),
    })}`,
  );
} finally {
  await server.stop();
  await broker.stop();
  fleet.cleanup();
  rmSync(work, { recursive: true, force: true });
}
process.exit(0);
