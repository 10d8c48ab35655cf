// Fleet rollouts: one signed update offered to many devices in waves, as hawkBit's and Mender's rollouts
// do. The state lives in SQLite (rollout-schema.ts), so a rollout resumes where it was after a server
// restart; progress comes from the devices' signed `update` statuses (FleetApi.updateState), never from
// anything unsigned.
//
//   rollout   running -> done       every wave's devices reached a final state, failures within the threshold
//             running -> halted     failures (refused, rolled back, failed) passed max failures: no new wave
//                                   starts; devices already offered go on to their end
//             running -> aborted    by a person (POST /api/rollouts/:id/abort, audited): devices not yet
//                                   installed are stopped: their blocks are no longer served, and those
//                                   offered are sent a stop, on which a device downloading the update
//                                   cancels it, empties its slot and says so (its signed `aborted`)
//   device    pending -> offered -> downloading (n %) -> verified -> installed -> confirmed
//                                 \-> refused (code) | rolled-back (code) | failed (code) | aborted
//
// After an abort a device's own statuses still count where they tell how it ended: `aborted` (how far
// it got), or, when the stop came too late (the image was already installed: a trial is never stopped),
// installed, confirmed or rolled-back. The row says what the device did, not only what the server asked.
//
// A wave starts when every device of the waves before it is in a final state (confirmed, refused,
// rolled-back, failed, aborted). A device that says nothing for deviceTimeoutMs while in flight fails
// (update-timeout): an offline device never holds a rollout up for ever. A device already running the
// rollout's build (its birth names the manifest's sequence number, confirmed) counts as confirmed: that
// is how a re-offer after a server restart, or a lost `confirmed` status, ends.
//
// The server never signs anything here: the file is `gatehouse update create`'s (the image integrated);
// devices verify the envelope, k of n, and every byte against its signed size and digest.
//
// Refusals (stable codes): rollout-unknown, rollout-ended (abort of a rollout that is not running),
// invalid-input, unknown-device, and those of readUpdatePackage (suit-*).

import { randomBytes } from "node:crypto";
import type Database from "better-sqlite3";
import { toHex } from "../../sdk/bytes";
import { errorCode, fail } from "../../sdk/errors";
import type { FleetApi } from "./api";
import { prepareUpdate, UpdateSignal, type PreparedUpdate } from "./update-transfer";
import type { DeviceUpdateState } from "./store";

export type RolloutState = "running" | "halted" | "aborted" | "done";
export type RolloutDeviceState = "pending" | "offered" | "downloading" | "verified" | "installed" | "confirmed" | "refused" | "rolled-back" | "failed" | "aborted";

export const FINAL_DEVICE_STATES: readonly RolloutDeviceState[] = ["confirmed", "refused", "rolled-back", "failed", "aborted"];
export const FAILED_DEVICE_STATES: readonly RolloutDeviceState[] = ["refused", "rolled-back", "failed"];
/** Device states an abort stops: the device has not installed the new build yet. */
const STOPPABLE: readonly RolloutDeviceState[] = ["pending", "offered", "downloading", "verified"];
const IN_FLIGHT: readonly RolloutDeviceState[] = ["offered", "downloading", "verified", "installed"];

export const MAX_ROLLOUT_DEVICES = 10_000;
export const DEFAULT_DEVICE_TIMEOUT_MS = 10 * 60_000;

export interface RolloutDevice {
  device: string;
  /** 1-based. */
  wave: number;
  state: RolloutDeviceState;
  /** 0 to 100. */
  progress: number;
  /** Why it was refused, rolled back or failed (a stable code). */
  code: string | null;
  updatedAt: number;
}

export interface RolloutCounts {
  pending: number;
  inFlight: number;
  confirmed: number;
  refused: number;
  rolledBack: number;
  failed: number;
  aborted: number;
}

