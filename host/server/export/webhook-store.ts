// Outgoing webhooks in the fleet server's database: what `gatehouse webhook add/list/remove` writes and
// the delivery (webhooks.ts) reads.
//
// The outbox is the security_events table itself: it is append-only with increasing ids, so a webhook's
// `cursor` (the last event id a receiver acknowledged with a 2xx, or that the filter passed over) is all
// the state delivery needs. Nothing is copied, so nothing can be lost between the event's commit and its
// delivery, and a restart resumes at the cursor. The secret is stored as it was given, because signing
// needs it (HMAC-SHA256): the database file must be kept as private as the secret (docs/events.md).
//
// Error codes raised here:
//   url-invalid      the URL is not an absolute http(s) URL, has credentials or a fragment, or is too long
//   secret-missing   no secret (empty standard input)
//   secret-invalid   a secret shorter than MIN_SECRET_BYTES, longer than MAX_SECRET_BYTES, or with control
//                    characters
//   filter-invalid   a filter entry that is not an event code (a-z, 0-9, "-"), optionally ending in "*"
//   webhook-unknown  no webhook with that id
//   too-many-webhooks  MAX_WEBHOOKS exist already

import type Database from "better-sqlite3";
import { fail } from "../../../sdk/errors";
import { eventRow, type EventDbRow, type EventRow } from "../store";


export const MAX_WEBHOOKS = 64;
export const MAX_URL_LENGTH = 2048;
export const MIN_SECRET_BYTES = 16;
export const MAX_SECRET_BYTES = 1024;
export const MAX_FILTER_ENTRIES = 64;
/** Events per request: at most this many (the default is DEFAULT_BATCH). */
export const MAX_BATCH = 100;
export const DEFAULT_BATCH = 20;

export const WEBHOOK_FORMATS = ["gatehouse", "ocsf"] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

export interface Webhook {
  id: number;
  url: string;
  secret: string;
  /** Event codes (or "prefix-*"); empty: every event. */
  filter: string[];
  format: WebhookFormat;
  batch: number;
  /** The last security_events id acknowledged by the receiver or passed over by the filter. */
  cursor: number;
  createdAt: number;
  /** Failed attempts since the last delivery. */
  attempts: number;
  lastError: string | null;
  lastAttemptAt: number | null;
  nextAttemptAt: number | null;
  /** Events acknowledged so far. */
  delivered: number;
  lastDeliveredAt: number | null;
}

/** A webhook as `webhook list` shows it: no secret, plus what waits for it. */
export interface WebhookStatus extends Omit<Webhook, "secret"> {
  /** Events after the cursor that the filter matches (waiting to be delivered). */
  lag: number;
  /** When the oldest of them was received (ms since the epoch), or null. */
  oldestWaiting: number | null;
}

interface WebhookDbRow {
  id: number;
  url: string;
  secret: string;
  filter: string;
  format: WebhookFormat;
  batch: number;
  cursor: number;
  created_at: number;
  attempts: number;
  last_error: string | null;
  last_attempt_at: number | null;
  next_attempt_at: number | null;
  delivered: number;
  last_delivered_at: number | null;
}

function webhookRow(r: WebhookDbRow): Webhook {
  let filter: unknown;
  try {
    filter = JSON.parse(r.filter);
  } catch {
    filter = undefined;
  }
  return {
    id: r.id,
    url: r.url,
    secret: r.secret,
    // Written only by addWebhook (checked there); a hand-edited unreadable filter matches nothing rather
    // than everything, so a mistake never sends events where they were not meant to go.
    filter: Array.isArray(filter) && filter.every((f) => typeof f === "string") ? filter : ["(unreadable filter)"],
    format: r.format,
    batch: r.batch,
    cursor: r.cursor,
    createdAt: r.created_at,
    attempts: r.attempts,
    lastError: r.last_error,
    lastAttemptAt: r.last_attempt_at,
    nextAttemptAt: r.next_attempt_at,
    delivered: r.delivered,
    lastDeliveredAt: r.last_delivered_at,
  };
}

// ---- checks ----

