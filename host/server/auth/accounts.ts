// People, API tokens and login sessions in the fleet server's database (tables in schema.ts): what
// `gatehouse user` and `gatehouse token` write, and what the API's guard (guard.ts) reads on every call.
//
// Each holds one of the device roles (view < operate < manage < administer, sdk/doors/access.ts).
//
//   users     a name, a role and a scrypt hash of the password (passwords.ts). People log in with
//             POST /api/session and get a session.
//   tokens    for programs (CLI, scripts, a SIEM collector): "gh_" and 43 base64url characters (256
//             random bits), shown once when created and stored only as its SHA-256 (a slow hash adds
//             nothing for 256 random bits, and a lookup by hash needs no per-token salt). A token may be
//             limited to devices whose id matches a pattern and may expire; revoking keeps its row
//             (revoked_at), so a revoked token is told apart from an unknown one.
//   sessions  a login: the cookie holds 256 random bits, the table only their SHA-256. A session ends
//             SESSION_IDLE_MS after its last use or SESSION_MAX_MS after login, whichever is first, at
//             logout, and when its user is removed or gets a new password. The session's role is the
//             user's role now (read on every call), so a changed role applies at once.
//
// The CSRF token of a session is derived from its secret (HMAC-SHA256), so nothing more is stored and
// only a holder of the cookie's secret (the server, on a request that carries the cookie) can compute it.
//
// Error codes: user-exists, user-unknown, token-unknown, password-invalid, too-many-users,
// too-many-tokens, invalid-input (a name, role or pattern out of shape); token-invalid, token-expired,
// token-revoked and session-expired when credentials do not authenticate.

import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type Database from "better-sqlite3";
import { fail } from "../../../sdk/errors";
import { isRole, type Role } from "../../../sdk/doors/access";
import { hashPassword, verifyNothing, verifyPassword } from "./passwords";

export const MAX_USERS = 1000;
/** Tokens that are not revoked (expired ones count until revoked). */
export const MAX_TOKENS = 1000;
export const MAX_SESSIONS_PER_USER = 16;
export const SESSION_IDLE_MS = 60 * 60 * 1000;
export const SESSION_MAX_MS = 12 * 60 * 60 * 1000;
export const MAX_TOKEN_DAYS = 3650;
/** last_seen and last_used_at are written at most this often (a write per call is not needed). */
const TOUCH_MS = 60 * 1000;

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const DEVICE_PATTERN = /^[a-z0-9*?-]{1,64}$/;
const TOKEN = /^gh_[A-Za-z0-9_-]{43}$/;
const SESSION = /^[A-Za-z0-9_-]{43}$/;

/** Who is calling the API: a person (through a session) or a token. */
export interface Caller {
  readonly kind: "user" | "token";
  readonly name: string;
  readonly role: Role;
  /** Devices this caller may reach, as a glob over device ids; null: every device. */
  readonly devicePattern: string | null;
  /** Tokens: the token's id. */
  readonly tokenId?: number;
  /** Sessions: when the session ends at the latest (ms since the epoch). */
  readonly expiresAt?: number | null;
}

export interface UserRow {
  name: string;
  role: Role;
  createdAt: number;
  passwordChangedAt: number;
  /** Sessions open now. */
  sessions: number;
}

export interface TokenRow {
  id: number;
  name: string;
  role: Role;
  devicePattern: string | null;
  createdAt: number;
  /** Who created it: "cli", or the API caller ("user:alice", "token:3"). */
  createdBy: string;
  expiresAt: number | null;
  lastUsedAt: number | null;
  expired: boolean;
}

export interface NewToken {
  name: string;
  role: Role;
  devicePattern?: string | null;
  /** Days until it expires (1 to MAX_TOKEN_DAYS); undefined: never. */
  expiresDays?: number;
  createdBy: string;
}

export interface NewSession {
  /** The cookie's value. */
  secret: string;
  csrfToken: string;
  expiresAt: number;
}

