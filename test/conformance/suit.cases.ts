// SUIT conformance (draft-ietf-suit-manifest-37): the draft's six examples against their published key
// and semantics, one changed byte anywhere, deterministic encoding, the builder, k-of-n update keys,
// every update attack of security-model.md that the manifest layer owns, and the profile's limits.
// Runs on Node and inside XS (synchronous: the interpreter's sync driver with an in-memory host).

import { errorCode, isGatehouseError } from "../../sdk/errors";
import { concatBytes, toHex } from "../../sdk/bytes";
import { decode } from "../../sdk/cbor/decode";
import { encode, utf8 } from "../../sdk/cbor/encode";
import { CborTag, type CborMap, type CborValue } from "../../sdk/cbor/types";
import { sign1, sigStructure, verifySign1 } from "../../sdk/cose/sign1";
import { publicKey, type CoseKey } from "../../sdk/cose/key";
import type { CryptoPort } from "../../sdk/ports/crypto";
import { COMMAND, PARAMETER } from "../../sdk/suit/labels";
import { createUpdateTrust, type UpdateTrust } from "../../sdk/suit/trust";
import { decodeEnvelope, verifyEnvelope, type EnvelopeOptions } from "../../sdk/suit/envelope";
import { parseManifest, type SuitManifest } from "../../sdk/suit/manifest";
import { processManifestSync } from "../../sdk/suit/processor";
import { summarizeManifest } from "../../sdk/suit/inspect";
import { buildEnvelope, buildManifest, signManifest, type GatehouseManifestSpec } from "../../sdk/suit/builder";
import { ImageReceiver } from "../../sdk/suit/receiver";
import { sha256Digest } from "../../sdk/suit/digest";
import type { ConformanceCase, ConformanceEnv } from "./case";
import { check, checkBytes, checkEqual, checkRefused } from "./check";
import {
  CLASS_ID,
  COMPONENT_0,
  ED_KEYS,
  MemoryHost,
  OTHER_ID,
  SUIT_EXAMPLE_KEY,
  VENDOR_ID,
  hexBytes,
  signedManifest,
  streamingSha256,
  trustOf,
  vectorEnvelope,
} from "./suit-support";
import examples from "../fixtures/suit/examples.json" with { type: "json" };
import ecdsa01 from "../fixtures/cose/ecdsa-examples/ecdsa-sig-01.json" with { type: "json" };
import { keyFromVector } from "./vectors";

// ---------------------------------------------------------------------------------------------------
// Helpers

type Example = (typeof examples.examples)[number];
const EXAMPLE_TRUST = (): UpdateTrust => trustOf([SUIT_EXAMPLE_KEY], 1);
/** Another P-256 key (cose-wg ecdsa-sig-01, kid "11"): a trusted key that did not sign the examples. */
const OTHER_ES256: CoseKey = keyFromVector(ecdsa01.input.sign0.key);
const [ED1, ED2, ED3, ED4, ED5] = ED_KEYS;

function verifyAndParse(crypto: CryptoPort, bytes: Uint8Array, trust: UpdateTrust, options?: EnvelopeOptions): SuitManifest {
  return parseManifest(crypto, verifyEnvelope(crypto, bytes, trust, options));
}

/** The envelope's map (a copy), and a way to put it back together. */
function envelopeMap(bytes: Uint8Array): CborMap {
  return new Map((decode(bytes) as CborTag).value as CborMap);
}
function envelopeFrom(map: CborMap): Uint8Array {
  return encode(new CborTag(107, map));
}
/** The authentication wrapper's parts: [encoded digest, ...blocks]. */
function wrapperOf(bytes: Uint8Array): Uint8Array[] {
  return decode(envelopeMap(bytes).get(2) as Uint8Array) as Uint8Array[];
}
function withWrapper(bytes: Uint8Array, parts: Uint8Array[]): Uint8Array {
  const map = envelopeMap(bytes);
  map.set(2, encode(parts));
  return envelopeFrom(map);
}
function withBlocks(bytes: Uint8Array, change: (blocks: Uint8Array[]) => Uint8Array[]): Uint8Array {
  const [digest, ...blocks] = wrapperOf(bytes);
  return withWrapper(bytes, [digest, ...change(blocks)]);
}

function bstr(value: CborValue): Uint8Array {
  return encode(value);
}

const SAMPLE_DIGEST = hexBytes("00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210");

/** The draft-style shared sequence: vendor, class, digest, size, then the two identity checks. */
function sharedSequence(digest: Uint8Array = SAMPLE_DIGEST, size = 34768): CborValue[] {
  return [
    COMMAND.overrideParameters,
    new Map<number, CborValue>([
      [PARAMETER.vendorId, VENDOR_ID],
      [PARAMETER.classId, CLASS_ID],
      [PARAMETER.imageDigest, bstr([-16, digest])],
      [PARAMETER.imageSize, size],
    ]),
    COMMAND.vendorIdentifier,
    15,
    COMMAND.classIdentifier,
    15,
  ];
}

interface ManifestParts {
  seq?: number;
  version?: CborValue;
  components?: CborValue[];
  shared?: CborValue[] | null;
  validate?: CborValue[];
  load?: CborValue[];
  invoke?: CborValue[];
  install?: CborValue[];
  extra?: [number, CborValue][];
}

/** A hand-made manifest map: one component [h'00'] and the draft-style shared sequence by default. */
function manifestMap(parts: ManifestParts = {}): CborMap {
  const common = new Map<number, CborValue>([[2, parts.components ?? [COMPONENT_0.slice()]]]);
  if (parts.shared !== null) common.set(4, bstr(parts.shared ?? sharedSequence()));
  const map = new Map<number, CborValue>([
    [1, parts.version ?? 1],
    [2, parts.seq ?? 1],
    [3, bstr(common)],
  ]);
  if (parts.validate) map.set(7, bstr(parts.validate));
  if (parts.load) map.set(8, bstr(parts.load));
  if (parts.invoke) map.set(9, bstr(parts.invoke));
  if (parts.install) map.set(20, bstr(parts.install));
  for (const [key, value] of parts.extra ?? []) map.set(key, value);
  return map;
}

/** Refused with exactly `code` when signed, verified, parsed (and run, if `run` is given). */
function refusedManifest(env: ConformanceEnv, parts: ManifestParts, code: string, what: string): void {
  checkRefused(() => signedManifest(env.crypto, manifestMap(parts)), code, what);
}

/** Refused by verify + parse with a typed (non-internal) code: never accepted, never a crash. */
function checkTamperRefused(env: ConformanceEnv, bytes: Uint8Array, position: number, trust: UpdateTrust, what: string): void {
  const tampered = bytes.slice();
  tampered[position] ^= 0x01;
  let accepted = false;
  try {
    summarizeManifest(verifyAndParse(env.crypto, tampered, trust));
    accepted = true;
  } catch (e) {
    check(isGatehouseError(e), `${what}: byte ${position} changed: untyped error ${(e as Error).message}`);
    check(errorCode(e) !== "internal", `${what}: byte ${position} changed: internal error ${(e as Error).message}`);
  }
  check(!accepted, `${what}: an envelope with byte ${position} changed was accepted`);
}

/** Every bstr that holds CBOR (strictly decodable) must re-encode to itself, recursively. */
function checkDeterministic(bytes: Uint8Array, what: string, depth = 0): number {
  const value = decode(bytes);
  checkBytes(encode(value), bytes, `${what} re-encoded`);
  let checked = 1;
  const visit = (item: CborValue): void => {
    if (item instanceof Uint8Array) {
      let inner: CborValue;
      try {
        inner = decode(item);
      } catch {
        return; // raw bytes (a digest, a signature, suit-text with array keys)
      }
      void inner;
      if (depth < 8) checked += checkDeterministic(item, `${what} > bstr`, depth + 1);
    } else if (Array.isArray(item)) item.forEach(visit);
    else if (item instanceof Map) item.forEach((v) => visit(v));
    else if (item instanceof CborTag) visit(item.value);
  };
  visit(value);
  return checked;
}

