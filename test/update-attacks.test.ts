// Every update attack of the security model (the threats document of issue 7), against the update agent on a Device (a played broker,
// the file-backed update port over slots in memory): each is refused with its stable code, as a signed
// `refused` status and a security event, and the device keeps running its build with nothing of the
// attack left to boot. Also: the honest path under the same harness, a forged block in the middle of an
// honest download, and a replayed old offer.
import test, { type ExecutionContext } from "ava";
import { decode } from "../sdk/cbor/decode";
import { encode } from "../sdk/cbor/encode";
import { CborTag, type CborMap, type CborValue } from "../sdk/cbor/types";
import { buildManifest, signManifest } from "../sdk/suit/builder";
import { encodeDigest, sha256Digest } from "../sdk/suit/digest";
import { COMMAND, ENVELOPE, MANIFEST, TAG_SUIT_ENVELOPE } from "../sdk/suit/labels";
import { SLOT_FILES } from "../sdk/update/file-port";
import { encodeBlock } from "../sdk/update/messages";
import { RECORD_KEYS } from "../sdk/update/records";
import { nodeCrypto } from "../ports/node/crypto";
import { INTEGRATED_IMAGE } from "../host/server/update-package";
import { AgentHarness, harnessFor, untilOnline } from "./support/agent-harness";
import { until } from "./support/devices";
import { exampleIds, simUpdate, trustDocument, updateKeys } from "./support/updates";

const KEYS = updateKeys(3);
const TRUST = trustDocument(KEYS, 2);
const OTHER = updateKeys(2, "evil");

function harness(t: ExecutionContext, options: ConstructorParameters<typeof AgentHarness>[0] = { trust: TRUST }): AgentHarness {
  return harnessFor(t, options);
}

const online = untilOnline;

/** The refusal arrived as a status and as a security event; the factory build runs; nothing waits to boot. */
async function refused(t: ExecutionContext, h: AgentHarness, code: string): Promise<void> {
  await until(`refused ${code}`, () => h.statuses().find((s) => s.startsWith("refused")), 10_000);
  t.deepEqual(h.statuses().filter((s) => s.startsWith("refused")), [`refused:${code}`], `statuses: ${h.statuses().join(", ")}`);
  t.true(h.events().includes(code), `a security event ${code} (events: ${h.events().join(", ")})`);
  t.is(h.firmware(), "factory 1.0");
  t.is(h.port.boot().state, "normal");
  t.is(h.storage.read(RECORD_KEYS.job), undefined, "no job left");
  t.is(h.slots.read(SLOT_FILES[1], 0, 1)?.length ?? 0, 0, "the inactive slot is empty");
  t.is(h.restartRequested, 0, "no restart");
  t.is(h.agent.state, "idle");
}

function update(seq = 1, options: Partial<Parameters<typeof simUpdate>[0]> = {}) {
  return simUpdate({ app: "thermostat", firmware: `thermostat-sim 0.${seq}.0`, seq, keys: KEYS.slice(0, 2), payloadBytes: 10_000, ...options });
}

/** An envelope around `manifest` signed by `keys` (or with no signature at all). */
function envelopeOf(manifest: Uint8Array, keys: typeof KEYS): Uint8Array {
  if (keys.length > 0) return signManifest(nodeCrypto, manifest, keys);
  const digest = encodeDigest(sha256Digest(nodeCrypto.sha256(encode(manifest))));
  return encode(new CborTag(TAG_SUIT_ENVELOPE, new Map<number, CborValue>([[ENVELOPE.authenticationWrapper, encode([digest])], [ENVELOPE.manifest, manifest]])));
}

function manifestOf(u: ReturnType<typeof update>): Uint8Array {
  const ids = exampleIds("thermostat");
  return buildManifest({ ...ids, sequenceNumber: 1, imageDigest: nodeCrypto.sha256(u.image), imageSize: u.image.length, uri: INTEGRATED_IMAGE });
}

test("the honest update under the harness: offered, downloading, verified, installed, then confirmed on the trial boot", async (t) => {
  const h = harness(t);
  await online(h);
  const u = update(1);
  h.serve(u.image);
  h.offer("r1", u.envelope, 1024);
  await until("confirmed", () => h.statuses().includes("confirmed"), 15_000);
  t.deepEqual(h.statuses().filter((s) => s !== "downloading"), ["offered", "verified", "installed", "confirmed"]);
  t.true(h.statuses().filter((s) => s === "downloading").length >= 5, "progress every 10 %");
  t.is(h.firmware(), "thermostat-sim 0.1.0");
  t.is(h.boots, 2);
  t.is(h.port.boot().state, "trial", "this boot was the trial; confirmed now");
  t.deepEqual(h.events(), []);
  // Only requested blocks, each within the signed size.
  for (const [, offset, length] of h.requests) t.true(offset + length <= u.image.length);
  const birth = h.births().at(-1)!;
  const state = birth.get("update") as CborMap;
  t.is(state.get("seq"), 1);
  t.is(birth.get("firmware"), "thermostat-sim 0.1.0");
  // After a reset the confirmed build stays.
  h.reboot();
  await online(h);
  t.is(h.port.boot().state, "normal");
  t.is(h.firmware(), "thermostat-sim 0.1.0");
});

