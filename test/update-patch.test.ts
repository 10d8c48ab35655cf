// Patches of door logic over the air (issue 7 item 5): the update agent takes a verified offer whose
// manifest is a patch, pulls the source over the block transfer into memory and hands it to
// device.patches, with no restart; and the crash-loop limit that revokes a patch whose operations keep
// failing. The agent harness plays the broker (test/support/agent-harness.ts); the rollout through a real
// mosquitto is in test/update-patch-rollout.test.ts. Patches run in ses's Compartment: this worker is
// locked down (test/patch-ses.ts).
import "./patch-ses";
import test from "ava";
import { harnessFor, untilOnline, type AgentHarness } from "./support/agent-harness";
import { exampleIds, trustDocument, updateKeys } from "./support/updates";
import { sleep, until } from "./support/devices";
import { encodeStop } from "../sdk/update/messages";
import { BOOT_RECORD_FILE } from "../sdk/update/file-port";
import { utf8 } from "../sdk/cbor/encode";
import type { CoseKey } from "../sdk/cose/key";
import type { Device } from "../sdk/device";
import { defineDoor, t as types } from "../sdk/index";
import type { LocalDoor } from "../sdk/doors/runtime";
import { errorCode } from "../sdk/errors";
import { Patches } from "../sdk/patch/patches";
import { MAX_PATCH_FAILURES, MAX_PATCH_SOURCE_BYTES, PATCH_COMPONENT } from "../sdk/patch/format";
import { buildEnvelope } from "../sdk/suit/builder";
import { trustOf } from "../sdk/update/trust";
import { nodeCrypto } from "../ports/node/crypto";
import { nodeCompartments } from "../ports/node/compartment";

const KEYS = updateKeys(2, "patch");
const TRUST = trustDocument(KEYS, 1);
const IDS = exampleIds("thermostat");

const thermostat = defineDoor({
  name: "thermostat",
  properties: { target: { type: types.int({ min: 5, max: 30 }), read: "view", write: "operate" } },
});

/** A fix: never above 25, through the original logic. */
const CLAMP = `export default { thermostat: { write: { target(value, ctx) { return ctx.original(value > 25 ? 25 : value); } } } };\n`;
/** A broken fix: every write it replaces throws. */
const BROKEN = `export default { thermostat: { write: { target(value) { throw new Error("broken fix, given " + value); } } } };\n`;

function patchOf(seq: number, text: string, keys: readonly CoseKey[] = KEYS.slice(0, 1)): { envelope: Uint8Array; source: Uint8Array } {
  const source = utf8(text);
  const envelope = buildEnvelope(nodeCrypto, { ...IDS, sequenceNumber: seq, imageDigest: nodeCrypto.sha256(source), imageSize: source.length, uri: "#image", componentId: PATCH_COMPONENT }, keys);
  return { envelope, source };
}

interface Bench {
  h: AgentHarness;
  /** The door of the current boot, and the value its original logic stores. */
  door(): LocalDoor<typeof thermostat>;
  stored: { value: number };
}

function bench(t: Parameters<typeof harnessFor>[0], withPatches = true): Bench {
  const stored = { value: 20 };
  let door: LocalDoor<typeof thermostat> | undefined;
  const h = harnessFor(t, {
    trust: TRUST,
    patches: withPatches ? (link) => new Patches({ compartment: nodeCompartments, trust: trustOf(TRUST), vendorId: IDS.vendorId, classId: IDS.classId }, link) : undefined,
    setup: (device: Device) => {
      door = device.register(thermostat, { read: { target: () => stored.value }, write: { target: (v) => void (stored.value = v) } });
    },
  });
  return { h, stored, door: () => door! };
}

/** A local write's outcome: "ok" or its refusal code. */
function write(b: Bench, value: number): string {
  try {
    b.door().write("target", value);
    return "ok";
  } catch (e) {
    return errorCode(e);
  }
}

const final = (s: string) => s === "confirmed" || s.startsWith("refused");