function gatehouseSpec(crypto: CryptoPort, image: Uint8Array, overrides: Partial<GatehouseManifestSpec> = {}): GatehouseManifestSpec {
  return { sequenceNumber: 7, vendorId: VENDOR_ID, classId: CLASS_ID, imageDigest: crypto.sha256(image), imageSize: image.length, securityEpoch: 2, ...overrides };
}

/** A 2500-byte image: several fetch pieces of 1000 bytes. */
function testImage(seed = 1): Uint8Array {
  const image = new Uint8Array(2500);
  for (let i = 0; i < image.length; i++) image[i] = (i * 31 + seed * 17) & 0xff;
  return image;
}

/** A Gatehouse manifest for `image`, signed by ed1 and ready to run. */
function gatehouseManifest(env: ConformanceEnv, image: Uint8Array, overrides: Partial<GatehouseManifestSpec> = {}): SuitManifest {
  const envelope = buildEnvelope(env.crypto, gatehouseSpec(env.crypto, image, overrides), [ED1]);
  return verifyAndParse(env.crypto, envelope, trustOf([ED1], 1));
}

function hostWith(env: ConformanceEnv, payload?: Uint8Array, uri = ""): MemoryHost {
  const host = new MemoryHost(env.crypto);
  if (payload !== undefined) host.payloads.set(uri, payload);
  return host;
}

// ---------------------------------------------------------------------------------------------------
// The published examples

function exampleCases(example: Example): ConformanceCase[] {
  const title = example.name;
  return [
    {
      name: `suit vector verifies with the published key: ${title}`,
      run(env) {
        const bytes = vectorEnvelope(example.file);
        const envelope = verifyEnvelope(env.crypto, bytes, EXAMPLE_TRUST());
        checkEqual(envelope.signers.length, 1, "signers");
        checkBytes(envelope.signers[0].x, SUIT_EXAMPLE_KEY.x, "signer");
        checkEqual(toHex(envelope.manifestDigest.bytes), example.manifest_digest.bytes, "manifest digest");
        // The detached payload is the encoded SUIT_Digest: the Sig_structure the draft signed.
        const block = (decode(envelope.authenticationBlocks[0]) as CborTag).value as CborValue[];
        checkEqual(toHex(block[0] as Uint8Array), example.authentication.protected, "protected header");
        checkEqual(block[2], null, "payload is detached");
        checkEqual(toHex(block[3] as Uint8Array), example.authentication.signature, "signature");
        checkEqual(toHex(sigStructure(block[0] as Uint8Array, new Uint8Array(0), envelope.signedDigest)), example.authentication.sig_structure, "Sig_structure");
      },
    },
    {
      name: `suit vector reports its parameters as published: ${title}`,
      run(env) {
        const manifest = verifyAndParse(env.crypto, vectorEnvelope(example.file), EXAMPLE_TRUST());
        checkEqual(manifest.version, example.manifest_version, "version");
        checkEqual(manifest.sequenceNumber, example.sequence_number, "sequence number");
        checkEqual(manifest.components.length, example.components.length, "components");
        checkEqual(manifest.referenceUri, (example as { reference_uri?: string }).reference_uri, "reference URI");
        for (const [slot, summary] of [0, 1].map((s) => [s, summarizeManifest(manifest, { slot: s })] as const)) {
          checkEqual(summary.procedures.update, "ok", "update procedure (dry run)");
          checkEqual(summary.procedures.invoke, "ok", "invoke procedure (dry run)");
          for (const expected of example.components) {
            const got = summary.components[expected.index];
            const what = `component ${expected.index} (slot ${slot})`;
            checkEqual(toHex(manifest.components[expected.index][0]), expected.component_id[0], `${what} id`);
            const e = expected as {
              slots?: { component_slot: number; image_digest: { bytes: string }; image_size: number; uri: string }[];
              image_digest?: { bytes: string };
              image_size?: number | null;
              uri?: string;
              vendor_id_checked?: boolean;
              class_id_checked?: boolean;
            };
            const source = e.slots ? e.slots.find((s) => s.component_slot === slot) : e;
            if (source === undefined) throw new Error(`no slot ${slot} in examples.json`);
            checkEqual(got.imageDigest && toHex(got.imageDigest.bytes), source.image_digest?.bytes, `${what} image digest`);
            checkEqual(got.imageSize, source.image_size ?? undefined, `${what} image size`);
            checkEqual(got.uri, source.uri, `${what} uri`);
            checkEqual(got.vendorIdChecked, e.vendor_id_checked === true, `${what} vendor checked`);
            checkEqual(got.classIdChecked, e.class_id_checked === true, `${what} class checked`);
            if (e.vendor_id_checked) checkEqual(got.vendorId && toHex(got.vendorId), example.vendor_id, `${what} vendor id`);
            if (e.class_id_checked) checkEqual(got.classId && toHex(got.classId), example.class_id, `${what} class id`);
          }
        }
      },
    },
    {
      name: `suit vector is in deterministic encoding, nested structures too: ${title}`,
      run() {
        const checked = checkDeterministic(vectorEnvelope(example.file), example.file);
        check(checked >= 6, `only ${checked} structures checked`);
      },
    },
    {
      name: `suit vector with one changed byte anywhere is refused: ${title}`,
      run(env) {
        const bytes = vectorEnvelope(example.file);
        const trust = EXAMPLE_TRUST();
        // Node: every position. XS: a fixed spread of about 96 (a signature check costs millions of
        // computrons in pure-JS ECDSA), which still covers the head, the wrapper, the signature and the
        // manifest.
        const step = env.platform === "node" ? 1 : Math.ceil(bytes.length / 96);
        let tried = 0;
        for (let i = 0; i < bytes.length; i += step) {
          checkTamperRefused(env, bytes, i, trust, example.file);
          tried++;
        }
        checkTamperRefused(env, bytes, bytes.length - 1, trust, example.file);
        checkEqual(tried, env.platform === "node" ? bytes.length : Math.ceil(bytes.length / step), "positions tried");
      },
    },
  ];
}

const vectorCases: ConformanceCase[] = [
  ...examples.examples.flatMap(exampleCases),
  ...examples.examples.flatMap((example): ConformanceCase[] =>
    example.variants
      .filter((v) => v.file.indexOf("without-cose-auth") >= 0)
      .map((variant) => ({
        name: `suit vector without COSE authentication is refused: ${variant.file}`,
        run(env) {
          const bytes = vectorEnvelope(variant.file);
          // It decodes and its digest matches: only the missing signature stops it.
          const envelope = decodeEnvelope(env.crypto, bytes);
          checkEqual(toHex(envelope.manifestDigest.bytes), example.manifest_digest.bytes, "manifest digest");
          checkEqual(envelope.authenticationBlocks.length, 0, "authentication blocks");
          checkRefused(() => verifyEnvelope(env.crypto, bytes, EXAMPLE_TRUST()), "suit-unsigned", variant.file);
          checkRefused(() => parseManifest(env.crypto, envelope as never), "suit-not-verified", "parse without verifying");
        },
      })),
  ),
  {
    name: "suit vector: example 2 without its severable members verifies, but cannot install",
    run(env) {
      const manifest = verifyAndParse(env.crypto, vectorEnvelope("variants/example2-with-cose-auth-without-severable.hex"), EXAMPLE_TRUST());
      checkEqual(manifest.severed.join(","), "install,text", "severed members");
      checkEqual(manifest.text, undefined, "text");
      const host = new MemoryHost(env.crypto);
      checkRefused(() => processManifestSync(manifest, host, "update"), "suit-sequence-missing", "update without suit-install");
      checkEqual(summarizeManifest(manifest).procedures.invoke, "ok", "invocation needs no severed member");
    },
  },
  {
    name: "suit vector: example 2's severed members are digest-checked, and a replaced one is refused",
    run(env) {
      const bytes = vectorEnvelope("example2.hex");
      const manifest = verifyAndParse(env.crypto, bytes, EXAMPLE_TRUST());
      checkEqual(manifest.severed.length, 0, "nothing missing");
      check(manifest.sequences.has("install"), "install delivered by the envelope");
      check(manifest.text !== undefined && manifest.text.length > 100, "text delivered by the envelope");
      const map = envelopeMap(bytes);
      map.set(23, bstr(new Map([["en-US", new Map([[1, "a different description"]])]])));
      checkRefused(() => verifyAndParse(env.crypto, envelopeFrom(map), EXAMPLE_TRUST()), "suit-severable-digest-mismatch", "replaced suit-text");
      const install = envelopeMap(bytes);
      install.set(20, bstr([COMMAND.invoke, 2]));
      checkRefused(() => verifyAndParse(env.crypto, envelopeFrom(install), EXAMPLE_TRUST()), "suit-severable-digest-mismatch", "replaced suit-install");
    },
  },
  {
    name: "suit: an envelope member the manifest does not name by digest is refused (unauthenticated)",
    run(env) {
      const map = envelopeMap(vectorEnvelope("example0.hex"));
      map.set(20, bstr([COMMAND.fetch, 2]));
      // Signature and manifest digest still hold: only the manifest parse can catch this.
      verifyEnvelope(env.crypto, envelopeFrom(map), EXAMPLE_TRUST());
      checkRefused(() => verifyAndParse(env.crypto, envelopeFrom(map), EXAMPLE_TRUST()), "suit-severable-unauthenticated", "extra suit-install");
    },
  },
  {
    name: "suit vector: example 3 picks its image by slot, and a device in neither slot is refused",
    run(env) {
      const manifest = verifyAndParse(env.crypto, vectorEnvelope("example3.hex"), EXAMPLE_TRUST());
      const host = new MemoryHost(env.crypto);
      host.slot = 2;
      checkRefused(() => processManifestSync(manifest, host, "update"), "suit-slot-mismatch", "slot 2");
      checkEqual(host.log.length, 0, "nothing fetched");
      host.slot = undefined;
      checkRefused(() => processManifestSync(manifest, host, "update"), "suit-slot-mismatch", "no slots");
    },
  },
];