interface TokenDbRow {
  id: number;
  name: string;
  role: Role;
  device_pattern: string | null;
  created_at: number;
  created_by: string;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function secret(): string {
  return randomBytes(32).toString("base64url");
}

export function checkName(name: unknown, what: "user" | "token"): string {
  if (typeof name !== "string" || !NAME.test(name)) fail("invalid-input", `a ${what} name is 1 to 64 of a-z, 0-9, ".", "_", "-", starting with a letter or digit`);
  return name;
}

export function checkRole(role: unknown): Role {
  if (!isRole(role)) return fail("invalid-input", `role must be view, operate, manage or administer`);
  return role;
}

/** A device pattern: device-id characters (a-z, 0-9, "-") and the wildcards "*" (any run) and "?" (one). */
export function checkDevicePattern(pattern: unknown): string {
  if (typeof pattern !== "string" || !DEVICE_PATTERN.test(pattern)) fail("invalid-input", `a device pattern is 1 to 64 of a-z, 0-9, "-" and the wildcards "*" and "?" (e.g. "thermo-*")`);
  return pattern;
}

/** Whether `device` matches `pattern` (the same rule as SQLite's GLOB for these characters). */
export function matchesDevicePattern(pattern: string, device: string): boolean {
  const source = pattern.replace(/[*?]/g, (w) => (w === "*" ? ".*" : "."));
  return new RegExp(`^${source}$`, "s").test(device);
}

export function checkExpiresDays(days: unknown): number {
  if (typeof days !== "number" || !Number.isInteger(days) || days < 1 || days > MAX_TOKEN_DAYS) fail("invalid-input", `expiresDays must be an integer from 1 to ${MAX_TOKEN_DAYS}`);
  return days;
}

function tokenRow(r: TokenDbRow, now: number): TokenRow {
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    devicePattern: r.device_pattern,
    createdAt: r.created_at,
    createdBy: r.created_by,
    expiresAt: r.expires_at,
    lastUsedAt: r.last_used_at,
    expired: r.expires_at !== null && r.expires_at <= now,
  };
}

export class Accounts {
  private readonly now: () => number;

