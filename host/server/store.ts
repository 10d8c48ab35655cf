// The fleet server's database (SQLite through better-sqlite3). Everything here is synchronous: the MQTT
// message handler writes before MQTT.js acknowledges the message, so what the broker forgets is stored.
//
// Tables
//   devices          one row per registered device: its public key and the state its births and deaths
//                    announce (online = latest birth's session > latest death's session, protocol §4)
//   telemetry        the latest value per (device, door, event)
//   security_events  APPEND-ONLY: triggers refuse UPDATE and DELETE (and recursive_triggers makes
//                    INSERT OR REPLACE's implicit delete hit them too)
//   results          every command result received
//   replay           the replay window per (device, kind): highest seq accepted and the bitmap below it,
//                    so a restart does not ingest retained births (or redelivered messages) again
//   streams          per device, which indices of its publication stream arrived (gaps.ts, as JSON), so
//                    a restart neither forgets a gap nor invents one
//   webhooks         outgoing webhooks and their delivery cursors (export/webhook-schema.ts; the cursor over
//                    security_events is the outbox, so no event is copied and none can be lost)
//   users, tokens, sessions  people and API tokens, passwords and tokens only as hashes (auth/schema.ts,
//                    auth/accounts.ts)
//   audit_log        APPEND-ONLY like security_events: every API call, allowed or refused (audit/schema.ts)

import Database from "better-sqlite3";
import { decodeKey, encodeKey, type CoseKey } from "../../sdk/cose/key";
import { toHex } from "../../sdk/bytes";
import type { Json } from "../client/json-view";
import { WEBHOOK_SCHEMA } from "./export/webhook-schema";
import { AUTH_SCHEMA } from "./auth/schema";
import { AUDIT_SCHEMA } from "./audit/schema";

export interface DeviceRow {
  id: string;
  /** The public COSE_Key, hex. */
  publicKey: string;
  alg: string;
  online: boolean;
  /** Session of the latest birth (the seq of the death message signed at that connect). */
  session: number | null;
  /** Session of the latest death. */
  deathSession: number | null;
  firmware: string | null;
  patch: number | null;
  epoch: number | null;
  /** Door descriptions from the latest birth (protocol §5). */
  doors: Json[];
  /** Milliseconds since the epoch when the server last accepted a publication from the device. */
  lastSeen: number | null;
  birthSeq: number | null;
  /** Offline-queue drops per kind, from the latest birth. */
  dropped: Record<string, number>;
  registeredAt: number;
}

export interface TelemetryRow {
  device: string;
  door: string;
  event: string;
  data: Json;
  /** The device's time (ms since the epoch) or null when it has none. */
  time: number | null;
  receivedAt: number;
  seq: number;
}

export interface EventRow {
  id: number;
  receivedAt: number;
  device: string;
  /** "device": reported by the device (signed); "server": something the server refused. */
  source: "device" | "server";
  code: string;
  allowed: boolean;
  principal: string | null;
  door: string | null;
  op: string | null;
  /** The device's wall time in ms, or null. */
  deviceTime: number | null;
  /** The device's uptime in ms (device events). */
  uptime: number | null;
  suppressed: number;
  seq: number | null;
  /** Server events: what was refused and why. */
  detail: string | null;
}

export type NewEvent = Omit<EventRow, "id">;

export interface ResultRow {
  id: number;
  receivedAt: number;
  device: string;
  ref: string;
  sender: string | null;
  cmdSeq: number | null;
  door: string | null;
  op: string | null;
  ok: boolean;
  value: Json;
  code: string | null;
  message: string | null;
  seq: number;
}

export interface EventFilter {
  device?: string;
  /**
   * Only devices whose id matches this SQLite GLOB (a token's device pattern: a-z, 0-9, "-", "*", "?").
   * Applied before `limit`, so pages stay full.
   */
  devicePattern?: string;
  /** Only events with a larger id, oldest first. Without it: the latest `limit` events (still oldest first). */
  afterId?: number;
  /** Default 100, at most 1000. */
  limit?: number;
}

