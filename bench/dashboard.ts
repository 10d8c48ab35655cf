// The fleet console's cost and speed (issue 8), in a real chromium (Debian's, via playwright-core):
//
//   node --import tsx bench/dashboard.ts [--n 4000] [--rounds 3] [--samples 200]
//
// 1. Security events ingested and stored per second, with a dashboard connected vs with none. N forged
//    publications on the devices' event topics go through mosquitto; the fleet server refuses each
//    (its own rate limit raised out of the way) and stores one security event per publication. Timed: from
//    the first publish to the N-th stored row. "Connected": a logged-in chromium page on the security
//    events page, which follows GET /api/events/stream as server-sent events and renders every row, plus
//    the fleet feed every page has. Rounds alternate (none, connected, none, ...); medians; ratio =
//    connected / none.
// 2. The delay from a device's refusal to its row in the browser: simulated thermostats refuse commands
//    (not-allowed: an operate key changing the limits, a few per second, within the devices' own event
//    rate); a MutationObserver in the page stamps each row as it is inserted. Delay = that time - the
//    event's device time (the devices run in this process, on this machine's clock). p50, p99, max.
//
// Machine-readable lines:
//   dashboard events/s 5234 without 5480 ratio 0.96
//   dashboard refusal->row p50 41 ms p99 87 ms
//   BENCH_RESULT {"bench":"dashboard",...}

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { utf8 } from "../sdk/cbor/encode";
import { TrustList } from "../sdk/trust";
import { nodeCrypto } from "../ports/node/crypto";
import { connectMqtt, endMqtt } from "../host/client/mqtt";
import { CommandClient } from "../host/client/command-client";
import { generateDeviceKey, writeIdentity } from "../host/identity-files";
import { thermostatApp } from "../host/sim/apps";
import { Simulator } from "../host/sim/simulator";
import { ApiGuard, buildDashboard, createFleetHttpApi, FleetServer, serveHttp, withDashboard } from "../host/server/index";
import { startMosquitto } from "../test/support/brokers";
import { launchChromium } from "../test/support/browser";

function argument(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  return value;
}

const N = argument("n", 4000);
const ROUNDS = argument("rounds", 3);
const SAMPLES = argument("samples", 200);
const DEVICES = 10;
const PASSWORD = "bench password for the dashboard";
const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const dir = mkdtempSync(join(tmpdir(), "gh-bench-dashboard-"));
const broker = await startMosquitto();
const operator = nodeCrypto.generateKey("ES256", utf8("bench-operator"));
const trust = new TrustList([{ key: operator, role: "operate" }]);
const identitiesDir = join(dir, "identities");
const ids = Array.from({ length: DEVICES }, (_, i) => `bench-${i + 1}`);
for (const id of ids) writeIdentity(identitiesDir, { id, key: generateDeviceKey(id), trust });
// The server's own rate limit of its refusals is raised, so every forged publication is a stored event.
const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: join(dir, "fleet.db"), identitiesDir, clientId: "bench-dashboard", serverEventsPerSecond: 1e9, serverEventBurst: 1e9 });
const guard = ApiGuard.open(server.store.db);
await guard.accounts.addUser("bench", "administer", PASSWORD);
const served = await serveHttp(withDashboard(createFleetHttpApi(server, { guard }), await buildDashboard()), { host: "127.0.0.1", port: 0 });
const browser = await launchChromium();
const sim = await Simulator.start({ brokerUrl: broker.url, devices: DEVICES, example: thermostatApp(), identitiesDir });
await sim.waitOnline(DEVICES, 60_000);

const count = server.store.db.prepare("SELECT count(*) AS n FROM security_events WHERE id > ?");
const lastId = (): number => server.events({ limit: 1 }).at(-1)?.id ?? 0;

async function eventsPage(): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${served.url}/`);
  await page.getByLabel("Name").fill("bench");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.locator("#caller").waitFor({ timeout: 30_000 });
  await page.getByRole("link", { name: "Security events" }).click();
  await page.locator("#events-live", { hasText: "Live." }).waitFor({ timeout: 30_000 });
  return page;
}

/** Events per second: N forged publications published (QoS 1, 200 in flight) until N rows are stored. */
async function ingestRound(): Promise<number> {
  const publisher = await connectMqtt(broker.url, { clean: true, clientId: `bench-forger-${process.pid}`, onMessage: () => {} });
  const before = lastId();
  const payload = new Uint8Array([0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40]); // a COSE_Sign1 with nothing in it
  const t0 = performance.now();
  let sent = 0;
  const inFlight = new Set<Promise<unknown>>();
  while (sent < N) {
    const p = publisher.publishAsync(`gh/${ids[sent % DEVICES]}/events`, Buffer.from(payload), { qos: 1 }).finally(() => inFlight.delete(p));
    inFlight.add(p);
    sent++;
    if (inFlight.size >= 200) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  for (;;) {
    const n = (count.get(before) as { n: number }).n;
    if (n >= N) break;
    if (performance.now() - t0 > 120_000) throw new Error(`only ${n} of ${N} events stored after 120 s`);
    await sleep(2);
  }
  const seconds = (performance.now() - t0) / 1000;
  await endMqtt(publisher);
  return N / seconds;
}

console.log(`dashboard: ${N} events per round, ${ROUNDS} rounds each way, ${SAMPLES} refusals timed; chromium ${browser.version()} (node ${process.version})`);
// Warm-up: both paths once.
await ingestRound();
let warm = await eventsPage();
await ingestRound();
await warm.close();

const without: number[] = [];
const connected: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  without.push(await ingestRound());
  const page = await eventsPage();
  connected.push(await ingestRound());
  // The page has rendered the last of them (its table is newest first).
  const newest = lastId();
  await page.locator(`#events tr[data-event="${newest}"]`).waitFor({ timeout: 60_000 });
  await page.close();
  console.log(`  round ${r + 1}: none ${Math.round(without[r])} events/s, connected ${Math.round(connected[r])} events/s`);
}
const withoutRate = median(without);
const connectedRate = median(connected);
const ratio = connectedRate / withoutRate;
console.log(`dashboard events/s ${Math.round(connectedRate)} without ${Math.round(withoutRate)} ratio ${ratio.toFixed(2)}`);

