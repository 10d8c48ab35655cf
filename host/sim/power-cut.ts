// Power-cut trials of the update flow (issue 7 item 8): a simulated device runs in a process of its own
// (`gatehouse sim` with a state folder), the fleet server in the caller's process offers it an update,
// and the device process is killed with SIGKILL at a chosen point of download, verification, install or
// trial. The trial then checks what a power cut must leave: the build the device would boot now is a
// complete one (its slot's bytes are exactly the old build or exactly the new one, never a half-written
// image), and after the process starts again the device comes back and finishes the update (confirmed,
// its birth naming the new manifest).
//
//   const outcome = await runPowerCutTrial({ server, brokerUrl, identitiesDir, stateDir, device: "thermo-1",
//     example: "thermostat", update, rollout: "r1", killWhen: killAtProgress(40), builds: { old, new } });
//
// Reusable: the suit runs a few (test/update-power-cut.test.ts); a script can run hundreds with random
// kill points (randomKillPoint). Host side (Node).

import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bytesEqual, toHex } from "../../sdk/bytes";
import { fail } from "../../sdk/errors";
import { FileUpdatePort } from "../../sdk/update/file-port";
import { nodeCrypto } from "../../ports/node/crypto";
import { NodeSlotFiles } from "../../ports/node/update";
import type { FleetApi } from "../server/api";
import type { DeviceUpdateState } from "../server/store";
import type { PreparedUpdate } from "../server/update-transfer";
import { readSimBuild, SIM_BUILD_HEADER_BYTES } from "./build";

const BIN = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "bin", "gatehouse.js");

/** Decides, from the device's update state as the server stored it, when to pull the plug. */
export type KillPoint = { readonly name: string; readonly when: (state: DeviceUpdateState | undefined) => boolean; readonly delayMs?: number };

export const killAtProgress = (percent: number, delayMs = 0): KillPoint => ({
  name: `downloading ${percent}%${delayMs ? ` +${delayMs} ms` : ""}`,
  when: (s) => s?.status?.state === "downloading" && s.status.progress >= percent,
  delayMs,
});
const STEPS = ["offered", "downloading", "verified", "installed", "confirmed"];
/**
 * As soon as the server saw the device at `state` or a later step (verified: the digest checked;
 * installed: marked, restarting). The server's view lags the device: it may be further already.
 */
export const killAtState = (state: string, delayMs = 0): KillPoint => ({
  name: `${state}${delayMs ? ` +${delayMs} ms` : ""}`,
  when: (s) => STEPS.indexOf(s?.status?.state ?? "") >= STEPS.indexOf(state),
  delayMs,
});
/** In the trial boot, after its birth (before or while the health check runs). */
export const killInTrial = (delayMs = 0): KillPoint => ({ name: `trial +${delayMs} ms`, when: (s) => s?.installed?.state === "trial", delayMs });

/** One of the points above at random (`random` in [0, 1)), for long runs of trials. */
export function randomKillPoint(random: () => number = Math.random): KillPoint {
  const pick = Math.floor(random() * 5);
  const delay = Math.floor(random() * 300);
  if (pick === 0) return killAtState("offered", delay);
  if (pick === 1) return killAtProgress(10 * Math.floor(random() * 10), delay);
  if (pick === 2) return killAtState("verified", Math.floor(delay / 10));
  if (pick === 3) return killAtState("installed", delay);
  return killInTrial(delay);
}

export interface PowerCutTrialOptions {
  /** The fleet server (in this process), connected to the broker. */
  readonly server: FleetApi;
  readonly brokerUrl: string;
  /** Where the device's identity is (with its update trust), and its state folder (kept between trials). */
  readonly identitiesDir: string;
  readonly stateDir: string;
  readonly device: string;
  readonly example: string;
  readonly update: PreparedUpdate;
  readonly rollout: string;
  readonly killAt: KillPoint;
  /** SHA-256 of the build the device runs before, and of the update's image. */
  readonly builds: { readonly old: Uint8Array; readonly new: Uint8Array };
  /** The manifest sequence number the update installs. */
  readonly seq: number;
  /** How long each phase may take (default 90 s). */
  readonly timeoutMs?: number;
  readonly log?: (line: string) => void;
}

export interface PowerCutOutcome {
  readonly killPoint: string;
  /** Whether the kill point was reached (false: the update finished before it; the device was killed anyway). */
  readonly reached: boolean;
  /** What the device would boot right after the kill: "old" or "new" (a complete build), by the slot's bytes. */
  readonly bootsAfterKill: "old" | "new";
  /** The final status the server saw, and the installed sequence number after the restart. */
  readonly finalState: string;
  readonly installedSeq: number;
  readonly ms: number;
}