// ---------------------------------------------------------------------------------------------------
// COSE_Sign1 with detached payloads (the sign1.ts extension SUIT needs)

const detachedCases: ConformanceCase[] = [
  {
    name: "cose detached payload: sign carries nil, verify needs the payload, requireDetached refuses an attached one",
    run(env) {
      const payload = utf8("the encoded SUIT_Digest");
      const detached = sign1(env.crypto, ED1, payload, { detached: true });
      checkEqual(((decode(detached) as CborTag).value as CborValue[])[2], null, "payload slot");
      checkBytes(verifySign1(env.crypto, detached, ED1, { detachedPayload: payload, requireDetached: true }).payload, payload, "verified payload");
      checkRefused(() => verifySign1(env.crypto, detached, ED1), "cose-detached-payload", "no payload supplied");
      checkRefused(() => verifySign1(env.crypto, detached, ED1, { detachedPayload: utf8("other") }), "bad-signature", "another payload");
      const attached = sign1(env.crypto, ED1, payload);
      checkRefused(() => verifySign1(env.crypto, attached, ED1, { detachedPayload: payload, requireDetached: true }), "cose-attached-payload", "attached");
      // Without requireDetached an attached payload is used as before.
      checkBytes(verifySign1(env.crypto, attached, ED1).payload, payload, "attached, as before");
    },
  },
];

// ---------------------------------------------------------------------------------------------------
// k of n update keys

const ED_TRUST = (threshold: number): UpdateTrust => trustOf([ED1, ED2, ED3], threshold);

function gatehouseEnvelope(env: ConformanceEnv, keys: readonly CoseKey[]): Uint8Array {
  return buildEnvelope(env.crypto, gatehouseSpec(env.crypto, testImage()), keys);
}

function thresholdRefusal(env: ConformanceEnv, bytes: Uint8Array, trust: UpdateTrust, what: string): { index: number; code?: string; signer?: CoseKey }[] {
  const error = checkRefused(() => verifyEnvelope(env.crypto, bytes, trust), "suit-threshold-not-met", what) as { detail: { index: number; code?: string; signer?: CoseKey }[] };
  return error.detail;
}