test("no update trust: every offer is refused (update-no-trust)", async (t) => {
  const h = harness(t, {});
  await online(h);
  t.is(h.agent.state, "no-trust");
  h.offer("r1", update().envelope);
  await until("refused", () => h.statuses().length > 0);
  t.deepEqual(h.statuses(), ["refused:update-no-trust"]);
  t.true(h.events().includes("update-no-trust"));
});

test("an unsigned envelope is refused (suit-unsigned)", async (t) => {
  const h = harness(t);
  await online(h);
  const u = update();
  h.offer("r1", envelopeOf(manifestOf(u), []));
  await refused(t, h, "suit-unsigned");
});

test("signatures by keys the device does not trust are refused (suit-threshold-not-met)", async (t) => {
  const h = harness(t);
  await online(h);
  h.offer("r1", update(1, { keys: OTHER }).envelope);
  await refused(t, h, "suit-threshold-not-met");
});

test("one signature where the threshold is two is refused (suit-threshold-not-met)", async (t) => {
  const h = harness(t);
  await online(h);
  h.offer("r1", update(1, { keys: [KEYS[2]] }).envelope);
  await refused(t, h, "suit-threshold-not-met");
});

test("a tampered manifest is refused before it is parsed (suit-manifest-digest-mismatch)", async (t) => {
  const h = harness(t);
  await online(h);
  const u = update();
  const envelope = decode(u.envelope, { maxLength: 1 << 16, maxStringLength: 1 << 16, maxDepth: 8, maxItems: 64 }) as CborTag;
  const map = envelope.value as Map<number, CborValue>;
  const manifest = (map.get(ENVELOPE.manifest) as Uint8Array).slice();
  manifest[manifest.length - 3] ^= 1;
  map.set(ENVELOPE.manifest, manifest);
  h.offer("r1", encode(envelope));
  await refused(t, h, "suit-manifest-digest-mismatch");
});

test("a manifest for another vendor or class is refused (suit-vendor-mismatch, suit-class-mismatch)", async (t) => {
  for (const [field, code] of [
    ["vendorId", "suit-vendor-mismatch"],
    ["classId", "suit-class-mismatch"],
  ] as const) {
    const h = harness(t);
    await online(h);
    h.offer("r1", update(1, { spec: { [field]: new Uint8Array(16).fill(7) } }).envelope);
    await refused(t, h, code);
    h.stop();
  }
});

test("a sequence number not above the installed one is refused (suit-rollback), and so is a replayed old offer", async (t) => {
  const h = harness(t, { trust: TRUST, agent: { factory: { seq: 5 } } });
  await online(h);
  h.offer("r1", update(3).envelope);
  await refused(t, h, "suit-rollback");
  t.is((h.births()[0].get("update") as CborMap).get("seq"), 5, "the birth names the factory build's sequence number");

  // A replay: the offer of an update already installed, word for word.
  const g = harness(t);
  await online(g);
  const u = update(1);
  g.serve(u.image);
  g.offer("r1", u.envelope);
  await until("confirmed", () => g.statuses().includes("confirmed"), 15_000);
  g.offer("r1", u.envelope);
  await until("the replay refused", () => g.statuses().includes("refused:suit-rollback"));
  t.true(g.events().includes("suit-rollback"));
  t.is(g.firmware(), "thermostat-sim 0.1.0");
  t.is(g.boots, 2, "no restart for a replay");
});

test("a build below the minimum security epoch is refused (suit-below-epoch)", async (t) => {
  const h = harness(t, { trust: trustDocument(KEYS, 2, 0, 3) });
  await online(h);
  h.offer("r1", update(1, { epoch: 2 }).envelope);
  await refused(t, h, "suit-below-epoch");
});

test("an unsupported command in a signed manifest is refused, never skipped (suit-unsupported-command)", async (t) => {
  const h = harness(t);
  await online(h);
  const u = update();
  const manifest = decode(manifestOf(u), { maxLength: 4096, maxStringLength: 4096, maxDepth: 8, maxItems: 64 }) as Map<number, CborValue>;
  const install = decode(manifest.get(MANIFEST.install) as Uint8Array, { maxLength: 4096, maxStringLength: 4096, maxDepth: 8, maxItems: 64 }) as CborValue[];
  manifest.set(MANIFEST.install, encode([COMMAND.swap, 15, ...install]));
  h.serve(u.image);
  h.offer("r1", envelopeOf(encode(manifest), KEYS.slice(0, 2)));
  await refused(t, h, "suit-unsupported-command");
});