/** Runs one trial; throws (code power-cut-failed) when the device is left on no complete build or does not finish. */
export async function runPowerCutTrial(options: PowerCutTrialOptions): Promise<PowerCutOutcome> {
  let o = options;
  const started = Date.now();
  const timeout = o.timeoutMs ?? 90_000;
  const log = o.log ?? (() => {});
  const deviceDir = join(o.stateDir, o.device);
  // `gatehouse sim --devices 1` runs the first identity of its folder: this device's alone.
  const ownIdentities = mkdtempSync(join(tmpdir(), "gh-power-cut-id-"));
  cpSync(join(o.identitiesDir, o.device), join(ownIdentities, o.device), { recursive: true });
  o = { ...o, identitiesDir: ownIdentities };
  let session = sessionOf(o);
  let child = startDevice(o, log);
  try {
    await waitFor(`${o.device} online`, () => isBack(o, session) && o.server.updateState(o.device)?.installed != null, timeout);
    await o.server.offerUpdate({ device: o.device, rollout: o.rollout, update: o.update });
    let reached = false;
    try {
      await waitFor(`kill point ${o.killAt.name}`, () => o.killAt.when(o.server.updateState(o.device)) || finished(o), timeout);
      reached = o.killAt.when(o.server.updateState(o.device));
    } catch (e) {
      log(`${(e as Error).message}; killing anyway`);
    }
    if (o.killAt.delayMs) await sleep(o.killAt.delayMs);
    session = sessionOf(o);
    await kill(child);
    const bootsAfterKill = bootableBuild(join(deviceDir, "update"), o.builds);
    log(`killed at ${o.killAt.name} (${reached ? "reached" : "not reached"}): the next boot runs the ${bootsAfterKill} build`);

    child = startDevice(o, log);
    await waitFor(`${o.device} back online`, () => isBack(o, session), timeout);
    // An offer the device received but never acted on died with it: offered again unless it has the
    // update (a rollout layer does the same; a re-offer of the update in progress only says where it is).
    if ((o.server.updateState(o.device)?.installed?.seq ?? 0) < o.seq) await o.server.offerUpdate({ device: o.device, rollout: o.rollout, update: o.update });
    await waitFor(`${o.device} confirmed seq ${o.seq}`, () => finished(o), timeout);
    const state = o.server.updateState(o.device);
    return { killPoint: o.killAt.name, reached, bootsAfterKill, finalState: state?.status?.state ?? "none", installedSeq: state?.installed?.seq ?? 0, ms: Date.now() - started };
  } finally {
    await kill(child);
    rmSync(ownIdentities, { recursive: true, force: true });
  }
}

/** The update confirmed, and a birth since naming it installed. */
function finished(o: PowerCutTrialOptions): boolean {
  const s = o.server.updateState(o.device);
  return s?.status?.state === "confirmed" && s.status.manifest === o.seq && (s.installed?.seq ?? 0) >= o.seq;
}

function sessionOf(o: PowerCutTrialOptions): number | null {
  return o.server.devices().find((d) => d.id === o.device)?.session ?? null;
}

/** Online in a session after `before` (a birth of the new process, or of its trial boot). */
function isBack(o: PowerCutTrialOptions, before: number | null): boolean {
  const row = o.server.devices().find((d) => d.id === o.device);
  return row !== undefined && row.online && row.session !== null && row.session !== before;
}

interface DeviceProcess {
  readonly process: ChildProcess;
  exited: Promise<void>;
}

function startDevice(o: PowerCutTrialOptions, log: (line: string) => void): DeviceProcess {
  const args = [BIN, "sim", "--broker", o.brokerUrl, "--devices", "1", "--example", o.example, "--identities", o.identitiesDir, "--state", o.stateDir];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  const lines = (prefix: string) => (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n")) if (line.trim()) log(`${prefix}${line}`);
  };
  child.stdout?.on("data", lines(`[${o.device} ${child.pid}] `));
  child.stderr?.on("data", lines(`[${o.device} ${child.pid} stderr] `));
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  return { process: child, exited };
}

async function kill(child: DeviceProcess): Promise<void> {
  if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill("SIGKILL");
  await child.exited;
}

/**
 * What the device would boot now, by the real boot logic (FileUpdatePort) over a copy of its slots (the
 * boot step writes its record; the device's own must stay as the kill left it), and the slot's bytes
 * against the two complete builds.
 */
export function bootableBuild(updateDir: string, builds: { readonly old: Uint8Array; readonly new: Uint8Array }): "old" | "new" {
  const copy = mkdtempSync(join(tmpdir(), "gh-power-cut-"));
  try {
    cpSync(updateDir, copy, { recursive: true });
    const port = new FileUpdatePort({ files: new NodeSlotFiles(copy), capacity: Number.MAX_SAFE_INTEGER, restart: () => {} });
    const hash = nodeCrypto.createSha256();
    let size = 0;
    for (;;) {
      const piece = port.read("running", size, 1 << 20);
      if (piece.length === 0) break;
      hash.update(piece);
      size += piece.length;
    }
    const digest = hash.digest();
    if (bytesEqual(digest, builds.old)) return "old";
    if (bytesEqual(digest, builds.new)) return "new";
    const header = readSimBuild(port.read("running", 0, SIM_BUILD_HEADER_BYTES));
    return fail("power-cut-failed", `slot ${port.boot().slot} would boot ${size} bytes (sha256 ${toHex(digest)}, ${header ? `header ${header.firmware}` : "no build header"}): neither complete build`);
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

async function waitFor(what: string, ready: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > until) fail("power-cut-failed", `timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));