const thresholdCases: ConformanceCase[] = [
  {
    name: "suit k-of-n: 2 of 3 distinct update keys verify; the signers are reported",
    run(env) {
      const envelope = verifyEnvelope(env.crypto, gatehouseEnvelope(env, [ED1, ED2]), ED_TRUST(2));
      checkEqual(envelope.signers.map((k) => toHex(k.kid)).join(","), `${toHex(ED1.kid)},${toHex(ED2.kid)}`, "signers");
      checkEqual(envelope.signatures.filter((s) => s.code === undefined).length, 2, "counted blocks");
      verifyEnvelope(env.crypto, gatehouseEnvelope(env, [ED3, ED1, ED2]), ED_TRUST(3));
    },
  },
  {
    name: "suit k-of-n: below the threshold is refused",
    run(env) {
      const outcomes = thresholdRefusal(env, gatehouseEnvelope(env, [ED1]), ED_TRUST(2), "one of two");
      checkEqual(outcomes.length, 1, "outcomes");
      checkBytes((outcomes[0].signer as CoseKey).kid, ED1.kid, "the one signer is reported");
      thresholdRefusal(env, gatehouseEnvelope(env, [ED1, ED2]), ED_TRUST(3), "two of three");
    },
  },
  {
    name: "suit k-of-n: a duplicate signer counts once",
    run(env) {
      const once = gatehouseEnvelope(env, [ED1]);
      const twice = withBlocks(once, (blocks) => [blocks[0], blocks[0]]);
      const outcomes = thresholdRefusal(env, twice, ED_TRUST(2), "the same block twice");
      checkEqual(outcomes[1].code, "suit-duplicate-signer", "second block");
      // A second, different signature by the same key (re-signed) counts once too.
      const resigned = withBlocks(once, (blocks) => [blocks[0], sign1(env.crypto, ED1, wrapperOf(once)[0], { detached: true })]);
      checkEqual(thresholdRefusal(env, resigned, ED_TRUST(2), "re-signed")[1].code, "suit-duplicate-signer", "re-signed block");
      checkRefused(() => signManifest(env.crypto, encode(manifestMap()), [ED1, ED1]), "suit-duplicate-signer", "the builder signs with a key once");
    },
  },
  {
    name: "suit k-of-n: unknown and bad signatures do not count and are reported",
    run(env) {
      const unknown = thresholdRefusal(env, gatehouseEnvelope(env, [ED1, ED4]), ED_TRUST(2), "a stranger's signature");
      checkEqual(unknown[1].code, "unknown-kid", "stranger");
      const good = gatehouseEnvelope(env, [ED1, ED2]);
      const bad = withBlocks(good, (blocks) => {
        const parts = ((decode(blocks[1]) as CborTag).value as CborValue[]).slice();
        const signature = (parts[3] as Uint8Array).slice();
        signature[10] ^= 0x01;
        parts[3] = signature;
        return [blocks[0], encode(new CborTag(18, parts))];
      });
      checkEqual(thresholdRefusal(env, bad, ED_TRUST(2), "a bad signature")[1].code, "bad-signature", "bad signature");
      const strangers = thresholdRefusal(env, gatehouseEnvelope(env, [ED4, ED5]), ED_TRUST(1), "only strangers");
      checkEqual(strangers.map((o) => o.code).join(","), "unknown-kid,unknown-kid", "strangers");
      // Unknown blocks beside enough good ones: accepted, and still reported.
      const mixed = verifyEnvelope(env.crypto, gatehouseEnvelope(env, [ED4, ED1, ED2]), ED_TRUST(2));
      checkEqual(mixed.signatures[0].code, "unknown-kid", "reported stranger");
      checkEqual(mixed.signers.length, 2, "signers");
    },
  },
  {
    name: "suit k-of-n: blocks without a kid are matched against each key (the draft's examples)",
    run(env) {
      const bytes = vectorEnvelope("example0.hex");
      const envelope = verifyEnvelope(env.crypto, bytes, trustOf([ED1, OTHER_ES256, SUIT_EXAMPLE_KEY], 1));
      checkBytes(envelope.signers[0].x, SUIT_EXAMPLE_KEY.x, "matched the example key");
      const twice = withBlocks(bytes, (blocks) => [blocks[0], blocks[0]]);
      const outcomes = thresholdRefusal(env, twice, trustOf([SUIT_EXAMPLE_KEY, OTHER_ES256], 2), "one kid-less signer twice");
      checkEqual(outcomes[1].code, "suit-duplicate-signer", "second kid-less block");
      checkEqual(thresholdRefusal(env, bytes, trustOf([OTHER_ES256], 1), "no matching key")[0].code, "bad-signature", "no key matches");
      checkEqual(thresholdRefusal(env, bytes, trustOf([ED1], 1), "no key of its algorithm")[0].code, "alg-not-allowed", "no ES256 key");
    },
  },
  {
    name: "suit k-of-n: trying keys for kid-less blocks is bounded by a verification budget",
    run(env) {
      const bytes = vectorEnvelope("example0.hex");
      // The other key comes first: one failed verification spends the whole budget.
      const trust = trustOf([OTHER_ES256, SUIT_EXAMPLE_KEY], 1);
      const outcomes = (checkRefused(() => verifyEnvelope(env.crypto, bytes, trust, { limits: { maxVerifications: 1 } }), "suit-threshold-not-met", "budget 1") as {
        detail: { code?: string }[];
      }).detail;
      checkEqual(outcomes[0].code, "suit-verification-budget", "budget spent");
      verifyEnvelope(env.crypto, bytes, trust, { limits: { maxVerifications: 2 } });
    },
  },
  {
    name: "suit k-of-n: too many authentication blocks are refused before any is checked",
    run(env) {
      const one = gatehouseEnvelope(env, [ED1]);
      const nine = withBlocks(one, (blocks) => new Array<Uint8Array>(9).fill(blocks[0]));
      checkRefused(() => verifyEnvelope(env.crypto, nine, ED_TRUST(1)), "suit-too-many-signatures", "nine blocks");
      checkRefused(() => verifyEnvelope(env.crypto, one, ED_TRUST(1), { limits: { maxSignatures: 0 } }), "suit-config", "a limit of 0");
    },
  },
  {
    name: "suit k-of-n: an attached payload, an untagged block or another manifest's signature does not count",
    run(env) {
      const one = gatehouseEnvelope(env, [ED1]);
      const [digest] = wrapperOf(one);
      const attached = withBlocks(one, () => [sign1(env.crypto, ED1, digest)]);
      checkEqual(thresholdRefusal(env, attached, ED_TRUST(1), "attached")[0].code, "cose-attached-payload", "attached payload");
      const untagged = withBlocks(one, () => [sign1(env.crypto, ED1, digest, { detached: true, tagged: false })]);
      checkEqual(thresholdRefusal(env, untagged, ED_TRUST(1), "untagged")[0].code, "cose-untagged", "untagged block");
      // Mix and match: example 0's signature in example 1's envelope.
      const stolen = wrapperOf(vectorEnvelope("example0.hex"))[1];
      const mixed = withBlocks(vectorEnvelope("example1.hex"), () => [stolen]);
      checkEqual(thresholdRefusal(env, mixed, EXAMPLE_TRUST(), "mix and match")[0].code, "bad-signature", "another manifest's signature");
      const garbage = withBlocks(one, () => [Uint8Array.of(0xff)]);
      check(thresholdRefusal(env, garbage, ED_TRUST(1), "garbage")[0].code !== undefined, "garbage block reported");
    },
  },
  {
    name: "suit update trust: k of n is checked when the trust is made",
    run(env) {
      void env;
      checkRefused(() => createUpdateTrust([], 1), "suit-trust-invalid", "no keys");
      checkRefused(() => createUpdateTrust([ED1, ED2], 0), "suit-trust-invalid", "threshold 0");
      checkRefused(() => createUpdateTrust([ED1, ED2], 3), "suit-trust-invalid", "threshold above n");
      checkRefused(() => createUpdateTrust([ED1, { ...ED1, kid: utf8("ed1-again") }], 2), "suit-trust-invalid", "one key under two kids");
      checkRefused(() => createUpdateTrust([ED1, { ...ED2, kid: ED1.kid }], 1), "suit-trust-invalid", "one kid for two keys");
      checkRefused(() => createUpdateTrust(new Array<CoseKey>(9).fill(ED1).map((k, i) => ({ ...k, kid: utf8(`k${i}`), x: Uint8Array.of(i) })), 1), "suit-trust-invalid", "nine keys");
      const handMade: UpdateTrust = { keys: [publicKey(ED1), { ...publicKey(ED1), kid: utf8("twin") }], threshold: 2 };
      checkRefused(() => verifyEnvelope(env.crypto, gatehouseEnvelope(env, [ED1]), handMade), "suit-trust-invalid", "a trust not made by createUpdateTrust");
      check(Object.isFrozen(ED_TRUST(1)) && Object.isFrozen(ED_TRUST(1).keys), "frozen");
    },
  },
];

// ---------------------------------------------------------------------------------------------------
// The envelope's own refusals

const envelopeCases: ConformanceCase[] = [
  {
    name: "suit envelope: not tag 107, unknown members and integrated payloads are refused",
    run(env) {
      const bytes = vectorEnvelope("example0.hex");
      const map = envelopeMap(bytes);
      checkRefused(() => verifyEnvelope(env.crypto, encode(map), EXAMPLE_TRUST()), "suit-not-envelope", "untagged");
      checkRefused(() => verifyEnvelope(env.crypto, encode(new CborTag(18, map)), EXAMPLE_TRUST()), "suit-not-envelope", "tag 18");
      checkRefused(() => verifyEnvelope(env.crypto, encode(new CborTag(107, [1])), EXAMPLE_TRUST()), "suit-not-envelope", "tag 107 over an array");
      const unknown = envelopeMap(bytes);
      unknown.set(99, new Uint8Array(1));
      checkRefused(() => verifyEnvelope(env.crypto, envelopeFrom(unknown), EXAMPLE_TRUST()), "suit-unsupported-member", "member 99");
      const integrated = envelopeMap(bytes);
      integrated.set("file.bin", new Uint8Array(4));
      checkRefused(() => verifyEnvelope(env.crypto, envelopeFrom(integrated), EXAMPLE_TRUST()), "suit-unsupported-member", "integrated payload");
      const noManifest = envelopeMap(bytes);
      noManifest.delete(3);
      checkRefused(() => verifyEnvelope(env.crypto, envelopeFrom(noManifest), EXAMPLE_TRUST()), "suit-malformed", "no manifest");
      const notBytes = envelopeMap(bytes);
      notBytes.set(3, 5);
      checkRefused(() => verifyEnvelope(env.crypto, envelopeFrom(notBytes), EXAMPLE_TRUST()), "suit-malformed", "manifest not a bstr");
    },
  },
  {
    name: "suit envelope: the manifest digest is checked first, SHA-256 only",
    run(env) {
      const bytes = vectorEnvelope("example0.hex");
      const [digest, ...blocks] = wrapperOf(bytes);
      const [, digestBytes] = decode(digest) as [number, Uint8Array];
      const sha512 = withWrapper(bytes, [encode([-44, digestBytes]), ...blocks]);
      checkRefused(() => verifyEnvelope(env.crypto, sha512, EXAMPLE_TRUST()), "suit-unsupported-digest", "SHA-512 digest");
      const wrong = digestBytes.slice();
      wrong[0] ^= 1;
      const mismatch = withWrapper(bytes, [encode([-16, wrong]), ...blocks]);
      checkRefused(() => verifyEnvelope(env.crypto, mismatch, EXAMPLE_TRUST()), "suit-manifest-digest-mismatch", "wrong digest");
      // Another manifest under example 0's wrapper: refused by its digest before any signature math.
      const map = envelopeMap(bytes);
      map.set(3, envelopeMap(vectorEnvelope("example1.hex")).get(3) as Uint8Array);
      checkRefused(() => verifyEnvelope(env.crypto, envelopeFrom(map), EXAMPLE_TRUST()), "suit-manifest-digest-mismatch", "swapped manifest");
      checkRefused(() => verifyEnvelope(env.crypto, withWrapper(bytes, []), EXAMPLE_TRUST()), "suit-malformed", "empty wrapper");
    },
  },
  {
    name: "suit envelope: what was verified cannot change afterwards, even if the caller reuses its buffer",
    run(env) {
      const image = testImage();
      const buffer = buildEnvelope(env.crypto, gatehouseSpec(env.crypto, image), [ED1]);
      const envelope = verifyEnvelope(env.crypto, buffer, trustOf([ED1], 1));
      const manifestBefore = envelope.manifest.slice();
      buffer.fill(0); // the transport reuses its receive buffer for the next message
      checkBytes(envelope.manifest, manifestBefore, "the verified manifest");
      const manifest = parseManifest(env.crypto, envelope);
      const host = hostWith(env, image);
      processManifestSync(manifest, host, "update");
      checkBytes(host.images.get(0) as Uint8Array, image, "installed against the verified digest");
    },
  },
  {
    name: "suit envelope: limits on length and strings, from the strict decoder",
    run(env) {
      const bytes = vectorEnvelope("example0.hex");
      checkRefused(() => verifyEnvelope(env.crypto, bytes, EXAMPLE_TRUST(), { limits: { maxEnvelopeBytes: 200 } }), "cbor-too-long", "envelope over the limit");
      checkRefused(() => verifyEnvelope(env.crypto, bytes, EXAMPLE_TRUST(), { limits: { maxManifestBytes: 100 } }), "cbor-string-too-long", "manifest over the limit");
      checkRefused(() => verifyEnvelope(env.crypto, bytes.subarray(0, bytes.length - 1), EXAMPLE_TRUST()), "cbor-truncated", "truncated");
      checkRefused(() => verifyEnvelope(env.crypto, concatBytes(bytes, Uint8Array.of(0)), EXAMPLE_TRUST()), "cbor-trailing-bytes", "trailing byte");
    },
  },
];