  constructor(
    private readonly db: Database.Database,
    options: { now?: () => number } = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  // ---- people ----

  async addUser(name: string, role: Role, password: string): Promise<UserRow> {
    checkName(name, "user");
    checkRole(role);
    if (this.hasUser(name)) fail("user-exists", `user ${name} exists already`);
    if (this.count("SELECT count(*) AS n FROM users") >= MAX_USERS) fail("too-many-users", `there are ${MAX_USERS} users already`);
    const hash = await hashPassword(password);
    const now = this.now();
    // Checked again after the hash: another call may have added the name meanwhile.
    if (this.hasUser(name)) fail("user-exists", `user ${name} exists already`);
    this.db.prepare("INSERT INTO users (name, role, password, created_at, password_changed_at) VALUES (?, ?, ?, ?, ?)").run(name, role, hash, now, now);
    return this.user(name) as UserRow;
  }

  /** A new password for an existing user; every session of theirs ends. */
  async setPassword(name: string, password: string): Promise<void> {
    if (!this.hasUser(name)) fail("user-unknown", `no user ${name}`);
    const hash = await hashPassword(password);
    this.db.transaction(() => {
      const changed = this.db.prepare("UPDATE users SET password = ?, password_changed_at = ? WHERE name = ?").run(hash, this.now(), name).changes;
      if (changed === 0) fail("user-unknown", `no user ${name}`);
      this.db.prepare("DELETE FROM sessions WHERE user = ?").run(name);
    })();
  }

  /**
   * A login for a person who has none yet (the demo's one-time admin login): creates `name` with `role`,
   * or gives the existing one this role and a new password, and returns the password (20 random
   * base32 characters, 100 bits). Every earlier session of the user ends, so the printed password is the
   * only way in.
   */
  async issueLogin(name: string, role: Role): Promise<string> {
    checkName(name, "user");
    checkRole(role);
    const password = Array.from(randomBytes(20), (b) => "abcdefghijkmnpqrstuvwxyz23456789"[b & 31]).join("");
    if (this.hasUser(name)) {
      await this.setPassword(name, password);
      this.db.prepare("UPDATE users SET role = ? WHERE name = ?").run(role, name);
    } else {
      await this.addUser(name, role, password);
    }
    return password;
  }

  removeUser(name: string): void {
    this.db.transaction(() => {
      if (this.db.prepare("DELETE FROM users WHERE name = ?").run(name).changes === 0) fail("user-unknown", `no user ${name}`);
      this.db.prepare("DELETE FROM sessions WHERE user = ?").run(name);
    })();
  }

  user(name: string): UserRow | undefined {
    return this.users().find((u) => u.name === name);
  }

  users(): UserRow[] {
    const rows = this.db
      .prepare(
        `SELECT u.name, u.role, u.created_at, u.password_changed_at,
           (SELECT count(*) FROM sessions s WHERE s.user = u.name AND s.expires_at > ? AND s.last_seen > ?) AS sessions
         FROM users u ORDER BY u.name`,
      )
      .all(this.now(), this.now() - SESSION_IDLE_MS) as { name: string; role: Role; created_at: number; password_changed_at: number; sessions: number }[];
    return rows.map((r) => ({ name: r.name, role: r.role, createdAt: r.created_at, passwordChangedAt: r.password_changed_at, sessions: r.sessions }));
  }

  /** The user when `password` is theirs; undefined otherwise, in the same time whether the name exists or not. */
  async checkLogin(name: string, password: string): Promise<{ name: string; role: Role } | undefined> {
    const row = this.db.prepare("SELECT name, role, password FROM users WHERE name = ?").get(name) as { name: string; role: Role; password: string } | undefined;
    if (!row) return verifyNothing(password).then(() => undefined);
    return (await verifyPassword(password, row.password)) ? { name: row.name, role: row.role } : undefined;
  }

  private hasUser(name: string): boolean {
    return this.db.prepare("SELECT 1 FROM users WHERE name = ?").get(name) !== undefined;
  }

  private count(sql: string, ...params: unknown[]): number {
    return (this.db.prepare(sql).get(...params) as { n: number }).n;
  }

  // ---- tokens ----

  /** A new token: its secret (shown once, never stored) and its row. */
  createToken(request: NewToken): { secret: string; token: TokenRow } {
    const name = checkName(request.name, "token");
    const role = checkRole(request.role);
    const pattern = request.devicePattern === undefined || request.devicePattern === null ? null : checkDevicePattern(request.devicePattern);
    const now = this.now();
    const expiresAt = request.expiresDays === undefined ? null : now + checkExpiresDays(request.expiresDays) * 86_400_000;
    if (this.count("SELECT count(*) AS n FROM tokens WHERE revoked_at IS NULL") >= MAX_TOKENS) fail("too-many-tokens", `there are ${MAX_TOKENS} tokens already (revoke some)`);
    const value = `gh_${secret()}`;
    const id = Number(
      this.db
        .prepare("INSERT INTO tokens (name, role, device_pattern, hash, created_at, created_by, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
        .run(name, role, pattern, sha256(value), now, request.createdBy, expiresAt).lastInsertRowid,
    );
    return { secret: value, token: this.token(id) as TokenRow };
  }

  token(id: number): TokenRow | undefined {
    const row = this.db.prepare("SELECT * FROM tokens WHERE id = ? AND revoked_at IS NULL").get(id) as TokenDbRow | undefined;
    return row && tokenRow(row, this.now());
  }

  /** Tokens that are not revoked, expired ones included (flagged). */
  tokens(): TokenRow[] {
    const now = this.now();
    return (this.db.prepare("SELECT * FROM tokens WHERE revoked_at IS NULL ORDER BY id").all() as TokenDbRow[]).map((r) => tokenRow(r, now));
  }

  revokeToken(id: number): TokenRow {
    const row = this.token(id);
    if (!row || this.db.prepare("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL").run(this.now(), id).changes === 0) {
      return fail("token-unknown", `no token ${id} (or it is revoked already)`);
    }
    return row;
  }

  /** The caller a bearer token stands for; refuses with token-invalid, token-expired or token-revoked. */
  authenticateToken(value: string): Caller {
    if (!TOKEN.test(value)) fail("token-invalid", "the bearer token is not a Gatehouse token (gh_ and 43 characters)");
    const row = this.db.prepare("SELECT * FROM tokens WHERE hash = ?").get(sha256(value)) as TokenDbRow | undefined;
    if (!row) return fail("token-invalid", "unknown token");
    if (row.revoked_at !== null) fail("token-revoked", `token ${row.id} (${row.name}) was revoked`);
    const now = this.now();
    if (row.expires_at !== null && row.expires_at <= now) fail("token-expired", `token ${row.id} (${row.name}) expired at ${new Date(row.expires_at).toISOString()}`);
    if (row.last_used_at === null || now - row.last_used_at >= TOUCH_MS) this.db.prepare("UPDATE tokens SET last_used_at = ? WHERE id = ?").run(now, row.id);
    return { kind: "token", name: row.name, role: row.role, devicePattern: row.device_pattern, tokenId: row.id, expiresAt: row.expires_at };
  }

  // ---- sessions ----

  createSession(user: string, address: string): NewSession {
    const value = secret();
    const now = this.now();
    const expiresAt = now + SESSION_MAX_MS;
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM sessions WHERE expires_at <= ? OR last_seen <= ?").run(now, now - SESSION_IDLE_MS);
      // A user's oldest sessions beyond the limit end (a script logging in in a loop fills no table).
      this.db
        .prepare("DELETE FROM sessions WHERE user = ? AND hash NOT IN (SELECT hash FROM sessions WHERE user = ? ORDER BY created_at DESC LIMIT ?)")
        .run(user, user, MAX_SESSIONS_PER_USER - 1);
      this.db.prepare("INSERT INTO sessions (hash, user, created_at, expires_at, last_seen, address) VALUES (?, ?, ?, ?, ?, ?)").run(sha256(value), user, now, expiresAt, now, address);
    })();
    return { secret: value, csrfToken: csrfTokenOf(value), expiresAt };
  }

