// The update agent's rules beyond single attacks: trust updates (k of n under the CURRENT trust, key
// rotation, the minimum security epoch only rising, persisted across restarts), resuming a download
// after a disconnect and after a restart (the written prefix re-hashed), trial boots that fail (an
// unhealthy build, a crash before confirming) and roll back, and the refusal to roll back to a build
// below the minimum epoch. Played broker, slots in memory (test/support/agent-harness.ts).
import test, { type ExecutionContext } from "ava";
import { encode, utf8 } from "../sdk/cbor/encode";
import type { CborMap } from "../sdk/cbor/types";
import { keyToMap, publicKey } from "../sdk/cose/key";
import { sign1 } from "../sdk/cose/sign1";
import { SLOT_FILES } from "../sdk/update/file-port";
import { RECORD_KEYS } from "../sdk/update/records";
import { decodeTrustDocument, signTrustUpdate, TRUST_UPDATE_AAD } from "../sdk/update/trust";
import { nodeCrypto } from "../ports/node/crypto";
import { AgentHarness, harnessFor, untilOnline } from "./support/agent-harness";
import { until } from "./support/devices";
import { simUpdate, trustDocument, updateKeys } from "./support/updates";

const KEYS = updateKeys(3);
const TRUST = trustDocument(KEYS, 2);
const NEW = updateKeys(2, "new");

function harness(t: ExecutionContext, options: ConstructorParameters<typeof AgentHarness>[0] = { trust: TRUST }): AgentHarness {
  return harnessFor(t, options);
}

const online = untilOnline;

function update(seq: number, keys = KEYS.slice(0, 2), options: Partial<Parameters<typeof simUpdate>[0]> = {}) {
  return simUpdate({ app: "thermostat", firmware: `thermostat-sim 0.${seq}.0`, seq, keys, payloadBytes: 20_000, ...options });
}

const birthUpdate = (h: AgentHarness): CborMap => h.births().at(-1)!.get("update") as CborMap;

test("trust update: 2 of 3 current keys rotate the keys and raise the minimum epoch; persisted; the old key no longer counts", async (t) => {
  const h = harness(t);
  await online(h);
  // Keys 1 and 2 stay, key 3 (compromised) goes, a new key joins; threshold 2; minimum epoch 2.
  const next = { seq: 1, threshold: 2, keys: [KEYS[0], KEYS[1], NEW[0]].map((k) => publicKey(k)), minEpoch: 2 };
  h.sendTrust("t1", signTrustUpdate(nodeCrypto, next, [KEYS[0], KEYS[2]]));
  await until("trusted", () => h.statuses().includes("trusted"));
  t.is(h.agent.trust?.seq, 1);
  t.is(h.agent.trust?.minEpoch, 2);
  t.is(h.publications.filter((p) => p.kind === "update").at(-1)!.body.get("trust"), 1, "the status names the trust's seq");
  t.deepEqual(decodeTrustDocument(h.storage.read(RECORD_KEYS.trust)!).keys.map((k) => new TextDecoder().decode(k.kid)), ["upd-1", "upd-2", "new-1"]);

  // A restart keeps the rotated trust (the provisioned one is older) and the birth says so.
  h.reboot();
  await online(h);
  await until("birth", () => birthUpdate(h)?.get("trustSeq") === 1);
  t.is(birthUpdate(h).get("minEpoch"), 2);
  t.is(h.agent.trust?.seq, 1);

  // The removed key no longer counts toward the threshold; a build below epoch 2 is refused; the new key signs.
  h.offer("r1", update(1, [KEYS[0], KEYS[2]], { epoch: 2 }).envelope);
  await until("refused", () => h.statuses().includes("refused:suit-threshold-not-met"));
  h.offer("r2", update(1, [KEYS[0], NEW[0]], { epoch: 1 }).envelope);
  await until("refused", () => h.statuses().includes("refused:suit-below-epoch"));
  const good = update(1, [KEYS[1], NEW[0]], { epoch: 2 });
  h.serve(good.image);
  h.offer("r3", good.envelope);
  // Confirmed without a health check: the factory build (epoch 0) is below the minimum, no way back to it.
  await until("confirmed", () => h.statuses().includes("confirmed:update-no-rollback"), 15_000);
  t.is(h.firmware(), "thermostat-sim 0.1.0");
});