// ---------------------------------------------------------------------------------------------------
// Manifest parsing: the profile and its limits

const SEQ_FETCH: CborValue[] = [COMMAND.fetch, 2, COMMAND.imageMatch, 15];

const parseCases: ConformanceCase[] = [
  {
    name: "suit manifest: version, sequence number and members are checked",
    run(env) {
      refusedManifest(env, { version: 2 }, "suit-manifest-version", "version 2");
      refusedManifest(env, { seq: -1 }, "suit-malformed", "negative sequence number");
      refusedManifest(env, { extra: [[5, 0]] }, "suit-unsupported-member", "unknown member 5");
      refusedManifest(env, { extra: [[-1, 0]] }, "suit-unsupported-member", "negative member");
      refusedManifest(env, { components: [] }, "suit-malformed", "no components");
      refusedManifest(env, { components: [COMPONENT_0.slice(), COMPONENT_0.slice()] }, "suit-malformed", "one component twice");
      refusedManifest(env, { components: [[1], [2], [3], [4], [5]].map((id) => [Uint8Array.from(id)]) }, "suit-too-many-components", "five components");
      // Keys beyond 2^53 decode as bigints: refused with their code, named in the message.
      const big = manifestMap();
      big.set(18446744073709551615n, 0);
      checkRefused(() => signedManifest(env.crypto, big), "suit-unsupported-member", "a 64-bit member key");
      refusedManifest(env, { install: [COMMAND.overrideParameters, new Map([[18446744073709551615n, 0]])] }, "suit-malformed", "a 64-bit parameter label");
      const manifest = signedManifest(env.crypto, manifestMap({ seq: 42, extra: [[4, "https://example.com/m"]] }));
      checkEqual(manifest.sequenceNumber, 42, "sequence number");
      checkEqual(manifest.referenceUri, "https://example.com/m", "reference URI");
      check(manifest.verified, "verified");
    },
  },
  {
    name: "suit manifest: unsupported commands are refused, never skipped",
    run(env) {
      const cases: [CborValue[], string][] = [
        [[COMMAND.write, 2], "write"],
        [[COMMAND.swap, 2], "swap"],
        [[COMMAND.checkContent, 15], "check-content"],
        [[19, new Map([[PARAMETER.uri, "x"]])], "set-parameters (19, not in draft -37)"],
        [[-300, 0], "a custom command"],
        [[99, 0], "an unknown command"],
      ];
      for (const [commands, what] of cases) {
        refusedManifest(env, { validate: commands }, "suit-unsupported-command", what);
        // Also when nested where no procedure would reach it.
        refusedManifest(env, { load: [COMMAND.tryEach, [bstr([COMMAND.abort, 0]), bstr(commands)]] }, "suit-unsupported-command", `${what} in try-each`);
      }
    },
  },
  {
    name: "suit manifest: unsupported parameters are refused",
    run(env) {
      const cases: [number, CborValue, string][] = [
        [PARAMETER.content, new Uint8Array(4), "content"],
        [PARAMETER.fetchArguments, new Uint8Array(4), "fetch-arguments"],
        [-300, 1, "a custom parameter"],
        [99, 1, "an unknown parameter"],
        [PARAMETER.vendorId, new CborTag(112, Uint8Array.of(1, 2)), "a vendor id as a CBOR PEN"],
      ];
      for (const [label, value, what] of cases) {
        refusedManifest(env, { install: [COMMAND.overrideParameters, new Map([[label, value]]), ...SEQ_FETCH] }, "suit-unsupported-parameter", what);
      }
      refusedManifest(env, { install: [COMMAND.overrideParameters, new Map([[PARAMETER.vendorId, Uint8Array.of(1)]])] }, "suit-malformed", "a 1-byte UUID");
      refusedManifest(env, { install: [COMMAND.overrideParameters, new Map()] }, "suit-malformed", "no parameters");
      refusedManifest(env, { install: [COMMAND.overrideParameters, new Map([[PARAMETER.imageSize, -1]])] }, "suit-malformed", "negative size");
      refusedManifest(env, { install: [COMMAND.overrideParameters, new Map([[PARAMETER.sourceComponent, 1]])] }, "suit-malformed", "source component out of range");
      refusedManifest(env, { install: [COMMAND.overrideParameters, new Map([[PARAMETER.uri, "x".repeat(257)]])] }, "suit-malformed", "a 257-byte URI");
      const digest = bstr([-44, new Uint8Array(64)]);
      refusedManifest(env, { install: [COMMAND.overrideParameters, new Map([[PARAMETER.imageDigest, digest]])] }, "suit-unsupported-digest", "SHA-512 image digest");
    },
  },
  {
    name: "suit manifest: the shared sequence holds no directive and no custom parameter; soft-failure only nested",
    run(env) {
      refusedManifest(env, { shared: [...sharedSequence(), COMMAND.fetch, 2] }, "suit-malformed", "fetch in the shared sequence");
      refusedManifest(env, { shared: [...sharedSequence(), COMMAND.overrideParameters, new Map([[PARAMETER.securityEpoch, 1]])] }, "suit-malformed", "epoch in the shared sequence");
      refusedManifest(
        env,
        { shared: [...sharedSequence(), COMMAND.tryEach, [bstr([COMMAND.overrideParameters, new Map([[PARAMETER.securityEpoch, 1]])]), bstr([COMMAND.abort, 0])]] },
        "suit-malformed",
        "epoch in a try-each of the shared sequence",
      );
      refusedManifest(env, { validate: [COMMAND.overrideParameters, new Map([[PARAMETER.softFailure, true]])] }, "suit-malformed", "soft-failure at the top");
      refusedManifest(env, { validate: [COMMAND.imageMatch, 16] }, "suit-malformed", "reporting policy bit 4");
      refusedManifest(env, { validate: [COMMAND.imageMatch] }, "suit-malformed", "a command without argument");
      refusedManifest(env, { validate: [COMMAND.setComponentIndex, 1] }, "suit-malformed", "component index out of range");
      refusedManifest(env, { validate: [COMMAND.tryEach, [bstr([COMMAND.abort, 0])]] }, "suit-malformed", "try-each with one alternative");
      refusedManifest(env, { validate: [COMMAND.tryEach, [null, bstr([COMMAND.abort, 0]), bstr([COMMAND.abort, 0])]] }, "suit-malformed", "nil first in try-each");
    },
  },
  {
    name: "suit manifest: with several components each sequence starts with set-component-index",
    run(env) {
      const two = [COMPONENT_0.slice(), [Uint8Array.of(1)]];
      const shared = [COMMAND.setComponentIndex, true, ...sharedSequence()];
      refusedManifest(env, { components: two, shared, validate: [COMMAND.imageMatch, 15] }, "suit-malformed", "validate without an index");
      refusedManifest(env, { components: two, shared: sharedSequence() }, "suit-malformed", "shared without an index");
      const manifest = signedManifest(env.crypto, manifestMap({ components: two, shared, validate: [COMMAND.setComponentIndex, [1, 0], COMMAND.imageMatch, 15] }));
      checkEqual(manifest.components.length, 2, "components");
      refusedManifest(env, { components: two, shared, validate: [COMMAND.setComponentIndex, [1, 1], COMMAND.imageMatch, 15] }, "suit-malformed", "an index listed twice");
    },
  },
  {
    name: "suit manifest: too deep, too many commands, too many items, too long",
    run(env) {
      let nested: CborValue[] = [COMMAND.abort, 0];
      for (let i = 0; i < 4; i++) nested = [COMMAND.runSequence, bstr(nested)];
      signedManifest(env.crypto, manifestMap({ validate: nested })); // four levels: the limit
      refusedManifest(env, { validate: [COMMAND.runSequence, bstr(nested)] }, "suit-too-deep", "five nested sequences");
      const many: CborValue[] = [];
      for (let i = 0; i < 33; i++) many.push(COMMAND.imageMatch, 15);
      refusedManifest(env, { validate: many }, "suit-too-many-commands", "33 commands");
      const alternatives = new Array<CborValue>(9).fill(bstr([COMMAND.abort, 0]));
      refusedManifest(env, { validate: [COMMAND.tryEach, alternatives] }, "suit-too-many-commands", "nine alternatives");
      refusedManifest(env, { extra: [[5, new Array<CborValue>(300).fill(0)]] }, "cbor-too-many-items", "300 items");
      let deep: CborValue = 0;
      for (let i = 0; i < 9; i++) deep = [deep];
      refusedManifest(env, { extra: [[5, deep]] }, "cbor-too-deep", "nine nested arrays");
      refusedManifest(env, { extra: [[4, "x".repeat(4100)]] }, "cbor-string-too-long", "a manifest over 4096 bytes");
      const long = signManifest(env.crypto, encode(manifestMap({ extra: [[4, "https://" + "x".repeat(300)]] })), [ED1]);
      checkRefused(() => verifyAndParse(env.crypto, long, trustOf([ED1], 1)), "suit-malformed", "a 308-byte reference URI");
    },
  },
];

