// The API the dashboard's pages read besides the fleet API: event counts (one GROUP BY over the
// append-only events) and the live views (a snapshot when it changed). Over the real store and stream
// code; the routes' roles are in test/api-access.test.ts, the pages in test/dashboard.test.ts.
import test from "ava";
import { Store, type NewEvent } from "../host/server/store";
import { countEvents } from "../host/server/event-counts";
import { EventSignal } from "../host/server/export/event-signal";
import { liveStream, LIVE_TICK_MS, MAX_LIVE_STREAMS } from "../host/server/dashboard/live";
import { GatehouseError } from "../sdk/errors";

const MINUTE = 60_000;
const T0 = 1_800_000_000_000; // a whole number of minutes

function event(device: string, code: string, receivedAt: number, o: Partial<NewEvent> = {}): NewEvent {
  return { receivedAt, device, source: "device", code, allowed: false, principal: "ab", door: "setpoint", op: "write.limits", deviceTime: receivedAt, uptime: 1, suppressed: 0, seq: 1, detail: null, ...o };
}

test("event counts: per bucket and code, suppressed events counted, refusals per device, narrowed by device and pattern, older events left out", (t) => {
  const store = new Store(":memory:");
  t.teardown(() => store.close());
  store.appendEvent(event("thermo-1", "not-allowed", T0 - 10 * MINUTE)); // before the window
  store.appendEvent(event("thermo-1", "not-allowed", T0 + 5_000));
  store.appendEvent(event("thermo-1", "not-allowed", T0 + 50_000, { suppressed: 4 }));
  store.appendEvent(event("thermo-1", "bad-signature", T0 + MINUTE + 1, { source: "server" }));
  store.appendEvent(event("lock-1", "replayed", T0 + MINUTE + 2));
  store.appendEvent(event("lock-1", "boot", T0 + MINUTE + 3, { allowed: true }));

  const all = countEvents(store.db, { since: T0, bucketMs: MINUTE });
  t.deepEqual(all.buckets, [
    { start: T0, code: "not-allowed", count: 6 },
    { start: T0 + MINUTE, code: "bad-signature", count: 1 },
    { start: T0 + MINUTE, code: "boot", count: 1 },
    { start: T0 + MINUTE, code: "replayed", count: 1 },
  ]);
  t.deepEqual(all.refusals, { "thermo-1": 7, "lock-1": 1 });
  t.false(all.truncated);

  t.deepEqual(countEvents(store.db, { since: T0, bucketMs: MINUTE, device: "lock-1" }).refusals, { "lock-1": 1 });
  t.deepEqual(countEvents(store.db, { since: T0, bucketMs: MINUTE, devicePattern: "thermo-*" }).buckets.map((b) => b.code), ["not-allowed", "bad-signature"]);
  t.deepEqual(countEvents(store.db, { since: T0, bucketMs: 10 * MINUTE }).buckets, [
    { start: T0, code: "bad-signature", count: 1 },
    { start: T0, code: "boot", count: 1 },
    { start: T0, code: "not-allowed", count: 6 },
    { start: T0, code: "replayed", count: 1 },
  ]);
});

async function readEvents(reader: ReadableStreamDefaultReader<Uint8Array>, count: number): Promise<string[]> {
  const decoder = new TextDecoder();
  let text = "";
  const events: string[] = [];
  while (events.length < count) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = text.indexOf("\n\n")) >= 0) {
      events.push(text.slice(0, end));
      text = text.slice(end + 2);
    }
  }
  return events;
}

test("live views: the first snapshot at once, then one only when it changed (on a signal or the tick); follow=false ends after one; the number open is bounded", async (t) => {
  const signal = new EventSignal();
  let state = 1;
  let looks = 0;
  const response = liveStream(signal, "fleet", () => {
    looks++;
    return JSON.stringify({ state });
  });
  t.is(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  t.deepEqual(await readEvents(reader, 1), ['event: fleet\ndata: {"state":1}']);

  // Nothing changed: no event, however many ticks pass.
  const next = readEvents(reader, 1);
  await new Promise((done) => setTimeout(done, LIVE_TICK_MS * 3));
  t.true(looks >= 2, "it looked again on the tick");
  // A change without a signal is found on the next tick; with a signal, at once.
  state = 2;
  t.deepEqual(await next, ['event: fleet\ndata: {"state":2}']);
  state = 3;
  signal.raise();
  t.deepEqual(await readEvents(reader, 1), ['event: fleet\ndata: {"state":3}']);
  await reader.cancel();

  const once = liveStream(signal, "device", () => "{}", { follow: false });
  t.is(await once.text(), "event: device\ndata: {}\n\n");

  // Bounded: the next one beyond the limit is refused (server-busy), and a closed one frees its place.
  const open = Array.from({ length: MAX_LIVE_STREAMS }, () => liveStream(signal, "fleet", () => "{}"));
  const error = t.throws(() => liveStream(signal, "fleet", () => "{}"), { instanceOf: GatehouseError });
  t.is(error?.code, "server-busy");
  await open[0].body?.cancel();
  const again = liveStream(signal, "fleet", () => "{}");
  for (const r of [again, ...open.slice(1)]) await r.body?.cancel();
});