test("trust update refusals: below the current threshold, signed by new keys only, stale, lowering the epoch, an invalid trust, a manifest signature", async (t) => {
  const h = harness(t, { trust: trustDocument(KEYS, 2, 3, 1) });
  await online(h);
  const next = (over: object) => ({ seq: 4, threshold: 2, keys: NEW.map((k) => publicKey(k)), minEpoch: 1, ...over });
  const cases: [string, Uint8Array][] = [
    ["suit-threshold-not-met", signTrustUpdate(nodeCrypto, next({}), [KEYS[0]])],
    ["suit-threshold-not-met", signTrustUpdate(nodeCrypto, next({}), NEW)],
    ["update-trust-stale", signTrustUpdate(nodeCrypto, next({ seq: 3 }), KEYS.slice(0, 2))],
    ["update-trust-epoch", signTrustUpdate(nodeCrypto, next({ minEpoch: 0 }), KEYS.slice(0, 2))],
  ];
  // A threshold of 3 over 2 keys: signed by hand (signTrustUpdate refuses to make it).
  const invalid = encode({ seq: 4, threshold: 3, keys: NEW.map((k) => keyToMap(publicKey(k), false)), minEpoch: 1 });
  cases.push(["suit-trust-invalid", encode([invalid, KEYS.slice(0, 2).map((k) => sign1(nodeCrypto, k, invalid, { detached: true, externalAad: utf8(TRUST_UPDATE_AAD) }))])]);
  // Signatures without the trust update's AAD (as a manifest's are made) never pass.
  const document = encode({ seq: 4, threshold: 2, keys: NEW.map((k) => keyToMap(publicKey(k), false)), minEpoch: 1 });
  cases.push(["suit-threshold-not-met", encode([document, KEYS.slice(0, 2).map((k) => sign1(nodeCrypto, k, document, { detached: true }))])]);
  cases.push(["update-trust-malformed", encode(["not", "a trust update"])]);
  for (const [i, [code, message]] of cases.entries()) {
    h.sendTrust(`t${i}`, message);
    await until(`refusal ${i}`, () => h.statuses().length > i, 5000);
    t.is(h.statuses()[i], `refused:${code}`, `case ${i}`);
  }
  t.is(h.agent.trust?.seq, 3, "the trust in force is unchanged");
  t.deepEqual(h.events().slice(0, cases.length).sort(), cases.map(([code]) => code).sort(), "every refusal is a security event");
});

test("resume after a disconnect: the transfer goes on from the hashed prefix and asks for nothing twice past it", async (t) => {
  const h = harness(t);
  await online(h);
  const u = update(1);
  let answered = 0;
  let cut = false;
  h.server = {
    answer: (_r, offset, length) => {
      if (++answered === 8 && !cut) {
        cut = true;
        h.linkUp = false;
        setImmediate(() => h.transport.drop());
        return undefined;
      }
      return u.image.slice(offset, offset + length);
    },
  };
  h.offer("r1", u.envelope, 1024);
  await until("cut", () => cut && h.device.state !== "online");
  const before = h.requests.length;
  const progress = h.storage.read(RECORD_KEYS.job);
  t.truthy(progress, "the job is kept while offline");
  h.linkUp = true;
  await until("confirmed", () => h.statuses().includes("confirmed"), 15_000);
  const after = h.requests.slice(before).map(([, offset]) => offset);
  // At most seven blocks were answered before the link went (fewer when a slow machine made the device
  // ask again); those that arrived before it are kept.
  t.true(after[0] >= 1024 && after[0] <= 7 * 1024, `goes on from the prefix, not from 0: ${after.join(",")}`);
  t.is(h.boots, 2, "no restart but the trial's");
  t.is(h.firmware(), "thermostat-sim 0.1.0");
});

test("resume after a restart: the stored envelope is verified again, the written prefix re-hashed, the download finished", async (t) => {
  const h = harness(t);
  await online(h);
  const u = update(1, KEYS.slice(0, 2), { payloadBytes: 60_000 });
  let answered = 0;
  /** The end of the furthest block answered before the reset: the device can have written no more. */
  let answeredEnd = 0;
  /** The requests made before the reset (the next one is the resumed transfer's first). */
  let firstAfter = -1;
  h.server = {
    answer: (_r, offset, length) => {
      // Power cut: the device resets mid-download. The reset is queued at the 40th request, and nothing
      // is answered until it has run (a loaded machine may take a while to run it).
      if (h.boots === 1 && ++answered >= 40) {
        if (answered === 40)
          setImmediate(() => {
            h.reboot();
            firstAfter = h.requests.length;
          });
        return undefined;
      }
      if (h.boots === 1) answeredEnd = Math.max(answeredEnd, offset + length);
      return u.image.slice(offset, offset + length);
    },
  };
  h.offer("r1", u.envelope, 512);
  await until("second boot", () => h.boots === 2);
  const job = h.storage.read(RECORD_KEYS.job);
  t.truthy(job, "the job survived the reset");
  await until("confirmed", () => h.statuses().includes("confirmed"), 20_000);
  const resumedAt = h.requests[firstAfter][1];
  t.true(resumedAt > 0 && resumedAt <= answeredEnd, `resumed from a persisted offset (${resumedAt} of ${answeredEnd} answered before the reset), not from byte 0`);
  t.true(h.lines.some((l) => l.includes("resuming manifest 1")), "it says so");
  t.is(h.boots, 3, "the reset, then the trial's restart");
  t.is(h.firmware(), "thermostat-sim 0.1.0");
  t.is(h.statuses().filter((s) => s === "offered").length, 1, "offered once");
});