// ---------------------------------------------------------------------------------------------------
// Running manifests: the update attacks

const processCases: ConformanceCase[] = [
  {
    name: "suit process: a Gatehouse update installs (streamed, checked), validates and invokes",
    run(env) {
      const image = testImage();
      const manifest = gatehouseManifest(env, image);
      const host = hostWith(env, image);
      host.installedSequenceNumber = 6;
      host.minimumSecurityEpoch = 2;
      const report = processManifestSync(manifest, host, "update");
      checkEqual(report.sequences.join(","), "shared,install,validate", "sequences");
      checkEqual(host.log.join(","), "fetch 0,measure 0,measure 0", "host calls");
      checkBytes(host.images.get(0) as Uint8Array, image, "installed image");
      checkEqual(report.parameters[0].securityEpoch, 2, "epoch");
      checkEqual(report.records.filter((r) => r.command === "image-match").length, 2, "image-match records (policy 15)");
      const boot = processManifestSync(manifest, host, "invoke");
      checkEqual(boot.sequences.join(","), "shared,validate,invoke", "invoke sequences");
      checkEqual(host.log.slice(3).join(","), "measure 0,invoke 0", "invoke calls");
    },
  },
  {
    name: "suit process: rollback (sequence number not newer) is refused before any command",
    run(env) {
      const image = testImage();
      const manifest = gatehouseManifest(env, image, { sequenceNumber: 7 });
      for (const installed of [7, 8]) {
        const host = hostWith(env, image);
        host.installedSequenceNumber = installed;
        checkRefused(() => processManifestSync(manifest, host, "update"), "suit-rollback", `installed ${installed}`);
        checkEqual(host.log.length, 0, "nothing done");
      }
      // A host that lost its state (NaN compares false with everything) does not turn the check off.
      const lost = hostWith(env, image);
      lost.installedSequenceNumber = NaN;
      checkRefused(() => processManifestSync(manifest, lost, "update"), "suit-config", "NaN installed");
      lost.installedSequenceNumber = 0;
      lost.minimumSecurityEpoch = NaN;
      checkRefused(() => processManifestSync(manifest, lost, "update"), "suit-config", "NaN epoch");
      // Booting the installed manifest itself is not a rollback; booting an older one is.
      const host = hostWith(env);
      host.images.set(0, image);
      host.installedSequenceNumber = 7;
      processManifestSync(manifest, host, "invoke");
      host.installedSequenceNumber = 8;
      checkRefused(() => processManifestSync(manifest, host, "invoke"), "suit-rollback", "invoke an older build");
    },
  },
  {
    name: "suit process: wrong vendor, class, device or component is refused before anything is fetched",
    run(env) {
      const image = testImage();
      const manifest = gatehouseManifest(env, image);
      const vendor = hostWith(env, image);
      vendor.vendorId = OTHER_ID;
      checkRefused(() => processManifestSync(manifest, vendor, "update"), "suit-vendor-mismatch", "other vendor");
      const cls = hostWith(env, image);
      cls.classId = OTHER_ID;
      checkRefused(() => processManifestSync(manifest, cls, "update"), "suit-class-mismatch", "other class");
      checkEqual(vendor.log.length + cls.log.length, 0, "nothing fetched");
      // The optional device-identifier condition: a manifest for one device.
      const forDevice = signedManifest(env.crypto, manifestMap({ validate: [COMMAND.overrideParameters, new Map([[PARAMETER.deviceId, OTHER_ID]]), COMMAND.deviceIdentifier, 15] }));
      const device = hostWith(env);
      checkRefused(() => processManifestSync(forDevice, device, "update"), "suit-device-mismatch", "a device without an id");
      device.deviceId = VENDOR_ID;
      checkRefused(() => processManifestSync(forDevice, device, "update"), "suit-device-mismatch", "another device");
      device.deviceId = OTHER_ID;
      processManifestSync(forDevice, device, "update");
      const other = hostWith(env, image);
      other.components.splice(0, 1, [Uint8Array.of(1)]);
      checkRefused(() => processManifestSync(manifest, other, "update"), "suit-unknown-component", "a component the device lacks");
    },
  },
  {
    name: "suit process: a build below the minimum security epoch is refused, update and rollback target alike",
    run(env) {
      const image = testImage();
      const manifest = gatehouseManifest(env, image, { securityEpoch: 2 });
      const host = hostWith(env, image);
      host.minimumSecurityEpoch = 3;
      checkRefused(() => processManifestSync(manifest, host, "update"), "suit-below-epoch", "epoch 2 < 3");
      checkEqual(host.log.length, 0, "nothing fetched");
      host.images.set(0, image);
      checkRefused(() => processManifestSync(manifest, host, "invoke"), "suit-below-epoch", "boot a build below the epoch");
      // A manifest that never sets the epoch is epoch 0.
      const noEpoch = signedManifest(env.crypto, manifestMap({ install: [COMMAND.fetch, 2] }));
      const host0 = hostWith(env, image);
      host0.minimumSecurityEpoch = 1;
      checkRefused(() => processManifestSync(noEpoch, host0, "update"), "suit-below-epoch", "no epoch");
      host0.minimumSecurityEpoch = 0;
      // Epoch 0 allowed: the fetch goes ahead (and the sample size of the shared sequence does not match).
      checkRefused(() => processManifestSync(noEpoch, host0, "update"), "suit-image-size-mismatch", "epoch 0 allowed");
      checkEqual(host0.log.join(","), "fetch 0", "fetched");
    },
  },
  {
    name: "suit process: payload digest and size mismatches, and endless data, are refused",
    run(env) {
      const image = testImage();
      const manifest = gatehouseManifest(env, image);
      const other = testImage(2);
      const wrong = hostWith(env, other);
      checkRefused(() => processManifestSync(manifest, wrong, "update"), "suit-image-digest-mismatch", "another image");
      checkEqual(wrong.images.size, 0, "nothing stored");
      const endless = hostWith(env, concatBytes(image, Uint8Array.of(0)));
      checkRefused(() => processManifestSync(manifest, endless, "update"), "suit-image-too-long", "one byte too many");
      checkEqual(endless.images.size, 0, "nothing stored");
      const short = hostWith(env, image.subarray(0, image.length - 1));
      checkRefused(() => processManifestSync(manifest, short, "update"), "suit-image-size-mismatch", "one byte short");
      // The interpreter's own image-match, on what a component holds.
      const held = hostWith(env);
      checkRefused(() => processManifestSync(manifest, held, "invoke"), "suit-image-missing", "empty component");
      held.images.set(0, other);
      checkRefused(() => processManifestSync(manifest, held, "invoke"), "suit-image-digest-mismatch", "other image held");
      held.images.set(0, image.subarray(1));
      checkRefused(() => processManifestSync(manifest, held, "invoke"), "suit-image-size-mismatch", "shorter image held");
      checkEqual(held.log.indexOf("invoke 0"), -1, "never invoked");
    },
  },
  {
    name: "suit process: fetch, copy and invoke need the vendor and class checks and a digest",
    run(env) {
      const image = testImage();
      const digest = env.crypto.sha256(image);
      const noChecks = [COMMAND.overrideParameters, new Map<number, CborValue>([[PARAMETER.imageDigest, bstr([-16, digest])]])];
      const unchecked = signedManifest(env.crypto, manifestMap({ shared: noChecks, install: [COMMAND.fetch, 2] }));
      checkRefused(() => processManifestSync(unchecked, hostWith(env, image), "update"), "suit-identity-unchecked", "no identity checks");
      const vendorOnly = [...noChecks, COMMAND.overrideParameters, new Map([[PARAMETER.vendorId, VENDOR_ID]]), COMMAND.vendorIdentifier, 15];
      const half = signedManifest(env.crypto, manifestMap({ shared: vendorOnly, invoke: [COMMAND.invoke, 2] }));
      checkRefused(() => processManifestSync(half, hostWith(env, image), "invoke"), "suit-identity-unchecked", "vendor only");
      const noDigest = [COMMAND.overrideParameters, new Map([[PARAMETER.vendorId, VENDOR_ID], [PARAMETER.classId, CLASS_ID]]), COMMAND.vendorIdentifier, 15, COMMAND.classIdentifier, 15];
      const missing = signedManifest(env.crypto, manifestMap({ shared: noDigest, install: [COMMAND.fetch, 2] }));
      checkRefused(() => processManifestSync(missing, hostWith(env, image), "update"), "suit-parameter-missing", "fetch without a digest");
      const noVendor = signedManifest(env.crypto, manifestMap({ shared: [COMMAND.vendorIdentifier, 15] }));
      checkRefused(() => processManifestSync(noVendor, hostWith(env), "update"), "suit-parameter-missing", "vendor check without a vendor id");
      const copyless = signedManifest(env.crypto, manifestMap({ install: [COMMAND.copy, 2] }));
      checkRefused(() => processManifestSync(copyless, hostWith(env), "update"), "suit-parameter-missing", "copy without a source");
    },
  },
  {
    name: "suit process: try-each takes the first alternative that holds and undoes the failed ones",
    run(env) {
      const alternative = (size: number, ...rest: CborValue[]): Uint8Array => bstr([COMMAND.overrideParameters, new Map([[PARAMETER.imageSize, size]]), ...rest]);
      const manifest = signedManifest(
        env.crypto,
        manifestMap({ validate: [COMMAND.tryEach, [alternative(1, COMMAND.abort, 0), alternative(2), alternative(3)]] }),
      );
      const report = processManifestSync(manifest, hostWith(env), "update");
      checkEqual(report.parameters[0].imageSize, 2, "the second alternative's size");
      const withNil = signedManifest(env.crypto, manifestMap({ validate: [COMMAND.tryEach, [alternative(1, COMMAND.abort, 0), alternative(2, COMMAND.abort, 0), null]] }));
      checkEqual(processManifestSync(withNil, hostWith(env), "update").parameters[0].imageSize, 34768, "nil: nothing changed");
      // No alternative holds: the try-each fails (a directive: it aborts) with the last failure's code.
      const slot = bstr([COMMAND.overrideParameters, new Map([[PARAMETER.componentSlot, 5]]), COMMAND.componentSlot, 0]);
      const none = signedManifest(env.crypto, manifestMap({ validate: [COMMAND.tryEach, [alternative(1, COMMAND.abort, 0), slot]] }));
      const host = hostWith(env);
      host.slot = 1;
      checkRefused(() => processManifestSync(none, host, "update"), "suit-slot-mismatch", "no alternative holds");
    },
  },
  {
    name: "suit process: soft-failure false inside try-each makes a condition failure abort",
    run(env) {
      const hard = bstr([COMMAND.overrideParameters, new Map([[PARAMETER.softFailure, false]]), COMMAND.abort, 0]);
      const fine = bstr([COMMAND.overrideParameters, new Map([[PARAMETER.imageSize, 5]])]);
      const manifest = signedManifest(env.crypto, manifestMap({ validate: [COMMAND.tryEach, [hard, fine]] }));
      checkRefused(() => processManifestSync(manifest, hostWith(env), "update"), "suit-abort", "hard failure in the first alternative");
    },
  },
  {
    name: "suit process: run-sequence halts softly only when it set soft-failure, and undoes its changes",
    run(env) {
      const soft = bstr([COMMAND.overrideParameters, new Map<number, CborValue>([[PARAMETER.softFailure, true], [PARAMETER.imageSize, 9]]), COMMAND.abort, 0]);
      const manifest = signedManifest(env.crypto, manifestMap({ validate: [COMMAND.runSequence, soft, COMMAND.overrideParameters, new Map([[PARAMETER.uri, "after"]])] }));
      const report = processManifestSync(manifest, hostWith(env), "update");
      checkEqual(report.parameters[0].imageSize, 34768, "size change undone");
      checkEqual(report.parameters[0].uri, "after", "the sequence went on");
      const hard = signedManifest(env.crypto, manifestMap({ validate: [COMMAND.runSequence, bstr([COMMAND.abort, 0])] }));
      checkRefused(() => processManifestSync(hard, hostWith(env), "update"), "suit-abort", "hard by default");
    },
  },
  {
    name: "suit process: component index true and lists apply a command to each component",
    run(env) {
      const two = [COMPONENT_0.slice(), [Uint8Array.of(1)]];
      const shared = [COMMAND.setComponentIndex, true, ...sharedSequence()];
      const manifest = signedManifest(
        env.crypto,
        manifestMap({
          components: two,
          shared,
          validate: [COMMAND.setComponentIndex, [1], COMMAND.overrideParameters, new Map([[PARAMETER.uri, "one"]]), COMMAND.setComponentIndex, 0, COMMAND.overrideParameters, new Map([[PARAMETER.uri, "zero"]])],
        }),
      );
      const host = hostWith(env);
      host.components.push([Uint8Array.of(1)]);
      const report = processManifestSync(manifest, host, "update");
      checkEqual(toHex(report.parameters[1].vendorId as Uint8Array), toHex(VENDOR_ID), "true reached component 1");
      checkEqual(report.parameters[0].uri + "," + report.parameters[1].uri, "zero,one", "lists and integers");
    },
  },
  {
    name: "suit process: a synchronous run refuses a host that answers with a promise; an unverified manifest does not run",
    run(env) {
      const image = testImage();
      const manifest = gatehouseManifest(env, image);
      const host = hostWith(env, image);
      const asyncHost = Object.assign(Object.create(host) as MemoryHost, { fetch: () => ({ then() {} }) });
      checkRefused(() => processManifestSync(manifest, asyncHost, "update"), "suit-host-async", "a thenable");
      const unverified = { ...manifest, verified: false };
      checkRefused(() => processManifestSync(unverified, host, "update"), "suit-not-verified", "unverified manifest");
      checkRefused(() => processManifestSync({ ...manifest }, host, "update"), "suit-not-verified", "a copy that claims to be verified");
    },
  },
  {
    name: "suit process: too much work is refused (nested try-each over many components)",
    run(env) {
      // Four levels of four run-sequences: 4 + 16 + 64 + 256 commands and 256 overrides, over the limit
      // of 256 although every sequence is within its own limits.
      let sequence: CborValue[] = [COMMAND.overrideParameters, new Map([[PARAMETER.imageSize, 1]])];
      for (let i = 0; i < 4; i++) sequence = new Array<CborValue[]>(4).fill([COMMAND.runSequence, bstr(sequence)]).flat();
      const manifest = signedManifest(env.crypto, manifestMap({ validate: sequence }));
      checkRefused(() => processManifestSync(manifest, hostWith(env), "update"), "suit-too-much-work", "599 commands");
      const smaller = signedManifest(env.crypto, manifestMap({ validate: sequence.slice(0, 2) }));
      checkEqual(processManifestSync(smaller, hostWith(env), "update").executedCommands, 3 + 1 + 4 + 16 + 64 + 64, "shared, then one branch: counted");
    },
  },
];

