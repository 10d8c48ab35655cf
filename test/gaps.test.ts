// The fleet server's lost-publication detector (host/server/gaps.ts) on its own, with explicit times:
// what normal operation does (reboots, the offline queue sent after the new birth, late arrivals inside
// the grace period) never counts as a loss; what does not arrive does, with its range, and the part the
// device reported dropping itself is told apart.
import test from "ava";
import { describeRanges, isStreamState, PublicationGaps, type GapReport } from "../host/server/gaps";

const GRACE = 1000;

/** "device stream reason missing: RANGES; dropped: RANGES" */
function simple(reports: GapReport[]): string[] {
  const list = (part: GapReport["missing"]) => (part.count > 0 ? describeRanges(part.ranges, part.count) : "-");
  return reports.map((r) => `${r.device} ${r.stream} ${r.reason} missing: ${list(r.missing)}; dropped: ${list(r.dropped)}`);
}

test("normal operation is never a loss: in-order arrival, the offline queue after the next birth, a reboot, births seen again", (t) => {
  const gaps = new PublicationGaps({ graceMs: GRACE });
  const reports: GapReport[] = [];
  let now = 0;
  // Boot 1 (stream 100): a birth announcing nothing yet, then 0..4 in order.
  reports.push(...gaps.birth("d", 100, 0, [], now));
  for (let i = 0; i < 5; i++) reports.push(...gaps.publication("d", 100, i, (now += 10)));
  // Offline: 5..7 are queued; the reconnect's birth announces next = 8 before they arrive (well within
  // the grace period, as the device sends its queue right after the birth).
  reports.push(...gaps.birth("d", 100, 8, [], (now += 5000)));
  reports.push(...gaps.sweep((now += 100)));
  for (let i = 5; i < 8; i++) reports.push(...gaps.publication("d", 100, i, (now += 10)));
  // The same birth again (a retained message): nothing new.
  reports.push(...gaps.birth("d", 100, 8, [], (now += 10)));
  // A reboot: the persistent seq skipped ahead (stream 164), indices start again at 0.
  reports.push(...gaps.birth("d", 164, 0, [], (now += 10)));
  for (let i = 0; i < 3; i++) reports.push(...gaps.publication("d", 164, i, (now += 10)));
  // A late message of the earlier boot changes nothing.
  reports.push(...gaps.publication("d", 100, 2, (now += 10)));
  reports.push(...gaps.sweep((now += 10 * GRACE)));
  t.deepEqual(simple(reports), []);
  t.like(gaps.state("d"), { stream: 164, below: 3, known: 3, received: [] });
});

test("what does not arrive is declared once the grace period has passed, with its range", (t) => {
  const gaps = new PublicationGaps({ graceMs: GRACE });
  gaps.birth("d", 7, 0, [], 0);
  for (const i of [0, 1, 2, 5, 6, 9]) gaps.publication("d", 7, i, 100);
  t.deepEqual(simple(gaps.sweep(100 + GRACE - 1)), [], "not yet overdue");
  // 3 arrives late, but within the grace period: not a loss.
  gaps.publication("d", 7, 3, 500);
  t.deepEqual(simple(gaps.sweep(100 + GRACE)), ["d 7 overdue missing: 4, 7-8; dropped: -"]);
  t.like(gaps.state("d"), { below: 10, received: [] });
  // Arriving after it was declared: nothing more (and nothing undone).
  t.deepEqual(simple(gaps.publication("d", 7, 4, 5000)), []);
  // A birth announcing more than arrived: the tail is overdue too.
  gaps.birth("d", 7, 12, [], 6000);
  t.deepEqual(simple(gaps.sweep(6000 + GRACE)), ["d 7 overdue missing: 10-11; dropped: -"]);
});