test("resume after a restart whose recorded offset is beyond what reached the slot: the prefix is re-hashed and only valid bytes count", async (t) => {
  const h = harness(t);
  await online(h);
  const u = update(1);
  h.autoRestart = false;
  let answered = 0;
  h.server = {
    answer: (_r, offset, length) => (++answered > 24 ? undefined : u.image.slice(offset, offset + length)),
  };
  h.offer("r1", u.envelope, 512);
  // Progress is recorded every 16 blocks: 8192 bytes.
  await until("24 blocks", () => answered > 24);
  // Corrupt what the slot holds inside the recorded prefix (a flash write that never happened): the
  // re-hash at the restart cannot know; the final digest catches it and the slot is emptied.
  h.slots.write(SLOT_FILES[1], 100, new Uint8Array(10).fill(0x55));
  h.serve(u.image);
  h.reboot();
  await until("refused", () => h.statuses().some((s) => s.startsWith("refused")), 15_000);
  t.true(h.statuses().includes("refused:suit-image-digest-mismatch"), h.statuses().join(", "));
  t.is(h.slots.read(SLOT_FILES[1], 0, 1)?.length ?? 0, 0, "the slot is emptied");
  t.is(h.firmware(), "factory 1.0");
});

test("an unhealthy trial build is given up at the deadline and the previous build runs again (rolled-back: update-unhealthy)", async (t) => {
  const h = harness(t, { trust: TRUST, agent: { healthDeadlineMs: 600, healthCheck: () => (h.boots > 1 ? "the relay does not answer" : undefined) } });
  await online(h);
  const u = update(1);
  h.serve(u.image);
  h.offer("r1", u.envelope);
  await until("rolled back", () => h.statuses().some((s) => s.startsWith("rolled-back")), 15_000);
  t.deepEqual(h.statuses().filter((s) => !s.startsWith("downloading")), ["offered", "verified", "installed", "rolled-back:update-unhealthy"]);
  t.is(h.firmware(), "factory 1.0");
  t.is(h.port.boot().state, "rolled-back");
  t.is(h.boots, 3);
  t.true(h.events().includes("update-unhealthy"));
  t.is(birthUpdate(h).get("seq"), 0, "the birth names the build that runs");
  t.is(h.storage.read(RECORD_KEYS.job), undefined);
});

test("a crash in trial (a reset before the health check passed) rolls back at the next boot (rolled-back: update-trial-crashed)", async (t) => {
  const h = harness(t);
  await online(h);
  const u = update(1);
  h.serve(u.image);
  h.autoRestart = false;
  h.offer("r1", u.envelope);
  await until("installed", () => h.restartRequested === 1, 15_000);
  h.linkUp = false; // the trial build never gets online: it cannot pass its health check
  h.reboot();
  t.is(h.port.boot().state, "trial");
  t.is(h.firmware(), "thermostat-sim 0.1.0");
  h.linkUp = true;
  h.reboot(); // the crash
  t.is(h.port.boot().state, "rolled-back");
  t.is(h.firmware(), "factory 1.0");
  await until("rolled back", () => h.statuses().some((s) => s.startsWith("rolled-back")), 15_000);
  t.true(h.statuses().includes("rolled-back:update-trial-crashed"));
  // And the same update can be offered again later (seq 1 is not installed).
  h.autoRestart = true;
  h.offer("r2", u.envelope);
  await until("confirmed", () => h.statuses().includes("confirmed"), 15_000);
  t.is(h.firmware(), "thermostat-sim 0.1.0");
});

test("no rollback below the minimum epoch: a trial build whose predecessor is below it is kept (confirmed: update-no-rollback)", async (t) => {
  const h = harness(t, { trust: trustDocument(KEYS, 2, 0, 2), agent: { healthCheck: () => "never healthy" } });
  await online(h);
  const u = update(1, KEYS.slice(0, 2), { epoch: 2 });
  h.serve(u.image);
  h.offer("r1", u.envelope);
  await until("confirmed", () => h.statuses().some((s) => s.startsWith("confirmed")), 15_000);
  t.true(h.statuses().includes("confirmed:update-no-rollback"), h.statuses().join(", "));
  h.reboot();
  await online(h);
  t.is(h.port.boot().state, "normal", "kept for good: a reset does not roll back");
  t.is(h.firmware(), "thermostat-sim 0.1.0");
});

test("a newer offer during a download supersedes it; an older or equal one is refused as busy", async (t) => {
  const h = harness(t);
  await online(h);
  const one = update(1);
  const two = update(2);
  let answered = 0;
  h.server = { answer: (_r, offset, length) => (++answered < 5 ? one.image.slice(offset, offset + length) : undefined) };
  h.offer("r1", one.envelope, 512);
  await until("downloading", () => answered >= 5);
  h.offer("r0", update(1, KEYS.slice(0, 2), { firmware: "other" }).envelope);
  await until("busy", () => h.statuses().includes("refused:update-busy"));
  h.serve(two.image);
  h.offer("r2", two.envelope, 512);
  await until("confirmed", () => h.statuses().includes("confirmed"), 15_000);
  t.is(h.firmware(), "thermostat-sim 0.2.0");
  t.true(h.statuses().includes("refused:update-superseded"), h.statuses().join(", "));
});
