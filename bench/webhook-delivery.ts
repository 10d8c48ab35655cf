// Webhook delivery throughput: security events delivered per second from the outbox (the SQLite
// security_events table and a webhook's cursor) to a local receiver, against a bare HTTP POST loop that
// sends the same bodies to the same receiver in the same run.
//
//   node --import tsx bench/webhook-delivery.ts [--n 2000] [--rounds 5] [--batch 1,20]
//
// The receiver is node:http in this process on loopback: it reads each body, counts the events in it
// and answers 204 (it does not verify signatures, so both paths pay the same at the receiver).
// - Baseline ("bare"): a loop of fetch POSTs, one after the other, of bodies prepared before the clock
//   starts: the same events, in the same batches, as JSON. No database, no signature.
// - Webhook: a fresh database file (WAL, as the server opens it) holding n events, one webhook (the
//   batch size under test, --after 0), and WebhookDelivery (host/server/export/webhooks.ts) started on
//   it: per batch it reads the events after the cursor, serialises and signs them (HMAC-SHA256), POSTs
//   them with fetch, and writes the cursor on the 2xx. Timed from the start until the receiver has
//   counted all n events.
// For each batch size both paths are warmed up, then alternate for `rounds` rounds (the order within a
// round alternates too). Reported: the median events/s of each path and ratio = webhook / bare.
//
//   webhook events/s 1810 bare 2950 ratio 0.61 (batch 1)
//   BENCH_RESULT {"bench":"webhook-delivery",...}

import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventSignal } from "../host/server/export/event-signal";
import { WebhookStore } from "../host/server/export/webhook-store";
import { WebhookDelivery, webhookBody } from "../host/server/export/webhooks";
import { Store, type EventRow, type NewEvent } from "../host/server/store";

function argument(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? String(process.argv[at + 1]) : fallback;
}

function positive(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer, not ${JSON.stringify(text)}`);
  return value;
}

const N = positive("n", argument("n", "2000"));
const ROUNDS = positive("rounds", argument("rounds", "5"));
const BATCHES = argument("batch", "1,20")
  .split(",")
  .map((b) => positive("batch", b));
const SECRET = "bench-secret-0123456789abcdef";

/** Events like the ones a fleet produces: device refusals with a principal, server events with a detail. */
function event(i: number): NewEvent {
  const device = i % 3 === 0;
  return {
    receivedAt: Date.now(),
    device: `thermo-${i % 50}`,
    source: device ? "device" : "server",
    code: device ? "not-allowed" : "unknown-device",
    allowed: false,
    principal: device ? "a3f1c09e" : "unknown",
    door: device ? "setpoint" : null,
    op: device ? "write.limits" : null,
    deviceTime: device ? Date.now() : null,
    uptime: device ? 123456 : null,
    suppressed: 0,
    seq: device ? i : null,
    detail: device ? null : "events on gh/thermo-x/events from a device that is not registered",
  };
}

// ---- the receiver ----

let received = 0;
let target = 0;
let reached: (() => void) | undefined;
const receiver = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    received += (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { events: unknown[] }).events.length;
    res.writeHead(204).end();
    if (received >= target && reached) {
      const done = reached;
      reached = undefined;
      done();
    }
  });
});
await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", () => resolve()));
const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

function expect(count: number): Promise<void> {
  received = 0;
  target = count;
  return new Promise((resolve) => (reached = resolve));
}

// ---- the two paths ----

const root = mkdtempSync(join(tmpdir(), "gatehouse-bench-webhooks-"));
let dbCount = 0;

/** A fresh database with n events (not timed). */
function freshStore(n: number): { store: Store; rows: EventRow[] } {
  const store = new Store(join(root, `fleet-${dbCount++}.db`));
  const rows = store.transaction(() => Array.from({ length: n }, (_, i) => store.appendEvent(event(i))));
  return { store, rows };
}

async function bare(rows: EventRow[], batch: number): Promise<number> {
  const bodies: string[] = [];
  for (let i = 0; i < rows.length; i += batch) bodies.push(webhookBody({ id: 1, format: "gatehouse" }, rows.slice(i, i + batch)));
  const done = expect(rows.length);
  const started = performance.now();
  for (const body of bodies) {
    const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
    await response.arrayBuffer();
  }
  await done;
  return rows.length / ((performance.now() - started) / 1000);
}

async function webhook(n: number, batch: number): Promise<number> {
  const { store } = freshStore(n);
  new WebhookStore(store.db).add({ url, secret: SECRET, batch, after: 0 });
  const done = expect(n);
  const started = performance.now();
  const delivery = new WebhookDelivery(store, new EventSignal(), { pollIntervalMs: 60_000 });
  await done;
  const perSecond = n / ((performance.now() - started) / 1000);
  await delivery.stop();
  store.close();
  return perSecond;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const results: { batch: number; webhookPerSec: number; barePerSec: number; ratio: number; spread: number }[] = [];
try {
  for (const batch of BATCHES) {
    const { store, rows } = freshStore(N);
    store.close();
    // Warm-up: JIT, the connection pool, the page cache.
    await bare(rows.slice(0, Math.min(N, 200)), batch);
    await webhook(Math.min(N, 200), batch);
    const bareRates: number[] = [];
    const hookRates: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) {
        bareRates.push(await bare(rows, batch));
        hookRates.push(await webhook(N, batch));
      } else {
        hookRates.push(await webhook(N, batch));
        bareRates.push(await bare(rows, batch));
      }
    }
    const barePerSec = median(bareRates);
    const webhookPerSec = median(hookRates);
    const spread = (Math.max(...bareRates) - Math.min(...bareRates)) / barePerSec;
    const ratio = webhookPerSec / barePerSec;
    results.push({ batch, webhookPerSec: Math.round(webhookPerSec), barePerSec: Math.round(barePerSec), ratio, spread });
    console.log(`webhook events/s ${Math.round(webhookPerSec)} bare ${Math.round(barePerSec)} ratio ${ratio.toFixed(2)} (batch ${batch})`);
    console.log(`  ${ROUNDS} rounds of ${N} events; bare spread ${(spread * 100).toFixed(0)}%${spread > 0.15 ? " (noisy machine: unreliable)" : ""}`);
  }
} finally {
  receiver.close();
  rmSync(root, { recursive: true, force: true });
}
console.log(`BENCH_RESULT ${JSON.stringify({ bench: "webhook-delivery", n: N, rounds: ROUNDS, results })}`);