export const MAX_EVENT_LIMIT = 1000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS devices (
  id TEXT PRIMARY KEY,
  public_key BLOB NOT NULL,
  online INTEGER NOT NULL DEFAULT 0,
  session INTEGER,
  firmware TEXT,
  patch INTEGER,
  epoch INTEGER,
  doors TEXT NOT NULL DEFAULT '[]',
  last_seen INTEGER,
  birth_seq INTEGER,
  death_session INTEGER,
  dropped TEXT NOT NULL DEFAULT '{}',
  registered_at INTEGER NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS telemetry (
  device TEXT NOT NULL,
  door TEXT NOT NULL,
  event TEXT NOT NULL,
  data TEXT NOT NULL,
  device_time INTEGER,
  received_at INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (device, door, event)
) STRICT;

CREATE TABLE IF NOT EXISTS security_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  received_at INTEGER NOT NULL,
  device TEXT NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('device', 'server')),
  code TEXT NOT NULL,
  allowed INTEGER NOT NULL,
  principal TEXT,
  door TEXT,
  op TEXT,
  device_time INTEGER,
  uptime REAL,
  suppressed INTEGER NOT NULL DEFAULT 0,
  seq INTEGER,
  detail TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS security_events_device ON security_events (device, id);

CREATE TRIGGER IF NOT EXISTS security_events_no_update BEFORE UPDATE ON security_events
BEGIN SELECT RAISE(ABORT, 'security_events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS security_events_no_delete BEFORE DELETE ON security_events
BEGIN SELECT RAISE(ABORT, 'security_events is append-only'); END;

CREATE TABLE IF NOT EXISTS results (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  received_at INTEGER NOT NULL,
  device TEXT NOT NULL,
  ref TEXT NOT NULL,
  sender TEXT,
  cmd_seq INTEGER,
  door TEXT,
  op TEXT,
  ok INTEGER NOT NULL,
  value TEXT,
  code TEXT,
  message TEXT,
  seq INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS results_ref ON results (device, ref);

CREATE TABLE IF NOT EXISTS streams (
  device TEXT PRIMARY KEY,
  state TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS replay (
  device TEXT NOT NULL,
  kind TEXT NOT NULL,
  highest INTEGER NOT NULL,
  seen INTEGER NOT NULL,
  PRIMARY KEY (device, kind)
) STRICT;

${WEBHOOK_SCHEMA}
${AUTH_SCHEMA}
${AUDIT_SCHEMA}
`;

const ONLINE = "CASE WHEN session IS NOT NULL AND (death_session IS NULL OR session > death_session) THEN 1 ELSE 0 END";

interface DeviceDbRow {
  id: string;
  public_key: Uint8Array;
  online: number;
  session: number | null;
  firmware: string | null;
  patch: number | null;
  epoch: number | null;
  doors: string;
  last_seen: number | null;
  birth_seq: number | null;
  death_session: number | null;
  dropped: string;
  registered_at: number;
}

export interface EventDbRow {
  id: number;
  received_at: number;
  device: string;
  source: "device" | "server";
  code: string;
  allowed: number;
  principal: string | null;
  door: string | null;
  op: string | null;
  device_time: number | null;
  uptime: number | null;
  suppressed: number;
  seq: number | null;
  detail: string | null;
}

function parseJson(text: string | null): Json {
  if (text === null) return null;
  try {
    return JSON.parse(text) as Json;
  } catch {
    return null;
  }
}

function deviceRow(r: DeviceDbRow): DeviceRow {
  let alg = "?";
  try {
    alg = decodeKey(r.public_key).alg;
  } catch {
    // stored by this code, so valid; "?" only if the file was edited by hand
  }
  const doors = parseJson(r.doors);
  const dropped = parseJson(r.dropped);
  return {
    id: r.id,
    publicKey: toHex(r.public_key),
    alg,
    online: r.online === 1,
    session: r.session,
    deathSession: r.death_session,
    firmware: r.firmware,
    patch: r.patch,
    epoch: r.epoch,
    doors: Array.isArray(doors) ? doors : [],
    lastSeen: r.last_seen,
    birthSeq: r.birth_seq,
    dropped: dropped !== null && typeof dropped === "object" && !Array.isArray(dropped) ? (dropped as Record<string, number>) : {},
    registeredAt: r.registered_at,
  };
}

export function eventRow(r: EventDbRow): EventRow {
  return {
    id: r.id,
    receivedAt: r.received_at,
    device: r.device,
    source: r.source,
    code: r.code,
    allowed: r.allowed === 1,
    principal: r.principal,
    door: r.door,
    op: r.op,
    deviceTime: r.device_time,
    uptime: r.uptime,
    suppressed: r.suppressed,
    seq: r.seq,
    detail: r.detail,
  };
}

export type KeyChange = "created" | "unchanged" | "replaced" | "conflict";

export interface BirthUpdate {
  seq: number;
  session: number;
  firmware: string;
  patch: number;
  epoch: number;
  doors: Json;
  dropped: Json;
}

export class Store {
  readonly db: Database.Database;

  constructor(path: string) {
    this.db = new Database(path);
    if (path !== ":memory:" && path !== "") this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("busy_timeout = 5000");
    // REPLACE conflict resolution deletes rows; with recursive triggers on, that delete meets the trigger.
    this.db.pragma("recursive_triggers = ON");
    this.db.exec(SCHEMA);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  transaction<T>(run: () => T): T {
    return this.db.transaction(run)();
  }

  // ---- devices ----

  keys(): Map<string, CoseKey> {
    const keys = new Map<string, CoseKey>();
    for (const row of this.db.prepare("SELECT id, public_key FROM devices").all() as { id: string; public_key: Uint8Array }[]) {
      try {
        keys.set(row.id, decodeKey(row.public_key));
      } catch {
        // an unreadable key registers nothing
      }
    }
    return keys;
  }

  /** Stores a device's public key. An existing different key is replaced only with `replace`. */
  setKey(id: string, key: CoseKey, replace: boolean, now: number): KeyChange {
    const bytes = encodeKey(key, false);
    const existing = this.db.prepare("SELECT public_key FROM devices WHERE id = ?").get(id) as { public_key: Uint8Array } | undefined;
    if (existing === undefined) {
      this.db.prepare("INSERT INTO devices (id, public_key, registered_at) VALUES (?, ?, ?)").run(id, bytes, now);
      return "created";
    }
    if (toHex(existing.public_key) === toHex(bytes)) return "unchanged";
    if (!replace) return "conflict";
    this.transaction(() => {
      this.db.prepare("UPDATE devices SET public_key = ?, registered_at = ? WHERE id = ?").run(bytes, now, id);
      // A new key is a new identity: its sequence numbers and streams start afresh.
      this.db.prepare("DELETE FROM replay WHERE device = ?").run(id);
      this.db.prepare("DELETE FROM streams WHERE device = ?").run(id);
    });
    return "replaced";
  }

  device(id: string): DeviceRow | undefined {
    const row = this.db.prepare("SELECT * FROM devices WHERE id = ?").get(id) as DeviceDbRow | undefined;
    return row && deviceRow(row);
  }

  devices(): DeviceRow[] {
    return (this.db.prepare("SELECT * FROM devices ORDER BY id").all() as DeviceDbRow[]).map(deviceRow);
  }

  isOnline(id: string): boolean {
    const row = this.db.prepare("SELECT online FROM devices WHERE id = ?").get(id) as { online: number } | undefined;
    return row?.online === 1;
  }

  seen(id: string, now: number): void {
    this.db.prepare("UPDATE devices SET last_seen = ? WHERE id = ?").run(now, id);
  }

  /** Applies a birth when it is newer than the one stored (by seq); returns whether it was. */
  applyBirth(id: string, birth: BirthUpdate): boolean {
    const result = this.db
      .prepare(
        `UPDATE devices SET session = ?, firmware = ?, patch = ?, epoch = ?, doors = ?, dropped = ?, birth_seq = ?
         WHERE id = ? AND (birth_seq IS NULL OR birth_seq < ?)`,
      )
      .run(birth.session, birth.firmware, birth.patch, birth.epoch, JSON.stringify(birth.doors), JSON.stringify(birth.dropped), birth.seq, id, birth.seq);
    this.updateOnline(id);
    return result.changes > 0;
  }

  applyDeath(id: string, session: number): void {
    this.db.prepare("UPDATE devices SET death_session = ? WHERE id = ? AND (death_session IS NULL OR death_session < ?)").run(session, id, session);
    this.updateOnline(id);
  }

  private updateOnline(id: string): void {
    this.db.prepare(`UPDATE devices SET online = ${ONLINE} WHERE id = ?`).run(id);
  }

  // ---- replay windows ----

  replayStates(): { device: string; kind: string; highest: number; seen: number }[] {
    return this.db.prepare("SELECT device, kind, highest, seen FROM replay").all() as { device: string; kind: string; highest: number; seen: number }[];
  }

  saveReplay(device: string, kind: string, highest: number, seen: number): void {
    this.db
      .prepare("INSERT INTO replay (device, kind, highest, seen) VALUES (?, ?, ?, ?) ON CONFLICT (device, kind) DO UPDATE SET highest = excluded.highest, seen = excluded.seen")
      .run(device, kind, highest, seen);
  }

  // ---- publication streams ----

  streamStates(): { device: string; state: unknown }[] {
    return (this.db.prepare("SELECT device, state FROM streams").all() as { device: string; state: string }[]).map((r) => ({ device: r.device, state: parseJson(r.state) }));
  }

  saveStream(device: string, state: Json | object): void {
    this.db.prepare("INSERT INTO streams (device, state) VALUES (?, ?) ON CONFLICT (device) DO UPDATE SET state = excluded.state").run(device, JSON.stringify(state));
  }

  deleteStream(device: string): void {
    this.db.prepare("DELETE FROM streams WHERE device = ?").run(device);
  }

  // ---- telemetry ----

  putTelemetry(row: TelemetryRow): void {
    this.db
      .prepare(
        `INSERT INTO telemetry (device, door, event, data, device_time, received_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (device, door, event) DO UPDATE SET data = excluded.data, device_time = excluded.device_time,
           received_at = excluded.received_at, seq = excluded.seq WHERE excluded.seq > telemetry.seq`,
      )
      .run(row.device, row.door, row.event, JSON.stringify(row.data), row.time, row.receivedAt, row.seq);
  }

  telemetry(device: string): TelemetryRow[] {
    const rows = this.db.prepare("SELECT * FROM telemetry WHERE device = ? ORDER BY door, event").all(device) as {
      device: string;
      door: string;
      event: string;
      data: string;
      device_time: number | null;
      received_at: number;
      seq: number;
    }[];
    return rows.map((r) => ({ device: r.device, door: r.door, event: r.event, data: parseJson(r.data), time: r.device_time, receivedAt: r.received_at, seq: r.seq }));
  }

  // ---- security events (append only) ----

  appendEvent(e: NewEvent): EventRow {
    const info = this.db
      .prepare(
        `INSERT INTO security_events (received_at, device, source, code, allowed, principal, door, op, device_time, uptime, suppressed, seq, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(e.receivedAt, e.device, e.source, e.code, e.allowed ? 1 : 0, e.principal, e.door, e.op, e.deviceTime, e.uptime, e.suppressed, e.seq, e.detail);
    return { ...e, id: Number(info.lastInsertRowid) };
  }

  events(filter: EventFilter = {}): EventRow[] {
    const limit = Math.min(Math.max(1, Math.floor(filter.limit ?? 100)), MAX_EVENT_LIMIT);
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.device !== undefined) {
      where.push("device = ?");
      params.push(filter.device);
    }
    if (filter.devicePattern !== undefined) {
      where.push("device GLOB ?");
      params.push(filter.devicePattern);
    }
    if (filter.afterId !== undefined) {
      where.push("id > ?");
      params.push(filter.afterId);
    }
    const clause = where.length > 0 ? `WHERE ${where.join(" AND ")}` : "";
    const sql =
      filter.afterId !== undefined
        ? `SELECT * FROM security_events ${clause} ORDER BY id ASC LIMIT ?`
        : `SELECT * FROM (SELECT * FROM security_events ${clause} ORDER BY id DESC LIMIT ?) ORDER BY id ASC`;
    return (this.db.prepare(sql).all(...params, limit) as EventDbRow[]).map(eventRow);
  }

  // ---- results ----

  addResult(r: Omit<ResultRow, "id">): void {
    this.db
      .prepare(
        `INSERT INTO results (received_at, device, ref, sender, cmd_seq, door, op, ok, value, code, message, seq)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(r.receivedAt, r.device, r.ref, r.sender, r.cmdSeq, r.door, r.op, r.ok ? 1 : 0, r.value === null ? null : JSON.stringify(r.value), r.code, r.message, r.seq);
  }

  results(device: string, limit = 100): ResultRow[] {
    const rows = this.db.prepare("SELECT * FROM results WHERE device = ? ORDER BY id DESC LIMIT ?").all(device, limit) as {
      id: number;
      received_at: number;
      device: string;
      ref: string;
      sender: string | null;
      cmd_seq: number | null;
      door: string | null;
      op: string | null;
      ok: number;
      value: string | null;
      code: string | null;
      message: string | null;
      seq: number;
    }[];
    return rows.map((r) => ({
      id: r.id,
      receivedAt: r.received_at,
      device: r.device,
      ref: r.ref,
      sender: r.sender,
      cmdSeq: r.cmd_seq,
      door: r.door,
      op: r.op,
      ok: r.ok === 1,
      value: parseJson(r.value),
      code: r.code,
      message: r.message,
      seq: r.seq,
    }));
  }
}