test("a patch offered over the air is pulled in blocks and applied without a restart: offered, downloading, verified, confirmed; the birth names it", async (t) => {
  const b = bench(t);
  const { h } = b;
  await untilOnline(h);
  const { envelope, source } = patchOf(3, CLAMP);
  h.serve(source);
  h.offer("p1", envelope, 64);
  await until("the patch's end", () => h.statuses().some(final));
  t.deepEqual(h.statuses().filter((s) => !s.startsWith("downloading")), ["offered", "verified", "confirmed"]);
  t.true(h.statuses().includes("downloading"), `downloading statuses for a source of ${source.length} bytes in blocks of 64: ${h.statuses().join(", ")}`);
  t.is(h.requests.length >= Math.ceil(source.length / 64), true, "the source came in blocks");
  t.true(h.requests.every(([rollout, , length]) => rollout === "p1" && length <= 64));
  t.is(h.restartRequested, 0, "no restart");
  t.is(h.boots, 1);
  t.is(h.port.boot().state, "normal", "the update port was not touched: no trial");
  t.is(h.device.patches!.active?.sequenceNumber, 3);
  t.is(write(b, 28), "ok");
  t.is(b.stored.value, 25, "the door answers with the patched logic");
  const status = h.publications.filter((p) => p.kind === "update").at(-1)!.body;
  t.is(status.get("manifest"), 3, "the status names the patch's sequence number");
  t.deepEqual(h.events(), [], "no refusal on the way");

  h.reboot();
  await untilOnline(h);
  t.is(h.births().at(-1)!.get("patch"), 3, "the birth after a restart names the patch");
  t.is(write(b, 29), "ok");
  t.is(b.stored.value, 25, "the restored patch still clamps");
});

test("a stop during a patch's download ends it as aborted, and only that: no refusal, the update port untouched, no patch active", async (t) => {
  const b = bench(t);
  const { h } = b;
  await untilOnline(h);
  const { envelope, source } = patchOf(4, CLAMP);
  // Only the first block is answered: the download stays in the middle.
  h.server = { answer: (_rollout, offset, length) => (offset === 0 ? source.slice(0, length) : undefined) };
  h.offer("p1", envelope, 64);
  await until("the blocks asked for", () => h.requests.length >= 2);
  const bootRecord = h.slots.read(BOOT_RECORD_FILE, 0, 256);
  h.deliver("update/offer", encodeStop({ rollout: "p1" }));
  await until("aborted", () => h.statuses().includes("aborted"));
  await sleep(1200); // longer than the transfer's longest retry wait in the harness: a refusal would be out by now
  t.deepEqual(h.statuses().filter((s) => !s.startsWith("downloading")), ["offered", "aborted"], h.statuses().join(", "));
  t.deepEqual(h.events(), [], "no refusal: the server asked for the stop");
  t.deepEqual(h.slots.read(BOOT_RECORD_FILE, 0, 256), bootRecord, "the boot record was not rewritten");
  t.is(h.port.boot().state, "normal", "the update port was not touched");
  t.is(h.device.patches!.active, undefined, "no patch active");
  t.true(h.lines.some((l) => /rollout p1 stopped by the server: manifest 4 aborted at byte \d+$/.test(l)), h.lines.join("\n"));
  t.is(write(b, 28), "ok");
  t.is(b.stored.value, 28, "the original logic runs");
});

test("a tampered patch is refused with its code and nothing changes: a changed envelope before any block, a changed source after the blocks", async (t) => {
  const b = bench(t);
  const { h } = b;
  await untilOnline(h);
  const good = patchOf(4, CLAMP);
  const tampered = good.envelope.slice();
  tampered[tampered.length - 3] ^= 1;
  h.serve(good.source);
  h.offer("t1", tampered);
  await until("the tampered envelope refused", () => h.statuses().some(final));
  t.deepEqual(h.statuses(), ["refused:suit-manifest-digest-mismatch"]);
  t.is(h.requests.length, 0, "no block was asked for");

  // The signed envelope, and a source of the same size that is not the signed one.
  const evil = utf8(CLAMP.replace("> 25 ? 25", "> 29 ? 29"));
  t.is(evil.length, good.source.length);
  h.serve(evil);
  h.offer("t2", good.envelope);
  await until("the tampered source refused", () => h.statuses().filter(final).length === 2);
  t.deepEqual(h.statuses().slice(1), ["offered", "refused:suit-image-digest-mismatch"]);
  t.deepEqual(h.events(), ["suit-manifest-digest-mismatch", "suit-image-digest-mismatch"], "each refusal is a security event");
  t.is(h.device.patches!.active, undefined, "no patch is active");
  t.is(h.device.patches!.sequenceNumber, -1, "no patch was ever accepted");
  t.is(write(b, 28), "ok");
  t.is(b.stored.value, 28, "the original logic runs");

  // The honest source afterwards: the same signed patch applies (the refusals left nothing behind).
  h.serve(good.source);
  h.offer("t3", good.envelope);
  await until("the honest patch confirmed", () => h.statuses().at(-1) === "confirmed");
  t.is(write(b, 28), "ok");
  t.is(b.stored.value, 25);
});