// ---------------------------------------------------------------------------------------------------
// The builder

const builderCases: ConformanceCase[] = [
  {
    name: "suit builder: a Gatehouse manifest round-trips through verify, parse and the dry run",
    run(env) {
      const image = testImage();
      const spec = gatehouseSpec(env.crypto, image, { sequenceNumber: 12, securityEpoch: 4, uri: "mqtt:gh/fw/1.2.0" });
      const bytes = buildEnvelope(env.crypto, spec, [ED1, SUIT_EXAMPLE_KEY]);
      const manifest = verifyAndParse(env.crypto, bytes, trustOf([SUIT_EXAMPLE_KEY, ED1], 2));
      checkEqual(manifest.signers.length, 2, "signers");
      const summary = summarizeManifest(manifest);
      checkEqual(summary.sequenceNumber, 12, "sequence number");
      checkEqual(summary.procedures.update + "," + summary.procedures.invoke, "ok,ok", "procedures");
      const c = summary.components[0];
      checkEqual(toHex(c.vendorId as Uint8Array), toHex(VENDOR_ID), "vendor");
      checkEqual(toHex(c.classId as Uint8Array), toHex(CLASS_ID), "class");
      checkBytes(c.imageDigest?.bytes as Uint8Array, env.crypto.sha256(image), "digest");
      checkEqual(c.imageSize, image.length, "size");
      checkEqual(c.securityEpoch, 4, "epoch");
      checkEqual(c.uri, "mqtt:gh/fw/1.2.0", "uri");
      check(c.vendorIdChecked && c.classIdChecked && c.fetched && c.invoked, "checked, fetched and invoked");
      checkDeterministic(bytes, "built envelope");
      // The same image, run for real: fetched from the named URI.
      const host = hostWith(env, image, "mqtt:gh/fw/1.2.0");
      processManifestSync(manifest, host, "update");
      checkBytes(host.images.get(0) as Uint8Array, image, "installed");
    },
  },
  {
    name: "suit builder: deterministic bytes; epoch 0 and no URI by default",
    run(env) {
      const image = testImage();
      const spec = gatehouseSpec(env.crypto, image, { securityEpoch: undefined });
      checkBytes(buildEnvelope(env.crypto, spec, [ED1, ED2]), buildEnvelope(env.crypto, spec, [ED1, ED2]), "Ed25519 envelopes");
      checkBytes(buildManifest(spec), buildManifest({ ...spec }), "manifests");
      const summary = summarizeManifest(verifyAndParse(env.crypto, buildEnvelope(env.crypto, spec, [ED1]), trustOf([ED1], 1)));
      checkEqual(summary.components[0].securityEpoch, 0, "default epoch");
      checkEqual(summary.components[0].uri, undefined, "no URI");
      // The manifest the builder signs is the one the device reads: its digest is in the wrapper.
      const envelope = verifyEnvelope(env.crypto, buildEnvelope(env.crypto, spec, [ED1]), trustOf([ED1], 1));
      checkBytes(envelope.manifest, buildManifest(spec), "manifest bytes");
      checkBytes(envelope.manifestDigest.bytes, sha256Digest(env.crypto.sha256(encode(buildManifest(spec)))).bytes, "digest over the bstr");
    },
  },
  {
    name: "suit builder: refuses what a device would refuse",
    run(env) {
      const image = testImage();
      const spec = gatehouseSpec(env.crypto, image);
      checkRefused(() => buildManifest({ ...spec, vendorId: new Uint8Array(15) }), "suit-build-invalid", "15-byte vendor id");
      checkRefused(() => buildManifest({ ...spec, imageDigest: new Uint8Array(31) }), "suit-build-invalid", "31-byte digest");
      checkRefused(() => buildManifest({ ...spec, sequenceNumber: -1 }), "suit-build-invalid", "negative sequence number");
      checkRefused(() => buildManifest({ ...spec, securityEpoch: 1.5 }), "suit-build-invalid", "fractional epoch");
      checkRefused(() => buildManifest({ ...spec, uri: "x".repeat(300) }), "suit-build-invalid", "long URI");
      checkRefused(() => buildEnvelope(env.crypto, spec, []), "suit-build-invalid", "no key");
      checkRefused(() => buildEnvelope(env.crypto, spec, [publicKey(ED1)]), "suit-build-invalid", "a public key");
      checkRefused(() => buildEnvelope(env.crypto, spec, ED_KEYS.concat(ED_KEYS.map((k, i) => ({ ...k, kid: utf8(`x${i}`), x: Uint8Array.of(i) })))), "suit-build-invalid", "ten keys");
    },
  },
];

