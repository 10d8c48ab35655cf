// Webhook delivery: every security event, to every webhook whose filter matches it, at least once and in
// order, signed (docs/events.md, "Webhooks").
//
// The outbox is the append-only security_events table and each webhook's persisted cursor
// (webhook-store.ts). A worker per webhook reads the next batch after its cursor, POSTs it, and moves
// the cursor only when the receiver answers 2xx; anything else (a refused connection, a timeout, a 5xx,
// a 4xx, a redirect) is retried with exponential backoff and jitter, resending the same events, for as
// long as it takes. A receiver that is down therefore loses nothing, and a server restart resumes at the
// cursor: a batch acknowledged just before a crash (cursor not yet written) is sent again, so receivers
// deduplicate by event id (ids increase, so "drop ids not above the highest seen" is enough).
//
// Off the ingest path: ingestion only raises an EventSignal; workers read the table (an indexed range,
// at most MAX_BATCH rows) and do their network I/O asynchronously, one request per webhook at a time,
// each bounded by requestTimeoutMs. Webhooks added or removed by `gatehouse webhook` (another process)
// are picked up within pollIntervalMs.
//
// Signature (in the style of Stripe's): Gatehouse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 with
// the webhook's secret over "<t>.<body>">. Every attempt is signed afresh, so a retry hours later still
// passes a receiver's replay tolerance.

import { createHmac, timingSafeEqual } from "node:crypto";
import { errorCode } from "../../../sdk/errors";
import type { EventRow, Store } from "../store";
import type { EventSignal } from "./event-signal";
import { GATEHOUSE_VERSION, toOcsf } from "./ocsf";
import { WebhookStore, type Webhook } from "./webhook-store";

export const SIGNATURE_HEADER = "gatehouse-signature";
/** The tolerance docs/events.md recommends to receivers: a signature older (or newer) than this is refused. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

export interface WebhookDeliveryOptions {
  /** The first retry waits about this long (default 1 s); each further failure doubles it... */
  retryInitialMs?: number;
  /** ...up to this (default 5 min). */
  retryMaxMs?: number;
  /** A request (connect, send, answer) must finish within this (default 10 s). */
  requestTimeoutMs?: number;
  /** How often the webhook list is read again (default 1 s). */
  pollIntervalMs?: number;
  log?: (line: string) => void;
}

/**
 * The wait before the retry after `failures` consecutive failures: the exponential step
 * initial * 2^(failures-1), capped at max, of which half is fixed and half random ("equal jitter": never
 * less than half the step, so a fleet of retries spreads out but none comes back at once).
 */
export function retryDelay(failures: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const step = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(failures, 1) - 1, 40));
  return Math.round(step / 2 + (random() * step) / 2);
}

/** The Gatehouse-Signature value for a body sent at `timestamp` (unix seconds). */
export function signatureHeader(secret: string, timestamp: number, body: string): string {
  const mac = createHmac("sha256", secret).update(`${timestamp}.`).update(body).digest("hex");
  return `t=${timestamp},v1=${mac}`;
}

/**
 * The receiver's check (docs/events.md has the same recipe for other languages): the header's v1 must
 * be the HMAC of "<t>.<body>" (compared in constant time) and t within the tolerance of the receiver's
 * clock. Returns why not, or undefined when it verifies.
 */
export function checkSignature(secret: string, header: string | undefined, body: string, nowSeconds = Math.floor(Date.now() / 1000), toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS): string | undefined {
  if (header === undefined) return "no Gatehouse-Signature header";
  const parts = new Map<string, string[]>();
  for (const item of header.split(",")) {
    const eq = item.indexOf("=");
    if (eq > 0) parts.set(item.slice(0, eq).trim(), [...(parts.get(item.slice(0, eq).trim()) ?? []), item.slice(eq + 1).trim()]);
  }
  const t = parts.get("t")?.[0];
  if (t === undefined || !/^\d{1,12}$/.test(t)) return "no timestamp in the signature header";
  if (Math.abs(nowSeconds - Number(t)) > toleranceSeconds) return `the timestamp is more than ${toleranceSeconds} s away from now`;
  const expected = createHmac("sha256", secret).update(`${t}.`).update(body).digest();
  for (const v1 of parts.get("v1") ?? []) {
    if (/^[0-9a-f]{64}$/.test(v1) && timingSafeEqual(Buffer.from(v1, "hex"), expected)) return undefined;
  }
  return "no v1 signature matches";
}