// 2. Refusal -> row.
const page = await eventsPage();
await page.evaluate(() => {
  const seen: Record<string, number> = {};
  (window as unknown as { rowTimes: Record<string, number> }).rowTimes = seen;
  const body = document.querySelector("#events tbody") as HTMLElement;
  new MutationObserver((records) => {
    const now = Date.now();
    for (const record of records) {
      for (const node of record.addedNodes) {
        const id = (node as HTMLElement).dataset?.event;
        if (id !== undefined && seen[id] === undefined) seen[id] = now;
      }
    }
  }).observe(body, { childList: true });
});
const client = await CommandClient.connect({ brokerUrl: broker.url, key: operator, clientId: `bench-operator-${process.pid}` });
const firstId = lastId();
for (let i = 0; i < SAMPLES; i++) {
  // One device at a time, 2 commands per device per second: within a device's own event rate (5/s).
  const device = ids[i % DEVICES];
  const reply = await client.send({ device, door: "setpoint", op: "write.limits", args: { min: 10, max: 30 }, timeoutMs: 10_000 });
  if (reply.ok || reply.code !== "not-allowed") throw new Error(`expected a not-allowed refusal, got ${JSON.stringify(reply)}`);
  await sleep(Math.max(0, 1000 / (DEVICES * 2)));
}
await client.close();
const refusals = server.events({ afterId: firstId, limit: 1000 }).filter((e) => e.source === "device" && e.code === "not-allowed");
const deadline = Date.now() + 30_000;
let rowTimes: Record<string, number> = {};
while (Date.now() < deadline) {
  rowTimes = await page.evaluate(() => (window as unknown as { rowTimes: Record<string, number> }).rowTimes);
  if (refusals.every((e) => rowTimes[String(e.id)] !== undefined)) break;
  await sleep(100);
}
const delays = refusals.filter((e) => e.deviceTime !== null && rowTimes[String(e.id)] !== undefined).map((e) => rowTimes[String(e.id)] - (e.deviceTime as number));
const missing = refusals.length - delays.length;
// Where the time goes: device -> stored at the server, stored -> row in the page.
const toServer = refusals.filter((e) => e.deviceTime !== null).map((e) => e.receivedAt - (e.deviceTime as number));
const toRow = refusals.filter((e) => rowTimes[String(e.id)] !== undefined).map((e) => rowTimes[String(e.id)] - e.receivedAt);
const p50 = quantile(delays, 0.5);
const p99 = quantile(delays, 0.99);
const max = Math.max(...delays);
console.log(`  ${refusals.length} refusals stored as device events, ${delays.length} timed to their row${missing ? `, ${missing} not shown or without device time` : ""}`);
console.log(`  of which device -> stored p50 ${quantile(toServer, 0.5)} ms p99 ${quantile(toServer, 0.99)} ms; stored -> row p50 ${quantile(toRow, 0.5)} ms p99 ${quantile(toRow, 0.99)} ms`);
console.log(`dashboard refusal->row p50 ${p50} ms p99 ${p99} ms (max ${max} ms)`);
console.log(
  `BENCH_RESULT ${JSON.stringify({
    bench: "dashboard",
    n: N,
    rounds: ROUNDS,
    eventsPerSecondConnected: Math.round(connectedRate),
    eventsPerSecondWithout: Math.round(withoutRate),
    ratio: Number(ratio.toFixed(3)),
    refusals: refusals.length,
    timed: delays.length,
    refusalToRowMs: { p50, p99, max },
    deviceToStoredMs: { p50: quantile(toServer, 0.5), p99: quantile(toServer, 0.99) },
    storedToRowMs: { p50: quantile(toRow, 0.5), p99: quantile(toRow, 0.99) },
  })}`,
);

await page.close();
await browser.close();
await sim.stop(false);
await served.close();
await server.stop();
await broker.stop();
rmSync(dir, { recursive: true, force: true });