// ---------------------------------------------------------------------------------------------------
// Streaming payloads

const receiverCases: ConformanceCase[] = [
  {
    name: "suit receiver: refuses bytes beyond the signed size or capacity, short images and wrong digests; resumes",
    run(env) {
      const image = testImage();
      const expected = { imageDigest: sha256Digest(env.crypto.sha256(image)), imageSize: image.length };
      const ok = new ImageReceiver(expected, 4096, streamingSha256());
      ok.accept(image.subarray(0, 1000));
      ok.accept(image.subarray(1000));
      ok.finish();
      checkEqual(ok.bytesReceived, image.length, "received");
      const over = new ImageReceiver(expected, 4096, streamingSha256());
      over.accept(image);
      checkRefused(() => over.accept(Uint8Array.of(0)), "suit-image-too-long", "one byte more");
      checkEqual(over.bytesReceived, image.length, "the extra byte was not taken");
      const bounded = new ImageReceiver({ imageDigest: expected.imageDigest }, 2000, streamingSha256());
      checkRefused(() => bounded.accept(image), "suit-image-too-long", "no size: capacity bounds it");
      checkRefused(() => new ImageReceiver(expected, 100, streamingSha256()), "suit-image-too-long", "a size above capacity");
      const short = new ImageReceiver(expected, 4096, streamingSha256());
      short.accept(image.subarray(1));
      checkRefused(() => short.finish(), "suit-image-size-mismatch", "short");
      // Resumed after a restart: the stored prefix is hashed again, the rest arrives.
      const prefix = streamingSha256();
      prefix.update(image.subarray(0, 1200));
      const resumed = new ImageReceiver(expected, 4096, prefix, 1200);
      resumed.accept(image.subarray(1200));
      resumed.finish();
      checkRefused(() => new ImageReceiver(expected, 4096, streamingSha256(), image.length + 1), "suit-image-too-long", "resume past the size");
      const wrong = new ImageReceiver(expected, 4096, streamingSha256());
      wrong.accept(testImage(3));
      checkRefused(() => wrong.finish(), "suit-image-digest-mismatch", "wrong bytes");
    },
  },
];

export const suitCases: ConformanceCase[] = [
  ...vectorCases,
  ...detachedCases,
  ...thresholdCases,
  ...envelopeCases,
  ...parseCases,
  ...processCases,
  ...builderCases,
  ...receiverCases,
];