export interface RolloutSummary {
  id: string;
  state: RolloutState;
  /** Why it halted or ended, for people. */
  reason: string | null;
  manifestSeq: number;
  imageSize: number;
  /** SHA-256 of the image, hex. */
  imageDigest: string;
  waveSize: number;
  maxFailures: number;
  blockSize: number;
  /** The wave started last (1-based) of `waves`. */
  wave: number;
  waves: number;
  counts: RolloutCounts;
  createdBy: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface Rollout extends RolloutSummary {
  devices: RolloutDevice[];
}

export interface RolloutRequest {
  /** An update file as `gatehouse update create` writes it, with its image integrated. */
  file: Uint8Array;
  /** The devices (registered), or "all": every device registered now. */
  devices: readonly string[] | "all";
  /** Devices per wave (default: all in one wave). */
  waveSize?: number;
  /** Failures tolerated; one more halts the rollout (default 0). */
  maxFailures?: number;
  blockSize?: number;
  /** Who created it (the API caller), for the record. */
  createdBy?: string;
}

/** What rollouts need of the fleet server. */
export type RolloutFleet = Pick<FleetApi, "devices" | "offerUpdate" | "withdrawUpdate" | "stopUpdate" | "updateState" | "updateChanges">;

export interface RolloutOptions {
  /** A device in flight that says nothing for this long fails with update-timeout (default 10 min). */
  deviceTimeoutMs?: number;
  /** How often that is looked at (default 1 s). */
  sweepMs?: number;
  log?: (line: string) => void;
}

interface RolloutDbRow {
  id: string;
  state: RolloutState;
  reason: string | null;
  manifest_seq: number;
  image_size: number;
  image_digest: string;
  wave_size: number;
  max_failures: number;
  block_size: number;
  wave: number;
  created_by: string | null;
  created_at: number;
  updated_at: number;
}

interface DeviceDbRow {
  rollout: string;
  device: string;
  wave: number;
  state: RolloutDeviceState;
  progress: number;
  code: string | null;
  updated_at: number;
}

/** Every column of rollouts but the file (a megabyte or more: read only to prepare the update). */
const ROLLOUT_COLUMNS = "id, state, reason, manifest_seq, image_size, image_digest, wave_size, max_failures, block_size, wave, created_by, created_at, updated_at";

const isFinal = (state: RolloutDeviceState): boolean => FINAL_DEVICE_STATES.includes(state);

function countsOf(devices: readonly { state: RolloutDeviceState }[]): RolloutCounts {
  const counts: RolloutCounts = { pending: 0, inFlight: 0, confirmed: 0, refused: 0, rolledBack: 0, failed: 0, aborted: 0 };
  for (const { state } of devices) {
    if (state === "pending") counts.pending++;
    else if (state === "confirmed") counts.confirmed++;
    else if (state === "refused") counts.refused++;
    else if (state === "rolled-back") counts.rolledBack++;
    else if (state === "failed") counts.failed++;
    else if (state === "aborted") counts.aborted++;
    else counts.inFlight++;
  }
  return counts;
}

function deviceRow(r: DeviceDbRow): RolloutDevice {
  return { device: r.device, wave: r.wave, state: r.state, progress: r.progress, code: r.code, updatedAt: r.updated_at };
}

function positiveInteger(value: number | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > max) fail("invalid-input", `${name} must be an integer from ${min} to ${max}`);
  return value;
}

export class Rollouts {
  /** Raised with a rollout's id after its state or a device's in it changed (and was stored). */
  readonly changes = new UpdateSignal();
  private readonly db: Database.Database;
  private readonly fleet: RolloutFleet;
  private readonly o: RolloutOptions;
  /** The update of each running rollout, read from its stored file once. */
  private readonly updates = new Map<string, PreparedUpdate>();
  private readonly statements = new Map<string, Database.Statement>();
  private unlisten: (() => void) | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;