test("a fetch from anywhere but the transfer is refused (update-uri-unsupported)", async (t) => {
  const h = harness(t);
  await online(h);
  h.offer("r1", update(1, { spec: { uri: "http://example.com/fw.bin" } }).envelope);
  await refused(t, h, "update-uri-unsupported");
});

test("an image larger than the slot is refused before a byte is fetched (suit-image-too-long)", async (t) => {
  const h = harness(t, { trust: TRUST, capacity: 4096 });
  await online(h);
  h.offer("r1", update().envelope);
  await refused(t, h, "suit-image-too-long");
  t.deepEqual(h.requests, []);
});

test("a server that serves other bytes than the signed image: the digest mismatch empties the slot (suit-image-digest-mismatch)", async (t) => {
  const h = harness(t);
  await online(h);
  const u = update();
  const evil = u.image.slice();
  evil[evil.length - 1] ^= 0xff;
  h.serve(evil);
  h.offer("r1", u.envelope);
  await refused(t, h, "suit-image-digest-mismatch");
  t.true(h.statuses().includes("offered"), "it had been offered and downloaded");
});

test("endless data: a block past the signed size is refused (suit-image-too-long) and the download goes on", async (t) => {
  const h = harness(t);
  await online(h);
  const u = update();
  let pushed = false;
  h.server = {
    answer: (rollout, offset, length) => {
      if (!pushed) {
        pushed = true;
        // The attacker pushes bytes past the end, and a longer block than was asked for.
        setImmediate(() => {
          h.deliver("update/block", encodeBlock({ rollout, offset: u.image.length - 10, data: new Uint8Array(512) }));
          h.deliver("update/block", encodeBlock({ rollout, offset, data: new Uint8Array(length + 1) }));
          h.deliver("update/block", encodeBlock({ rollout, offset: u.image.length, data: new Uint8Array(64 * 1024) }));
        });
      }
      return u.image.slice(offset, offset + length);
    },
  };
  h.offer("r1", u.envelope, 1024);
  await until("confirmed", () => h.statuses().includes("confirmed"), 15_000);
  const events = h.events();
  t.true(events.includes("suit-image-too-long"), `past the end: events ${events.join(", ")}`);
  t.true(events.includes("update-block-unexpected"), "longer than asked for");
  t.true(events.includes("update-offer-malformed"), "larger than any block the device takes: not even decoded");
  t.is(h.firmware(), "thermostat-sim 0.1.0", "the honest image still made it, byte for byte (its digest checked)");
});

// A forged block that does answer an outstanding request is indistinguishable from the server's (blocks
// are not signed: docs/protocol.md section 8); the signed digest catches it (the digest-mismatch test).
test("a forged block (not asked for, or for another rollout) is refused (update-block-unexpected); the download finishes", async (t) => {
  const h = harness(t);
  await online(h);
  const u = update();
  let forged = 0;
  h.server = {
    answer: (rollout, offset, length) => {
      if (forged < 2) {
        forged++;
        setImmediate(() => {
          // Offsets the device never asks for (blocks start at multiples of the block size).
          h.deliver("update/block", encodeBlock({ rollout, offset: offset + 1, data: new Uint8Array(length - 1).fill(0xee) }));
          h.deliver("update/block", encodeBlock({ rollout: "other", offset, data: new Uint8Array(length).fill(0xee) }));
        });
        // The honest answer comes after the forgeries.
        const data = u.image.slice(offset, offset + length);
        setTimeout(() => h.deliver("update/block", encodeBlock({ rollout, offset, data })), 5);
        return undefined;
      }
      return u.image.slice(offset, offset + length);
    },
  };
  h.offer("r1", u.envelope, 1024);
  await until("confirmed", () => h.statuses().includes("confirmed"), 15_000);
  t.true(h.events().filter((c) => c === "update-block-unexpected").length >= 2, `events: ${h.events().join(", ")}`);
  t.is(h.firmware(), "thermostat-sim 0.1.0");
});

test("a malformed offer is refused (update-offer-malformed) and the agent keeps listening", async (t) => {
  const h = harness(t);
  await online(h);
  h.deliver("update/offer", encode({ rollout: "r1", envelope: "not bytes" }));
  await until("event", () => h.events().includes("update-offer-malformed"));
  t.deepEqual(h.statuses(), [], "no status: the offer named nothing that can be trusted");
  const u = update();
  h.serve(u.image);
  h.offer("r1", u.envelope);
  await until("confirmed", () => h.statuses().includes("confirmed"), 15_000);
});
