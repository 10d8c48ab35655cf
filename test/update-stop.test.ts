// The stop message (an aborted rollout, docs/protocol.md section 8) at the update agent: a stop naming
// the rollout being downloaded cancels the transfer (no further block request), empties the slot and
// sends a signed `aborted` status; a stop for another rollout, with nothing in progress, or once the
// image was installed (a trial) changes nothing; a malformed one is refused. Played broker, slots in
// memory (test/support/agent-harness.ts); the flow through mosquitto and the fleet server is in
// rollouts.test.ts.
import test from "ava";
import { encode } from "../sdk/cbor/encode";
import { SLOT_FILES } from "../sdk/update/file-port";
import { encodeStop } from "../sdk/update/messages";
import { RECORD_KEYS } from "../sdk/update/records";
import { DEFAULT_WINDOW } from "../sdk/update/transfer";
import { harnessFor, untilOnline } from "./support/agent-harness";
import { sleep, until } from "./support/devices";
import { simUpdate, trustDocument, updateKeys } from "./support/updates";

const KEYS = updateKeys(2);
const TRUST = trustDocument(KEYS, 2);
const update = (seq: number) => simUpdate({ app: "thermostat", firmware: `thermostat-sim 0.${seq}.0`, seq, keys: KEYS, payloadBytes: 60_000 });

test("a stop for the rollout being downloaded: no further block request, the slot emptied, a signed aborted status; other stops change nothing", async (t) => {
  const h = harnessFor(t, { trust: TRUST });
  await untilOnline(h);
  h.deliver("update/offer", encodeStop({ rollout: "r0" }));
  const u = update(1);
  // The first 10 blocks are answered (asked again too), then none: the download stays in the middle.
  h.server = { answer: (_rollout, offset, length) => (offset < 10 * 1024 ? u.image.slice(offset, offset + length) : undefined) };
  h.offer("r1", u.envelope, 1024);
  // The window slides to block 10 + DEFAULT_WINDOW - 1 only once blocks 0 to 9 are all in (hashed).
  await until("ten blocks in", () => h.requests.some((r) => r[1] === (10 + DEFAULT_WINDOW - 1) * 1024));
  h.deliver("update/offer", encodeStop({ rollout: "r-other" }));
  h.deliver("update/offer", encode({ rollout: "r1", stop: false }));
  await until("the malformed stop refused", () => h.events().includes("update-offer-malformed"));
  t.is(h.agent.state, "downloading", "still downloading r1");
  t.false(h.statuses().includes("aborted"));
  t.true(h.lines.some((l) => l.includes("stop for rollout r0 ignored: no update in progress")), h.lines.join("\n"));
  t.true(h.lines.some((l) => l.includes("stop for rollout r-other ignored: downloading rollout r1")), h.lines.join("\n"));

  h.deliver("update/offer", encodeStop({ rollout: "r1" }));
  await until("aborted", () => h.statuses().includes("aborted"));
  const asked = h.requests.length;
  const status = h.publications.filter((p) => p.kind === "update").at(-1)!.body;
  t.is(status.get("rollout"), "r1");
  t.is(status.get("manifest"), 1);
  t.is(status.get("progress"), Math.floor((10 * 1024 * 100) / u.image.length), "how far it got: the ten blocks hashed");
  t.is(h.agent.state, "idle");
  t.is(h.slots.read(SLOT_FILES[1], 0, 1 << 20)?.length ?? 0, 0, "the slot is empty");
  for (const key of [RECORD_KEYS.job, RECORD_KEYS.envelope, RECORD_KEYS.slot[1]]) t.is(h.storage.read(key), undefined, `${key} removed`);
  // Longer than the transfer's longest wait before asking again (maxRetryMs 400 in the harness): a
  // transfer still running would have asked again by then.
  await sleep(1200);
  t.is(h.requests.length, asked, "no block request after the stop");

  // A new offer of the same update afterwards starts from byte 0 and installs.
  h.serve(u.image);
  h.offer("r2", u.envelope, 1024);
  await until("confirmed", () => h.statuses().includes("confirmed"), 15_000);
  t.is(h.firmware(), "thermostat-sim 0.1.0");
  t.deepEqual(h.requests.find((r) => r[0] === "r2"), ["r2", 0, 1024]);
  t.deepEqual(h.statuses().filter((s) => s === "aborted"), ["aborted"], h.statuses().join(", "));
});

test("a stop once the image was installed is ignored: the trial is decided by its health check, not by a server", async (t) => {
  let healthy = false;
  const h = harnessFor(t, { trust: TRUST, agent: { healthCheck: () => (healthy ? undefined : "not-yet") } });
  await untilOnline(h);
  const u = update(2);
  h.serve(u.image);
  h.offer("r1", u.envelope);
  await until("the trial boot", () => h.boots === 2 && h.agent.state === "trial", 15_000);
  await untilOnline(h);
  h.deliver("update/offer", encodeStop({ rollout: "r1" }));
  await until("the stop ignored", () => h.lines.some((l) => l.includes("stop for rollout r1 ignored: manifest 2 is installed (a trial is not stopped by a server)")));
  healthy = true;
  await until("confirmed", () => h.statuses().includes("confirmed"), 15_000);
  t.is(h.firmware(), "thermostat-sim 0.2.0");
  t.false(h.statuses().includes("aborted"), h.statuses().join(", "));
});