  constructor(db: Database.Database, fleet: RolloutFleet, options: RolloutOptions = {}) {
    this.db = db;
    this.fleet = fleet;
    this.o = options;
  }

  /**
   * Listens to the devices' statuses and resumes every running rollout: what the devices said while the
   * server was away is taken from their stored state, and devices still in flight are offered the update
   * again (a device downloading it says where it is and goes on; one that finished says so).
   */
  async start(): Promise<void> {
    this.unlisten = this.fleet.updateChanges.listen((device) => this.onDeviceChange(device));
    this.timer = setInterval(() => this.sweep(), this.o.sweepMs ?? 1000);
    this.timer.unref();
    const running = this.sql("SELECT id FROM rollouts WHERE state = 'running'").all() as { id: string }[];
    for (const { id } of running) {
      for (const d of this.deviceRows(id)) if (IN_FLIGHT.includes(d.state)) this.onDeviceChange(d.device);
      const row = this.row(id);
      if (row?.state !== "running") continue;
      this.log(`rollout ${id}: resuming at wave ${row.wave}`);
      for (const d of this.deviceRows(id)) if (d.wave === row.wave && (d.state === "offered" || d.state === "downloading" || d.state === "verified")) await this.offer(row, d.device);
      await this.advance(id);
    }
  }

  stop(): void {
    this.stopped = true;
    this.unlisten?.();
    clearInterval(this.timer);
  }

