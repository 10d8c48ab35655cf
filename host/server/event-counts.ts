// Security events counted over a time window, for the dashboard's charts and the fleet's "refusals in
// the last 24 h": one GROUP BY over security_events, read-only. A row of the table stands for 1 +
// `suppressed` events (the device or the server rate-limited its reports and counted the rest), so the
// counts here are of events, not rows.

import type Database from "better-sqlite3";

/** The longest window counted (a week) and the most buckets in one answer. */
export const MAX_COUNT_WINDOW_MS = 7 * 24 * 3600_000;
export const MAX_COUNT_BUCKETS = 500;
/** Rows of (bucket, code) in one answer: a flood of distinct codes cannot make it unbounded. */
export const MAX_COUNT_ROWS = 10_000;

export interface EventCountQuery {
  /** Count events received at or after this time (ms since the epoch). */
  since: number;
  /** Bucket width in ms; buckets start at multiples of it. */
  bucketMs: number;
  /** Only this device. */
  device?: string;
  /** Only devices matching this SQLite GLOB (a token's device pattern). */
  devicePattern?: string;
}

export interface EventCounts {
  since: number;
  bucketMs: number;
  /** Events per (bucket start, code), oldest bucket first. */
  buckets: { start: number; code: string; count: number }[];
  /** Refused attempts (allowed false) in the window, per device. */
  refusals: Record<string, number>;
  /** The bucket rows were cut at MAX_COUNT_ROWS. */
  truncated: boolean;
}

export function countEvents(db: Database.Database, query: EventCountQuery): EventCounts {
  const where = ["received_at >= ?"];
  const params: (string | number)[] = [Math.floor(query.since)];
  if (query.device !== undefined) {
    where.push("device = ?");
    params.push(query.device);
  }
  if (query.devicePattern !== undefined) {
    where.push("device GLOB ?");
    params.push(query.devicePattern);
  }
  const clause = where.join(" AND ");
  const width = Math.max(1, Math.floor(query.bucketMs));
  const rows = db
    .prepare(
      `SELECT CAST(received_at / ? AS INTEGER) * ? AS start, code, SUM(1 + suppressed) AS count
         FROM security_events WHERE ${clause} GROUP BY start, code ORDER BY start, code LIMIT ?`,
    )
    .all(width, width, ...params, MAX_COUNT_ROWS + 1) as { start: number; code: string; count: number }[];
  const refusals: Record<string, number> = {};
  const refused = db.prepare(`SELECT device, SUM(1 + suppressed) AS count FROM security_events WHERE ${clause} AND allowed = 0 GROUP BY device`).all(...params) as {
    device: string;
    count: number;
  }[];
  for (const row of refused) refusals[row.device] = row.count;
  return { since: Math.floor(query.since), bucketMs: width, buckets: rows.slice(0, MAX_COUNT_ROWS), refusals, truncated: rows.length > MAX_COUNT_ROWS };
}