/** The request body: the events in the webhook's format, oldest first. */
export function webhookBody(hook: Pick<Webhook, "id" | "format">, events: EventRow[]): string {
  return JSON.stringify({ webhook: hook.id, format: hook.format, events: hook.format === "ocsf" ? events.map(toOcsf) : events });
}

/** Bytes of a failing receiver's answer kept for the error message. */
const ERROR_BODY_BYTES = 200;
/** Bytes of an answer read at most (the rest is discarded with the connection). */
const MAX_ANSWER_BYTES = 64 * 1024;

interface Worker {
  readonly id: number;
  /** Consecutive failed attempts (continued from the database after a restart). */
  failures: number;
  /** The batch being retried: the same events are sent again until one attempt succeeds. */
  retry?: { upTo: number; cursorAfter: number };
  /** Waiting for the retry. */
  timer?: ReturnType<typeof setTimeout>;
  /** A pump in progress (reading, sending, recording). */
  running?: Promise<void>;
  abort?: AbortController;
  removed?: boolean;
}

export class WebhookDelivery {
  private readonly hooks: WebhookStore;
  private readonly workers = new Map<number, Worker>();
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly requestTimeoutMs: number;
  private readonly log: (line: string) => void;
  private readonly unlisten: () => void;
  private readonly poll: ReturnType<typeof setInterval>;
  private wakeScheduled = false;
  private stopped = false;

  constructor(
    private readonly store: Store,
    signal: EventSignal,
    options: WebhookDeliveryOptions = {},
  ) {
    this.hooks = new WebhookStore(store.db);
    this.retryInitialMs = options.retryInitialMs ?? 1000;
    this.retryMaxMs = options.retryMaxMs ?? 300_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.log = options.log ?? (() => {});
    this.unlisten = signal.listen(() => this.wake());
    this.poll = setInterval(() => this.refresh(), options.pollIntervalMs ?? 1000);
    this.poll.unref();
    this.refresh();
    if (this.workers.size > 0) this.log(`webhooks: ${this.workers.size} configured`);
  }