test("a patch over the source limit is refused before a block is asked for; a server sending more than the signed size is refused too", async (t) => {
  const b = bench(t);
  const { h } = b;
  await untilOnline(h);
  const big = utf8(`export default {};\n//${"x".repeat(MAX_PATCH_SOURCE_BYTES)}\n`);
  const envelope = buildEnvelope(nodeCrypto, { ...IDS, sequenceNumber: 5, imageDigest: nodeCrypto.sha256(big), imageSize: big.length, componentId: PATCH_COMPONENT }, KEYS.slice(0, 1));
  h.serve(big);
  h.offer("big", envelope);
  await until("refused", () => h.statuses().some(final));
  t.deepEqual(h.statuses(), ["refused:suit-image-too-long"]);
  t.is(h.requests.length, 0, "nothing of it was asked for");

  // A block that runs past the signed size: refused as it comes, and the transfer asks again.
  const { envelope: clamp, source } = patchOf(6, CLAMP);
  h.server = { answer: (_rollout, offset, length) => (offset === 0 ? new Uint8Array(length + 16).fill(32) : source.slice(offset, offset + length)) };
  h.offer("long", clamp, 64);
  await until("a too-long block refused", () => h.events().includes("suit-image-too-long"));
  t.is(h.device.patches!.active, undefined, "nothing applied from it");
  h.serve(source);
  await until("the honest blocks finish it", () => h.statuses().at(-1) === "confirmed", 20_000);
  t.is(h.device.patches!.active?.sequenceNumber, 6);
});

test("a patch offered to a device without patches is refused (patch-unavailable) and nothing is fetched or installed", async (t) => {
  const b = bench(t, false);
  const { h } = b;
  await untilOnline(h);
  const { envelope, source } = patchOf(3, CLAMP);
  h.serve(source);
  h.offer("none", envelope);
  await until("refused", () => h.statuses().some(final));
  t.deepEqual(h.statuses(), ["refused:patch-unavailable"]);
  t.deepEqual(h.events(), ["patch-unavailable"]);
  t.is(h.requests.length, 0);
  t.is(h.port.boot().state, "normal");
  t.is(h.restartRequested, 0);
  t.is(h.births().at(-1)!.get("patch"), 0);
  t.is(write(b, 28), "ok");
  t.is(b.stored.value, 28);
});

test(`the crash-loop limit: ${MAX_PATCH_FAILURES} patch-failed outcomes in a row revoke the patch (patch-revoked), the original logic runs again, after a restart too`, async (t) => {
  const b = bench(t);
  const { h } = b;
  await untilOnline(h);
  const broken = patchOf(7, BROKEN);
  h.serve(broken.source);
  h.offer("broken", broken.envelope);
  await until("applied", () => h.statuses().at(-1) === "confirmed");
  t.is(h.device.patches!.active?.sequenceNumber, 7);

  // Failures before a restart count with those after it: a device that restarts between failures still trips.
  for (let i = 0; i < 2; i++) t.is(write(b, 10), "patch-failed");
  h.reboot();
  await untilOnline(h);
  t.is(h.births().at(-1)!.get("patch"), 7, "still active after the restart");
  for (let i = 2; i < MAX_PATCH_FAILURES - 1; i++) t.is(write(b, 10), "patch-failed");
  t.is(h.device.patches!.active?.sequenceNumber, 7, `active after ${MAX_PATCH_FAILURES - 1} failures`);
  t.is(b.stored.value, 20, "nothing was written");
  t.is(write(b, 10), "patch-failed", "the last failure still answers patch-failed");
  t.is(h.device.patches!.active, undefined, "revoked");
  await until("the revocation event", () => h.events().includes("patch-revoked"));
  t.is(h.events().filter((c) => c === "patch-failed").length, MAX_PATCH_FAILURES, "every failure was an event");
  t.is(write(b, 10), "ok");
  t.is(b.stored.value, 10, "the original logic runs again");

  h.reboot();
  await untilOnline(h);
  t.is(h.births().at(-1)!.get("patch"), 0, "the birth after the restart names no patch");
  t.is(write(b, 12), "ok");
  t.is(b.stored.value, 12, "the original logic after the restart too");
  t.is(h.device.patches!.sequenceNumber, 7, "its sequence number stays");
  h.offer("again", broken.envelope);
  await until("the revoked patch refused", () => h.statuses().at(-1) === "refused:suit-rollback");

  // A success between failures resets the count: a newer patch that fails on some inputs only stays.
  const picky = patchOf(8, `export default { thermostat: { write: { target(value, ctx) { if (value > 25) throw new Error("too hot"); return ctx.original(value); } } } };\n`);
  h.serve(picky.source);
  h.offer("picky", picky.envelope);
  await until("applied", () => h.statuses().at(-1) === "confirmed");
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < MAX_PATCH_FAILURES - 1; i++) t.is(write(b, 28), "patch-failed");
    t.is(write(b, 15), "ok");
  }
  t.is(h.device.patches!.active?.sequenceNumber, 8, "never revoked: never the limit in a row");
});