test("the device's own offline-queue drops, as its birth lists them, are told apart from losses on the way", (t) => {
  const gaps = new PublicationGaps({ graceMs: GRACE });
  gaps.birth("d", 7, 0, [], 0);
  gaps.publication("d", 7, 0, 10);
  gaps.publication("d", 7, 2, 10); // 1 is lost on the way
  // Offline: the device numbered 3..10 and its queue dropped the oldest three; its birth lists them.
  gaps.birth("d", 7, 11, [[3, 5]], 2000);
  for (let i = 6; i < 11; i++) gaps.publication("d", 7, i, 2010);
  gaps.publication("d", 7, 12, 2100); // 11 lost on the way
  t.deepEqual(simple(gaps.sweep(2100 + GRACE)), ["d 7 overdue missing: 1, 11; dropped: 3-5"]);
  // Drops while connected are listed only by the next birth: it shows that a gap declared missing was
  // the device's own drop after all.
  gaps.publication("d", 7, 14, 5000);
  t.deepEqual(simple(gaps.sweep(5000 + GRACE)), ["d 7 overdue missing: 13; dropped: -"]);
  t.deepEqual(simple(gaps.birth("d", 7, 15, [[3, 5], [13, 13]], 9000)), ["d 7 reported-late missing: -; dropped: 13"]);
  t.deepEqual(simple(gaps.birth("d", 7, 15, [[3, 5], [13, 13]], 9001)), [], "said once");
  t.deepEqual(gaps.state("d")?.declaredMissing, [[1, 1], [11, 11]]);
});

test("a restart declares what the old boot announced and never delivered", (t) => {
  const gaps = new PublicationGaps({ graceMs: GRACE });
  gaps.birth("d", 7, 0, [], 0);
  gaps.publication("d", 7, 0, 1);
  gaps.birth("d", 7, 5, [], 2); // 1..4 announced
  gaps.publication("d", 7, 1, 3);
  t.deepEqual(simple(gaps.birth("d", 71, 0, [], 4)), ["d 7 restarted missing: 2-4; dropped: -"]);
  t.like(gaps.state("d"), { stream: 71, below: 0, known: 0 });
});

test("a device followed for the first time is followed from where the server comes in", (t) => {
  const gaps = new PublicationGaps({ graceMs: GRACE });
  // The first thing heard is index 40 of a stream (the server was away until now): nothing before it
  // is claimed missing.
  gaps.publication("a", 9, 40, 0);
  // The first thing heard is a retained birth announcing 12.
  gaps.birth("b", 9, 12, [], 0);
  gaps.publication("b", 9, 11, 1); // queued before that birth, arriving after it
  gaps.publication("b", 9, 12, 2);
  t.deepEqual(simple(gaps.sweep(10 * GRACE)), []);
});

test("restored state gets a fresh grace period; the out-of-order set is bounded", (t) => {
  const gaps = new PublicationGaps({ graceMs: GRACE, maxPending: 4 });
  gaps.birth("d", 7, 0, [], 0);
  gaps.publication("d", 7, 1, 0); // 0 missing
  const saved = JSON.parse(JSON.stringify(gaps.state("d")));
  t.true(isStreamState(saved));
  t.false(isStreamState({ ...saved, received: ["x"] }));
  const again = new PublicationGaps({ graceMs: GRACE });
  again.restore("d", saved, 50_000);
  t.deepEqual(simple(again.sweep(50_000 + GRACE - 1)), [], "what was overdue before the restart may still be at the broker");
  t.deepEqual(simple(again.sweep(50_000 + GRACE)), ["d 7 overdue missing: 0; dropped: -"]);

  // More than 4 indices held above a hole: the oldest hole is declared at once.
  const bounded = new PublicationGaps({ graceMs: GRACE, maxPending: 4 });
  bounded.birth("d", 7, 0, [], 0);
  const reports = [2, 3, 4, 5, 6].flatMap((i) => bounded.publication("d", 7, i, 0));
  t.deepEqual(simple(reports), ["d 7 overdue missing: 0-1; dropped: -"]);
  t.like(bounded.state("d"), { below: 7, received: [] });
});