  /** The caller a session cookie stands for; refuses with session-expired. */
  authenticateSession(value: string): Caller {
    if (!SESSION.test(value)) fail("session-expired", "the session cookie is not one of this server's");
    const now = this.now();
    const row = this.db
      .prepare("SELECT s.hash, s.expires_at, s.last_seen, u.name, u.role FROM sessions s JOIN users u ON u.name = s.user WHERE s.hash = ?")
      .get(sha256(value)) as { hash: string; expires_at: number; last_seen: number; name: string; role: Role } | undefined;
    if (!row || row.expires_at <= now || row.last_seen <= now - SESSION_IDLE_MS) fail("session-expired", "the session has ended: log in again");
    if (now - row.last_seen >= TOUCH_MS) this.db.prepare("UPDATE sessions SET last_seen = ? WHERE hash = ?").run(now, row.hash);
    return { kind: "user", name: row.name, role: row.role, devicePattern: null, expiresAt: row.expires_at };
  }

  endSession(value: string): boolean {
    return SESSION.test(value) && this.db.prepare("DELETE FROM sessions WHERE hash = ?").run(sha256(value)).changes > 0;
  }
}

/** The CSRF token of a session: HMAC-SHA256 keyed with the session's secret. */
export function csrfTokenOf(sessionSecret: string): string {
  return createHmac("sha256", sessionSecret).update("gatehouse csrf token").digest("base64url");
}

/** Constant-time comparison of a presented CSRF token with the session's. */
export function csrfTokenMatches(sessionSecret: string, presented: string): boolean {
  const expected = Buffer.from(csrfTokenOf(sessionSecret));
  const given = Buffer.from(presented);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