  /** Creates a rollout and starts its first wave. */
  async create(request: RolloutRequest): Promise<Rollout> {
    if (this.stopped) fail("server-stopped", "the server is stopping");
    const update = prepareUpdate(request.file);
    const registered = new Set(this.fleet.devices().map((d) => d.id));
    let devices: string[];
    if (request.devices === "all") devices = [...registered].sort();
    else {
      devices = [...new Set(request.devices)];
      for (const id of devices) if (!registered.has(id)) fail("unknown-device", `device ${id} is not registered`);
    }
    if (devices.length === 0) fail("invalid-input", "a rollout needs at least one device");
    if (devices.length > MAX_ROLLOUT_DEVICES) fail("invalid-input", `at most ${MAX_ROLLOUT_DEVICES} devices per rollout`);
    const waveSize = positiveInteger(request.waveSize, "waveSize", devices.length, 1, MAX_ROLLOUT_DEVICES);
    const maxFailures = positiveInteger(request.maxFailures, "maxFailures", 0, 0, MAX_ROLLOUT_DEVICES);
    const blockSize = positiveInteger(request.blockSize, "blockSize", 4096, 64, 65536);
    // Short, unique and within the 64 characters a status's rollout field may hold.
    const id = `r-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
    const now = Date.now();
    this.db.transaction(() => {
      this
        .sql(
          `INSERT INTO rollouts (id, state, reason, file, manifest_seq, image_size, image_digest, wave_size, max_failures, block_size, wave, created_by, created_at, updated_at)
           VALUES (?, 'running', NULL, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)`,
        )
        .run(id, Buffer.from(request.file), update.sequenceNumber, update.imageSize, toHex(update.imageDigest), waveSize, maxFailures, blockSize, request.createdBy ?? null, now, now);
      const insert = this.sql("INSERT INTO rollout_devices (rollout, device, wave, state, progress, code, updated_at) VALUES (?, ?, ?, 'pending', 0, NULL, ?)");
      devices.forEach((device, i) => insert.run(id, device, Math.floor(i / waveSize) + 1, now));
    })();
    this.updates.set(id, update);
    this.log(`rollout ${id}: manifest ${update.sequenceNumber} to ${devices.length} device(s) in waves of ${waveSize}, at most ${maxFailures} failure(s)`);
    await this.advance(id);
    return this.get(id) as Rollout;
  }

  /** Every rollout, newest first, without their devices. */
  list(): RolloutSummary[] {
    const rows = this.sql(`SELECT ${ROLLOUT_COLUMNS} FROM rollouts ORDER BY created_at DESC, id DESC`).all() as RolloutDbRow[];
    return rows.map((r) => this.summary(r, this.deviceRows(r.id)));
  }

  get(id: string): Rollout | undefined {
    const row = this.row(id);
    if (row === undefined) return undefined;
    const devices = this.deviceRows(id);
    return { ...this.summary(row, devices), devices: devices.map(deviceRow) };
  }

  /**
   * Aborts a running or halted rollout: no further wave starts, and devices that have not installed the
   * new build are stopped (aborted; the server no longer serves their blocks, and each one offered is
   * sent a stop: it cancels its download and says `aborted`). A device already restarting into the new
   * build goes on to confirm or roll back. Refused for a rollout that ended (rollout-ended).
   */
  abort(id: string, by?: string): Rollout {
    const row = this.row(id);
    if (row === undefined) return fail("rollout-unknown", `no rollout ${id}`);
    if (row.state !== "running" && row.state !== "halted") fail("rollout-ended", `rollout ${id} is ${row.state}`);
    const stopped = this.deviceRows(id).filter((d) => STOPPABLE.includes(d.state));
    const now = Date.now();
    this.db.transaction(() => {
      this.setState(id, "aborted", `aborted${by ? ` by ${by}` : ""}: ${stopped.length} device(s) stopped before installing`, now);
      for (const d of stopped) this.setDevice(id, d.device, "aborted", d.progress, null, now);
    })();
    for (const d of stopped) {
      if (d.state === "pending") continue;
      // Not awaited: the abort is recorded either way, and a stop that did not go out is sent again
      // when the device asks for a block of this rollout (update-transfer.ts).
      this.fleet.stopUpdate(d.device, id).catch((e: unknown) => this.log(`rollout ${id}: cannot send the stop to ${d.device}: ${(e as Error).message}`));
    }
    this.updates.delete(id);
    this.log(`rollout ${id}: aborted${by ? ` by ${by}` : ""}, ${stopped.length} device(s) stopped`);
    this.changes.raise(id);
    return this.get(id) as Rollout;
  }

  // ---- internals ----

  private log(line: string): void {
    this.o.log?.(line);
  }

  /** A statement, prepared once: a status of every device runs the same few, many times. */
  private sql(text: string): Database.Statement {
    let statement = this.statements.get(text);
    if (statement === undefined) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  private row(id: string): RolloutDbRow | undefined {
    return this.sql(`SELECT ${ROLLOUT_COLUMNS} FROM rollouts WHERE id = ?`).get(id) as RolloutDbRow | undefined;
  }

  private deviceRows(id: string): DeviceDbRow[] {
    return this.sql("SELECT * FROM rollout_devices WHERE rollout = ? ORDER BY wave, device").all(id) as DeviceDbRow[];
  }

  private summary(r: RolloutDbRow, devices: DeviceDbRow[]): RolloutSummary {
    return {
      id: r.id,
      state: r.state,
      reason: r.reason,
      manifestSeq: r.manifest_seq,
      imageSize: r.image_size,
      imageDigest: r.image_digest,
      waveSize: r.wave_size,
      maxFailures: r.max_failures,
      blockSize: r.block_size,
      wave: r.wave,
      waves: devices.reduce((max, d) => Math.max(max, d.wave), 0),
      counts: countsOf(devices),
      createdBy: r.created_by,
      createdAt: r.created_at,
      updatedAt: devices.reduce((latest, d) => Math.max(latest, d.updated_at), r.updated_at),
    };
  }

  private setState(id: string, state: RolloutState, reason: string | null, now: number): void {
    this.sql("UPDATE rollouts SET state = ?, reason = ?, updated_at = ? WHERE id = ?").run(state, reason, now, id);
  }

  private setDevice(id: string, device: string, state: RolloutDeviceState, progress: number, code: string | null, now: number): void {
    // The rollout's own row is not touched: it holds the update file, which SQLite would write again
    // whole (a megabyte per status); the rollout's updatedAt is the latest of its row and its devices'.
    this.sql("UPDATE rollout_devices SET state = ?, progress = ?, code = ?, updated_at = ? WHERE rollout = ? AND device = ?").run(state, progress, code, now, id, device);
  }

  private update(id: string): PreparedUpdate {
    let update = this.updates.get(id);
    if (update === undefined) {
      const { file } = this.sql("SELECT file FROM rollouts WHERE id = ?").get(id) as { file: Buffer };
      update = prepareUpdate(new Uint8Array(file.buffer, file.byteOffset, file.byteLength));
      this.updates.set(id, update);
    }
    return update;
  }

  private async offer(row: RolloutDbRow, device: string): Promise<void> {
    try {
      await this.fleet.offerUpdate({ device, rollout: row.id, update: this.update(row.id), blockSize: row.block_size });
    } catch (e) {
      this.setDevice(row.id, device, "failed", 0, errorCode(e), Date.now());
      this.log(`rollout ${row.id}: cannot offer to ${device}: ${(e as Error).message}`);
    }
  }

  /** Halts, finishes or starts the next wave, as the devices' states say. */
  private async advance(id: string): Promise<void> {
    for (;;) {
      const row = this.row(id);
      if (row === undefined || row.state !== "running" || this.stopped) return;
      const devices = this.deviceRows(id);
      const counts = countsOf(devices);
      const failures = counts.refused + counts.rolledBack + counts.failed;
      const now = Date.now();
      if (failures > row.max_failures) {
        this.setState(id, "halted", `${failures} device(s) failed, more than the ${row.max_failures} allowed: no further wave starts`, now);
        this.updates.delete(id);
        this.log(`rollout ${id}: halted after ${failures} failure(s)`);
        this.changes.raise(id);
        return;
      }
      if (devices.some((d) => d.wave <= row.wave && !isFinal(d.state))) return;
      const next = devices.filter((d) => d.wave === row.wave + 1);
      if (next.length === 0) {
        this.setState(id, "done", `${counts.confirmed} confirmed, ${failures} failed`, now);
        this.updates.delete(id);
        this.log(`rollout ${id}: done`);
        this.changes.raise(id);
        return;
      }
      this.db.transaction(() => {
        this.sql("UPDATE rollouts SET wave = ?, updated_at = ? WHERE id = ?").run(row.wave + 1, now, id);
        for (const d of next) this.setDevice(id, d.device, "offered", 0, null, now);
      })();
      this.log(`rollout ${id}: wave ${row.wave + 1} (${next.length} device(s))`);
      this.changes.raise(id);
      const started = { ...row, wave: row.wave + 1 };
      for (const d of next) await this.offer(started, d.device);
      // Offers that failed may already have ended the wave: look again.
    }
  }

  /** A device's update state changed: its status (or a birth) moves its row in the rollout it names. */
  private onDeviceChange(device: string): void {
    if (this.stopped) return;
    const state = this.fleet.updateState(device);
    if (state === undefined) return;
    const changed = new Set<string>();
    const status = state.status;
    if (status !== null) {
      const row = this.sql("SELECT * FROM rollout_devices WHERE rollout = ? AND device = ?").get(status.rollout, device) as DeviceDbRow | undefined;
      const aborted = row !== undefined && this.afterAbort(row, status.state);
      if (row !== undefined && ((!isFinal(row.state) && row.state !== "pending") || aborted)) {
        const next = this.fromStatus(row, state);
        if (next !== undefined && (next.state !== row.state || next.progress !== row.progress || next.code !== row.code)) {
          this.setDevice(row.rollout, device, next.state, next.progress, next.code, Date.now());
          // The abort already stopped serving it, and no wave follows: nothing to withdraw or advance
          // (a withdraw now could take a newer rollout's offer to the device away).
          if (aborted) this.changes.raise(row.rollout);
          else changed.add(row.rollout);
        }
      }
    }
    // A birth of the rollout's build, confirmed: the device runs it, whatever status was lost on the way.
    const installed = state.installed;
    if (installed !== null && installed.state !== "trial") {
      const rows = this
        .sql(
          `SELECT d.* FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout
           WHERE d.device = ? AND r.manifest_seq = ? AND d.state IN ('offered', 'downloading', 'verified', 'installed')`,
        )
        .all(device, installed.seq) as DeviceDbRow[];
      for (const row of rows) {
        // A patch's sequence number counts apart from images': the running build's says nothing of it.
        if (this.update(row.rollout).patch) continue;
        this.setDevice(row.rollout, device, "confirmed", 100, null, Date.now());
        changed.add(row.rollout);
      }
    }
    for (const id of changed) this.afterDeviceChange(id, device);
  }

  private afterDeviceChange(id: string, device: string): void {
    const row = this.sql("SELECT state FROM rollout_devices WHERE rollout = ? AND device = ?").get(id, device) as { state: RolloutDeviceState };
    this.changes.raise(id);
    if (!isFinal(row.state)) return;
    // Only a device that ended can end a wave, or pass the failure threshold.
    this.fleet.withdrawUpdate(device);
    this.advance(id).catch((e: unknown) => this.log(`rollout ${id}: ${(e as Error).message}`));
  }

  /**
   * Whether a status still counts for a device the server marked aborted: the device's own `aborted`
   * (how far it got), or the statuses of an image installed before the stop reached it.
   */
  private afterAbort(row: DeviceDbRow, status: string): boolean {
    return row.state === "aborted" && (status === "aborted" || status === "installed" || status === "confirmed" || status === "rolled-back") && this.row(row.rollout)?.state === "aborted";
  }

  /** The device row a status of its rollout makes. */
  private fromStatus(row: DeviceDbRow, state: DeviceUpdateState): { state: RolloutDeviceState; progress: number; code: string | null } | undefined {
    const status = state.status!;
    switch (status.state) {
      case "offered":
      case "downloading":
        return { state: status.state, progress: Math.max(0, Math.min(100, status.progress)), code: null };
      case "verified":
      case "installed":
        return { state: status.state, progress: 100, code: null };
      case "confirmed":
        return { state: "confirmed", progress: 100, code: null };
      case "rolled-back":
        return { state: "rolled-back", progress: row.progress, code: status.code };
      case "aborted":
        return { state: "aborted", progress: Math.max(0, Math.min(100, status.progress)), code: null };
      case "refused": {
        // A device that already runs this build refuses it again (not newer): an offer repeated after a
        // server restart, or a rollout of a build some devices have. That is the rollout's goal reached.
        const seq = (this.row(row.rollout) as RolloutDbRow).manifest_seq;
        if (!this.update(row.rollout).patch && state.installed !== null && state.installed.seq === seq && state.installed.state !== "trial") return { state: "confirmed", progress: 100, code: null };
        return { state: "refused", progress: row.progress, code: status.code };
      }
      default:
        return undefined;
    }
  }

  /** Devices in flight that said nothing for too long fail (update-timeout). */
  private sweep(): void {
    if (this.stopped) return;
    const limit = Date.now() - (this.o.deviceTimeoutMs ?? DEFAULT_DEVICE_TIMEOUT_MS);
    const late = this
      .sql(`SELECT * FROM rollout_devices WHERE state IN ('offered', 'downloading', 'verified', 'installed') AND updated_at < ?`)
      .all(limit) as DeviceDbRow[];
    for (const d of late) {
      this.setDevice(d.rollout, d.device, "failed", d.progress, "update-timeout", Date.now());
      this.log(`rollout ${d.rollout}: ${d.device} said nothing for too long (update-timeout)`);
      this.afterDeviceChange(d.rollout, d.device);
    }
  }
}
