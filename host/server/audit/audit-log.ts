// The audit log: one row per API call, allowed or refused, written by the API's guard (auth/guard.ts)
// once the answer's status is known (a streamed answer: when it starts). Append-only in the database
// (audit/schema.ts: triggers refuse UPDATE and DELETE), read at GET /api/audit by administrators.
//
//   time       ms since the epoch
//   principal  who: a user's name (principal_kind "user") or a token's name (kind "token", with token_id);
//              null when the call carried no valid credentials (a failed login names its attempt in detail)
//   role       the caller's role at the time
//   method, route, path   the request: the route's pattern as registered (null when no route matched) and
//              the path as requested (at most MAX_PATH characters)
//   device     the device the call named, when it named one
//   status     the HTTP status; code: the error code of a refusal (null when the call succeeded)
//   address    the peer's IP address ("" for a call made in-process)
//   detail     what else is worth keeping: a login's name and its failure counts, a limit reached
//
// The log grows with every call and nothing removes rows (like security_events): size the disk for the
// call rate, or archive the database file.

import type Database from "better-sqlite3";

export const MAX_AUDIT_LIMIT = 1000;
export const MAX_PATH = 512;
export const MAX_DETAIL = 1024;

export interface AuditEntry {
  id: number;
  time: number;
  principalKind: "user" | "token" | null;
  principal: string | null;
  tokenId: number | null;
  role: string | null;
  method: string;
  route: string | null;
  path: string;
  device: string | null;
  status: number;
  code: string | null;
  address: string;
  detail: string | null;
}

export type NewAuditEntry = Omit<AuditEntry, "id">;

export interface AuditFilter {
  /** Only entries with larger ids, oldest first. */
  afterId?: number;
  /** Only entries with smaller ids: the `limit` newest of them (still oldest first), to page back. */
  beforeId?: number;
  device?: string;
  principal?: string;
  /** Default 100, at most MAX_AUDIT_LIMIT. */
  limit?: number;
}

interface AuditDbRow {
  id: number;
  time: number;
  principal_kind: "user" | "token" | null;
  principal: string | null;
  token_id: number | null;
  role: string | null;
  method: string;
  route: string | null;
  path: string;
  device: string | null;
  status: number;
  code: string | null;
  address: string;
  detail: string | null;
}

function entry(r: AuditDbRow): AuditEntry {
  return {
    id: r.id,
    time: r.time,
    principalKind: r.principal_kind,
    principal: r.principal,
    tokenId: r.token_id,
    role: r.role,
    method: r.method,
    route: r.route,
    path: r.path,
    device: r.device,
    status: r.status,
    code: r.code,
    address: r.address,
    detail: r.detail,
  };
}

export class AuditLog {
  private readonly insert: Database.Statement;

  constructor(private readonly db: Database.Database) {
    this.insert = db.prepare(
      `INSERT INTO audit_log (time, principal_kind, principal, token_id, role, method, route, path, device, status, code, address, detail)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
  }

  append(e: NewAuditEntry): AuditEntry {
    const path = e.path.length > MAX_PATH ? `${e.path.slice(0, MAX_PATH - 1)}…` : e.path;
    const detail = e.detail !== null && e.detail.length > MAX_DETAIL ? `${e.detail.slice(0, MAX_DETAIL - 1)}…` : e.detail;
    const info = this.insert.run(e.time, e.principalKind, e.principal, e.tokenId, e.role, e.method, e.route, path, e.device, e.status, e.code, e.address, detail);
    return { ...e, path, detail, id: Number(info.lastInsertRowid) };
  }

  entries(filter: AuditFilter = {}): AuditEntry[] {
    const limit = Math.min(Math.max(1, Math.floor(filter.limit ?? 100)), MAX_AUDIT_LIMIT);
    const where: string[] = [];
    const params: (string | number)[] = [];
    for (const [column, value] of [
      ["device", filter.device],
      ["principal", filter.principal],
    ] as const) {
      if (value !== undefined) {
        where.push(`${column} = ?`);
        params.push(value);
      }
    }
    if (filter.afterId !== undefined) {
      where.push("id > ?");
      params.push(filter.afterId);
    }
    if (filter.beforeId !== undefined) {
      where.push("id < ?");
      params.push(filter.beforeId);
    }
    const clause = where.length > 0 ? `WHERE ${where.join(" AND ")}` : "";
    const sql =
      filter.afterId !== undefined && filter.beforeId === undefined
        ? `SELECT * FROM audit_log ${clause} ORDER BY id ASC LIMIT ?`
        : `SELECT * FROM (SELECT * FROM audit_log ${clause} ORDER BY id DESC LIMIT ?) ORDER BY id ASC`;
    return (this.db.prepare(sql).all(...params, limit) as AuditDbRow[]).map(entry);
  }
}