  /** Stops: no new attempts; requests in flight are aborted (their events stay after the cursor). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unlisten();
    clearInterval(this.poll);
    const running: Promise<void>[] = [];
    for (const worker of this.workers.values()) {
      clearTimeout(worker.timer);
      worker.abort?.abort();
      if (worker.running) running.push(worker.running);
    }
    await Promise.allSettled(running);
  }

  /** New events: every worker that is not waiting for a retry looks for them (once per turn of the loop). */
  private wake(): void {
    if (this.wakeScheduled || this.stopped) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      for (const worker of this.workers.values()) this.pump(worker);
    });
  }

  /** Reads the webhook list again: workers for new ones, none for removed ones; then looks for events. */
  private refresh(): void {
    if (this.stopped || !this.store.db.open) return;
    let hooks: Webhook[];
    try {
      hooks = this.hooks.all();
    } catch (e) {
      this.log(`webhooks: cannot read the webhook list: ${errorCode(e)}: ${(e as Error).message}`);
      return;
    }
    const ids = new Set(hooks.map((h) => h.id));
    for (const [id, worker] of this.workers) {
      if (ids.has(id)) continue;
      worker.removed = true;
      clearTimeout(worker.timer);
      worker.abort?.abort();
      this.workers.delete(id);
    }
    for (const hook of hooks) {
      if (!this.workers.has(hook.id)) this.workers.set(hook.id, { id: hook.id, failures: hook.attempts });
    }
    for (const worker of this.workers.values()) this.pump(worker);
  }

  private pump(worker: Worker): void {
    if (this.stopped || worker.removed || worker.running || worker.timer) return;
    worker.running = this.deliverNext(worker)
      .catch((e: unknown) => this.log(`webhook ${worker.id}: ${errorCode(e)}: ${(e as Error).message}`))
      .finally(() => {
        worker.running = undefined;
      });
  }

  /** One batch for one webhook: read, send, record; then the next batch, or a retry later. */
  private async deliverNext(worker: Worker): Promise<void> {
    if (!this.store.db.open) return;
    const hook = this.hooks.get(worker.id);
    if (!hook) return;
    const { events, scannedTo } = this.hooks.pending(hook, hook.cursor, hook.batch, worker.retry?.upTo);
    if (events.length === 0) {
      // Nothing the filter matches up to the newest event: the cursor passes over the rest.
      worker.retry = undefined;
      if (scannedTo > hook.cursor) this.hooks.delivered(hook.id, scannedTo, 0, Date.now());
      return;
    }
    const last = events[events.length - 1].id;
    // A batch that is not full has seen every event up to scannedTo: the ones skipped need no delivery.
    const cursorAfter = worker.retry?.cursorAfter ?? (events.length < hook.batch ? scannedTo : last);
    worker.retry = { upTo: last, cursorAfter };

    const error = await this.send(worker, hook, events);
    if (this.stopped || worker.removed || !this.store.db.open) return;
    const now = Date.now();
    if (error === undefined) {
      this.hooks.delivered(hook.id, cursorAfter, events.length, now);
      if (worker.failures > 0) this.log(`webhook ${hook.id} ${hook.url}: delivered again after ${worker.failures} failed attempt(s)`);
      worker.failures = 0;
      worker.retry = undefined;
      setImmediate(() => this.pump(worker)); // the next batch, if there is one
      return;
    }
    worker.failures++;
    const delay = retryDelay(worker.failures, this.retryInitialMs, this.retryMaxMs);
    this.hooks.failed(hook.id, error, now, now + delay);
    this.log(`webhook ${hook.id} ${hook.url}: attempt ${worker.failures} failed (events ${events[0].id}-${last}): ${error}; retrying in ${delay < 10_000 ? `${delay} ms` : `${(delay / 1000).toFixed(1)} s`}`);
    worker.timer = setTimeout(() => {
      worker.timer = undefined;
      this.pump(worker);
    }, delay);
    worker.timer.unref();
  }

  /** POSTs one batch; undefined when the receiver acknowledged it (2xx), else why not. */
  private async send(worker: Worker, hook: Webhook, events: EventRow[]): Promise<string | undefined> {
    const body = webhookBody(hook, events);
    const timestamp = Math.floor(Date.now() / 1000);
    const abort = new AbortController();
    worker.abort = abort;
    // One timer per request, cleared when it ends (AbortSignal.timeout's would linger for the full time).
    let timedOut = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, this.requestTimeoutMs);
    try {
      const response = await fetch(hook.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": `Gatehouse/${GATEHOUSE_VERSION} webhook`,
          [SIGNATURE_HEADER]: signatureHeader(hook.secret, timestamp, body),
          "gatehouse-webhook-id": String(hook.id),
          "idempotency-key": `${events[0].id}-${events[events.length - 1].id}`,
        },
        body,
        // A redirect is not an acknowledgement: the receiver's final URL belongs in the webhook.
        redirect: "manual",
        signal: abort.signal,
      });
      const answer = await readSome(response, response.ok ? MAX_ANSWER_BYTES : ERROR_BODY_BYTES);
      if (response.ok) return undefined;
      if (response.status >= 300 && response.status < 400) return `HTTP ${response.status} redirect to ${response.headers.get("location") ?? "?"} (not an acknowledgement: use the final URL)`;
      if (response.type === "opaqueredirect") return "a redirect (not an acknowledgement: use the final URL)";
      return `HTTP ${response.status}${answer ? `: ${answer}` : ""}`;
    } catch (e) {
      if (timedOut) return `no answer within ${this.requestTimeoutMs} ms`;
      return describeFailure(e);
    } finally {
      clearTimeout(deadline);
      worker.abort = undefined;
    }
  }
}

/** Up to `max` bytes of an answer as printable text; the rest is not read. */
async function readSome(response: Response, max: number): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
    if (size >= max) {
      await reader.cancel();
      break;
    }
  }
  // eslint-disable-next-line no-control-regex
  return Buffer.concat(chunks).subarray(0, Math.min(size, ERROR_BODY_BYTES)).toString("utf8").replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
}

function describeFailure(e: unknown): string {
  const error = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (error.name === "AbortError") return "aborted";
  const cause = error.cause?.code ?? error.cause?.message;
  return cause ? `cannot connect: ${cause}` : (error.message ?? String(e));
}