/** An absolute http: or https: URL without credentials or fragment; returns it normalised. */
export function checkWebhookUrl(text: string): string {
  if (text.length > MAX_URL_LENGTH) fail("url-invalid", `the URL is longer than ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return fail("url-invalid", `not an absolute URL: ${JSON.stringify(text.slice(0, 200))} (e.g. https://siem.example.com/gatehouse)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") fail("url-invalid", `the URL must be http:// or https://, not ${url.protocol}`);
  if (url.hostname === "") fail("url-invalid", "the URL has no host");
  // Credentials in the URL would be a secret on the command line and in every `webhook list`.
  if (url.username !== "" || url.password !== "") fail("url-invalid", "the URL must not carry a user name or password (it is shown by 'webhook list'; the signature is what authenticates the server to the receiver)");
  if (url.hash !== "") fail("url-invalid", "the URL must not have a #fragment (it is never sent)");
  return url.href;
}

/**
 * The secret as read from standard input: one trailing line break is dropped (echo and here-strings add
 * one); whatever else is there is the secret.
 */
export function checkWebhookSecret(raw: string): string {
  const secret = raw.replace(/\r?\n$/, "");
  if (secret.length === 0) fail("secret-missing", "no secret on standard input (e.g. openssl rand -hex 32 | gatehouse webhook add ... --secret-stdin)");
  const bytes = Buffer.byteLength(secret, "utf8");
  if (bytes < MIN_SECRET_BYTES) fail("secret-invalid", `the secret is ${bytes} bytes; use at least ${MIN_SECRET_BYTES} (e.g. openssl rand -hex 32)`);
  if (bytes > MAX_SECRET_BYTES) fail("secret-invalid", `the secret is ${bytes} bytes, more than ${MAX_SECRET_BYTES}`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(secret)) fail("secret-invalid", "the secret contains control characters or line breaks (give it on one line)");
  return secret;
}

const FILTER_ENTRY = /^[a-z0-9][a-z0-9-]{0,63}\*?$/;

/** Filter entries: event codes, or a prefix ending in "*" ("cose-*"); "a,b" counts as two entries. */
export function checkWebhookFilter(entries: readonly string[]): string[] {
  const codes = [...new Set(entries.flatMap((e) => e.split(",")).map((e) => e.trim()))];
  for (const code of codes) {
    if (!FILTER_ENTRY.test(code)) fail("filter-invalid", `filter entry ${JSON.stringify(code)} is not an event code (a-z, 0-9 and "-", optionally ending in "*")`);
  }
  if (codes.length > MAX_FILTER_ENTRIES) fail("filter-invalid", `at most ${MAX_FILTER_ENTRIES} filter entries`);
  return codes;
}

/** The SQL condition (and its parameters) for events a filter matches; codes hold no LIKE wildcards. */
export function filterClause(filter: readonly string[]): { sql: string; params: string[] } {
  if (filter.length === 0) return { sql: "1", params: [] };
  const exact = filter.filter((f) => !f.endsWith("*"));
  const prefixes = filter.filter((f) => f.endsWith("*")).map((f) => f.slice(0, -1) + "%");
  const parts: string[] = [];
  if (exact.length > 0) parts.push(`code IN (${exact.map(() => "?").join(", ")})`);
  for (const _ of prefixes) parts.push("code LIKE ?");
  return { sql: `(${parts.join(" OR ")})`, params: [...exact, ...prefixes] };
}

/** Whether a filter matches an event code (the same rule as filterClause, for one event). */
export function filterMatches(filter: readonly string[], code: string): boolean {
  return filter.length === 0 || filter.some((f) => (f.endsWith("*") ? code.startsWith(f.slice(0, -1)) : code === f));
}

// ---- the table ----

export interface NewWebhook {
  url: string;
  secret: string;
  filter?: readonly string[];
  format?: WebhookFormat;
  batch?: number;
  /** Deliver events with a larger id; default: only events stored from now on. */
  after?: number;
}

export class WebhookStore {
  /** Compiled statements by their SQL: delivery runs the same few for every batch. */
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  private sql(text: string): Database.Statement {
    let statement = this.statements.get(text);
    if (!statement) this.statements.set(text, (statement = this.db.prepare(text)));
    return statement;
  }

  /** Checks everything, then stores the webhook; returns it. */
  add(spec: NewWebhook, now = Date.now()): Webhook {
    const url = checkWebhookUrl(spec.url);
    const secret = checkWebhookSecret(spec.secret);
    const filter = checkWebhookFilter(spec.filter ?? []);
    const format = spec.format ?? "gatehouse";
    if (!WEBHOOK_FORMATS.includes(format)) fail("usage", `format must be ${WEBHOOK_FORMATS.join(" or ")}`);
    const batch = spec.batch ?? DEFAULT_BATCH;
    if (!Number.isInteger(batch) || batch < 1 || batch > MAX_BATCH) fail("usage", `batch must be an integer from 1 to ${MAX_BATCH}`);
    if (spec.after !== undefined && (!Number.isSafeInteger(spec.after) || spec.after < 0)) fail("usage", "after must be an event id (an integer, 0 or more)");
    return this.db.transaction(() => {
      const count = (this.sql("SELECT count(*) AS n FROM webhooks").get() as { n: number }).n;
      if (count >= MAX_WEBHOOKS) fail("too-many-webhooks", `there are ${count} webhooks already (at most ${MAX_WEBHOOKS})`);
      const last = this.lastEventId();
      // A cursor beyond the newest event would silently skip the next ones until ids catch up.
      if (spec.after !== undefined && spec.after > last) fail("usage", `after ${spec.after} is beyond the newest event (${last})`);
      const cursor = spec.after ?? last;
      const info = this.sql("INSERT INTO webhooks (url, secret, filter, format, batch, cursor, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)").run(url, secret, JSON.stringify(filter), format, batch, cursor, now);
      return this.get(Number(info.lastInsertRowid)) as Webhook;
    })();
  }

  remove(id: number): void {
    const info = this.sql("DELETE FROM webhooks WHERE id = ?").run(id);
    if (info.changes === 0) fail("webhook-unknown", `there is no webhook ${id}`);
  }

  get(id: number): Webhook | undefined {
    const row = this.sql("SELECT * FROM webhooks WHERE id = ?").get(id) as WebhookDbRow | undefined;
    return row && webhookRow(row);
  }

  all(): Webhook[] {
    return (this.sql("SELECT * FROM webhooks ORDER BY id").all() as WebhookDbRow[]).map(webhookRow);
  }

  /** Every webhook with what waits for it; never the secret. */
  statuses(): WebhookStatus[] {
    return this.all().map(({ secret: _secret, ...hook }) => {
      const { sql, params } = filterClause(hook.filter);
      const waiting = this.sql(`SELECT count(*) AS n, min(received_at) AS oldest FROM security_events WHERE id > ? AND ${sql}`).get(hook.cursor, ...params) as {
        n: number;
        oldest: number | null;
      };
      return { ...hook, lag: waiting.n, oldestWaiting: waiting.oldest };
    });
  }

  lastEventId(): number {
    return (this.sql("SELECT coalesce(max(id), 0) AS id FROM security_events").get() as { id: number }).id;
  }

  /**
   * The next events for a webhook: up to `limit` that its filter matches with ids in (after, upTo], oldest
   * first; and the largest event id that existed when they were read (a read that returns fewer than
   * `limit` has seen every event up to it, so the cursor may pass the ones the filter skipped).
   */
  pending(hook: Pick<Webhook, "filter">, after: number, limit: number, upTo = Number.MAX_SAFE_INTEGER): { events: EventRow[]; scannedTo: number } {
    const { sql, params } = filterClause(hook.filter);
    const scannedTo = Math.min(this.lastEventId(), upTo);
    const rows = this.sql(`SELECT * FROM security_events WHERE id > ? AND id <= ? AND ${sql} ORDER BY id LIMIT ?`).all(after, scannedTo, ...params, limit) as EventDbRow[];
    return { events: rows.map(eventRow), scannedTo };
  }

  /** After a 2xx: the cursor moves on (never back), the failure count resets. */
  delivered(id: number, cursor: number, count: number, now: number): void {
    this.sql(
        `UPDATE webhooks SET cursor = max(cursor, ?), delivered = delivered + ?, last_delivered_at = CASE WHEN ? > 0 THEN ? ELSE last_delivered_at END,
           attempts = 0, last_error = NULL, next_attempt_at = NULL WHERE id = ?`,
    ).run(cursor, count, count, now, id);
  }

  /** A failed attempt, for `webhook list` (and so a restart continues the backoff). */
  failed(id: number, error: string, now: number, nextAttemptAt: number): void {
    this.sql("UPDATE webhooks SET attempts = attempts + 1, last_error = ?, last_attempt_at = ?, next_attempt_at = ? WHERE id = ?").run(error.slice(0, 500), now, nextAttemptAt, id);
  }
}
