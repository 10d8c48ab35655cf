// The SUIT_Manifest (draft-ietf-suit-manifest-37 section 8.4), parsed only from a verified envelope.
//
//   SUIT_Manifest = { 1: 1 (version), 2: uint (sequence number), 3: bstr .cbor SUIT_Common,
//                     ? 4: tstr (reference URI), ? 7 / 8 / 9: bstr .cbor SUIT_Command_Sequence
//                     (validate, load, invoke), ? 16 / 20: SUIT_Digest / bstr .cbor SUIT_Command_Sequence
//                     (payload fetch, install), ? 23: SUIT_Digest / bstr .cbor SUIT_Text_Map }
//   SUIT_Common   = { ? 2: [+ [* bstr]] (components), ? 4: bstr .cbor SUIT_Shared_Sequence }
//
// The version is checked first. Severable members (16, 20, 23) stand in the manifest either whole or as
// the SUIT_Digest of the envelope member that carries them; a member the envelope carries must match
// its digest, and the envelope may carry no member the manifest does not name by digest. Every command
// sequence is parsed and checked against the profile here (sdk/suit/commands.ts), so a manifest with
// anything Gatehouse cannot do is refused before any of it runs. Unknown manifest members are refused:
// the draft cannot tell a processor which extensions it may ignore safely.
//
// suit-text is digest-checked but not decoded (see SuitManifest.text).
//
// Refusals (stable codes): suit-manifest-version, suit-malformed, suit-unsupported-member,
// suit-severable-digest-mismatch, suit-severable-unauthenticated, suit-too-many-components, the
// command-sequence codes of commands.ts, cbor-* (from the decoder), suit-not-verified.

import { fail } from "../errors";
import { bytesEqual, toHex } from "../bytes";
import { decode } from "../cbor/decode";
import type { CborMap, CborValue } from "../cbor/types";
import type { CoseKey } from "../cose/key";
import type { CryptoPort } from "../ports/crypto";
import { COMMON, MANIFEST, MANIFEST_VERSION, labelText } from "./labels";
import { digestFromCbor, type SuitDigest } from "./digest";
import { cborLimits, type SuitLimits } from "./limits";
import { isVerifiedEnvelope, type SuitEnvelope, type VerifiedEnvelope } from "./envelope";
import { boundedText, parseCommandSequence, type SequenceContext, type SuitCommandSequence, type SuitComponentId } from "./commands";

/** The command sequences of a manifest, by the draft's names; "shared" is suit-common's shared sequence. */
export type SuitSequenceName = "shared" | "payload-fetch" | "install" | "validate" | "load" | "invoke";
export type SuitSeverableName = "payload-fetch" | "install" | "text";

export interface SuitManifest {
  readonly version: number;
  readonly sequenceNumber: number;
  readonly components: readonly SuitComponentId[];
  readonly referenceUri?: string;
  /** The sequences present, parsed. A severed member whose content the envelope lacks is not here. */
  readonly sequences: ReadonlyMap<SuitSequenceName, SuitCommandSequence>;
  /** Severable members named by digest whose content the envelope did not carry. */
  readonly severed: readonly SuitSeverableName[];
  /**
   * suit-text (a SUIT_Text_Map), checked against its digest when severed, but not decoded: a device
   * needs no text, and its component maps are keyed by arrays, which the strict decoder refuses as map
   * keys (sdk/cbor/decode.ts). Tools show it in diagnostic notation.
   */
  readonly text?: Uint8Array;
  /** The manifest's SUIT_Digest: what names this manifest (in reports, for the server). */
  readonly digest: SuitDigest;
  /** True when parsed from a verified envelope; false only for parseManifestUnverified (host tools). */
  readonly verified: boolean;
  /** The distinct update keys that signed it (empty when not verified). */
  readonly signers: readonly CoseKey[];
  readonly limits: SuitLimits;
}

const COMMAND_MEMBERS: readonly [number, SuitSequenceName][] = [
  [MANIFEST.validate, "validate"],
  [MANIFEST.load, "load"],
  [MANIFEST.invoke, "invoke"],
];
const SEVERABLE_MEMBERS: readonly [number, SuitSeverableName][] = [
  [MANIFEST.payloadFetch, "payload-fetch"],
  [MANIFEST.install, "install"],
  [MANIFEST.text, "text"],
];
const KNOWN_MEMBERS: readonly number[] = [
  MANIFEST.version,
  MANIFEST.sequenceNumber,
  MANIFEST.common,
  MANIFEST.referenceUri,
  MANIFEST.validate,
  MANIFEST.load,
  MANIFEST.invoke,
  MANIFEST.payloadFetch,
  MANIFEST.install,
  MANIFEST.text,
];

/** Parses the manifest of an envelope that verifyEnvelope returned; anything else is refused. */
export function parseManifest(crypto: CryptoPort, envelope: VerifiedEnvelope): SuitManifest {
  if (!isVerifiedEnvelope(envelope)) fail("suit-not-verified", "the envelope was not verified: parse only what verifyEnvelope returned");
  return parse(crypto, envelope, true, envelope.signers);
}

/**
 * Parses a manifest whose signatures were NOT checked, for host tools that show an envelope they have
 * no keys for (`gatehouse update inspect` without --key). Never on a device: verify, then parse.
 */
export function parseManifestUnverified(crypto: CryptoPort, envelope: SuitEnvelope): SuitManifest {
  return parse(crypto, envelope, false, []);
}

function parse(crypto: CryptoPort, envelope: SuitEnvelope, verified: boolean, signers: readonly CoseKey[]): SuitManifest {
  const { limits } = envelope;
  const map = decode(envelope.manifest, cborLimits(limits, limits.maxManifestBytes));
  if (!(map instanceof Map)) return fail("suit-malformed", "the manifest is not a map");
  // The version decides how to read everything else: first.
  const version = map.get(MANIFEST.version);
  if (version !== MANIFEST_VERSION) fail("suit-manifest-version", `manifest version ${String(version)} is not supported (only ${MANIFEST_VERSION})`);
  for (const key of map.keys()) {
    if (typeof key !== "number" || KNOWN_MEMBERS.indexOf(key) < 0) fail("suit-unsupported-member", `unknown manifest member ${labelText(key)}`);
  }
  const sequenceNumber = map.get(MANIFEST.sequenceNumber);
  if (typeof sequenceNumber !== "number" || !Number.isSafeInteger(sequenceNumber) || sequenceNumber < 0) {
    fail("suit-malformed", "the sequence number is not an unsigned integer below 2^53");
  }

  const common = map.get(MANIFEST.common);
  if (!(common instanceof Uint8Array)) return fail("suit-malformed", "suit-common is missing or not a byte string");
  const { components, shared } = parseCommon(common, limits);
  const context = (isShared: boolean): SequenceContext => ({ limits, componentCount: components.length, shared: isShared });

  const sequences = new Map<SuitSequenceName, SuitCommandSequence>();
  if (shared !== undefined) sequences.set("shared", parseCommandSequence(shared, context(true), 0, "the shared sequence"));

  let referenceUri: string | undefined;
  if (map.has(MANIFEST.referenceUri)) referenceUri = boundedText(map.get(MANIFEST.referenceUri), limits.maxUriBytes, "suit-reference-uri");

  for (const [key, name] of COMMAND_MEMBERS) {
    const value = map.get(key);
    if (value === undefined) continue;
    if (!(value instanceof Uint8Array)) fail("suit-malformed", `suit-${name} is not a byte string`);
    sequences.set(name, parseCommandSequence(value, context(false), 0, `suit-${name}`));
  }

  const severed: SuitSeverableName[] = [];
  let text: Uint8Array | undefined;
  for (const [key, name] of SEVERABLE_MEMBERS) {
    const content = severableContent(crypto, map, envelope, key, name);
    if (content === "severed") {
      severed.push(name);
    } else if (content !== undefined) {
      if (name === "text") text = content;
      else sequences.set(name, parseCommandSequence(content, context(false), 0, `suit-${name}`));
    }
  }
  for (const key of envelope.severable.keys()) {
    // An envelope member the manifest has no digest for is unauthenticated: refuse, never use it.
    if (!(map.get(key) instanceof Array)) fail("suit-severable-unauthenticated", `envelope member ${key} is not named by a digest in the manifest`);
  }

  const manifest: SuitManifest = {
    version: MANIFEST_VERSION,
    sequenceNumber: sequenceNumber as number,
    components,
    referenceUri,
    sequences,
    severed,
    text,
    digest: envelope.manifestDigest,
    verified,
    signers,
    limits,
  };
  if (verified) markedVerifiedManifests().add(manifest);
  return manifest;
}

/** Manifests parseManifest made from verified envelopes: the only ones the interpreter runs on a device. Made on first use: a Moddable app
 * preloads this module, and a WeakSet made at load time would be read-only in flash (sdk/doors/validate.ts).
 */
let verifiedManifests: WeakSet<SuitManifest> | undefined;
const markedVerifiedManifests = (): WeakSet<SuitManifest> => (verifiedManifests ??= new WeakSet<SuitManifest>());

export function isVerifiedManifest(manifest: SuitManifest): boolean {
  return markedVerifiedManifests().has(manifest);
}

/**
 * The content of a severable member: from the manifest (a bstr), or from the envelope when the manifest
 * holds its digest ("severed" when the envelope does not carry it); undefined when absent.
 */
function severableContent(crypto: CryptoPort, map: CborMap, envelope: SuitEnvelope, key: number, name: string): Uint8Array | "severed" | undefined {
  const value = map.get(key);
  if (value === undefined) return undefined;
  if (value instanceof Uint8Array) return value;
  const digest = digestFromCbor(value, `the digest of suit-${name}`);
  const member = envelope.severable.get(key);
  if (member === undefined) return "severed";
  const actual = crypto.sha256(member);
  if (!bytesEqual(actual, digest.bytes)) {
    fail("suit-severable-digest-mismatch", `suit-${name} in the envelope has SHA-256 ${toHex(actual)}, the manifest says ${toHex(digest.bytes)}`);
  }
  // member is the whole encoded bstr (head included): its content follows the head.
  const content = decode(member, cborLimits(envelope.limits, envelope.limits.maxManifestBytes + 9));
  if (!(content instanceof Uint8Array)) return fail("suit-malformed", `envelope member ${key} is not a byte string`);
  return content;
}

function parseCommon(bytes: Uint8Array, limits: SuitLimits): { components: SuitComponentId[]; shared?: Uint8Array } {
  const common = decode(bytes, cborLimits(limits, limits.maxManifestBytes));
  if (!(common instanceof Map)) return fail("suit-malformed", "suit-common is not a map");
  for (const key of common.keys()) {
    if (key !== COMMON.components && key !== COMMON.sharedSequence) fail("suit-unsupported-member", `unknown suit-common member ${labelText(key)}`);
  }
  const list = common.get(COMMON.components);
  // Optional in the CDDL, but without components no command has anything to work on.
  if (!Array.isArray(list) || list.length === 0) return fail("suit-malformed", "suit-components is missing or empty");
  if (list.length > limits.maxComponents) fail("suit-too-many-components", `${list.length} components; at most ${limits.maxComponents}`);
  const components = list.map((id, i) => componentId(id, limits, `component ${i}`));
  for (let i = 0; i < components.length; i++) {
    for (let j = 0; j < i; j++) if (sameComponentId(components[i], components[j])) fail("suit-malformed", `components ${j} and ${i} have the same identifier`);
  }
  const shared = common.get(COMMON.sharedSequence);
  if (shared !== undefined && !(shared instanceof Uint8Array)) return fail("suit-malformed", "the shared sequence is not a byte string");
  return { components, shared };
}

function componentId(value: CborValue, limits: SuitLimits, what: string): SuitComponentId {
  if (!Array.isArray(value)) return fail("suit-malformed", `${what}: a component identifier is a list of byte strings`);
  if (value.length > limits.maxComponentIdParts) fail("suit-too-many-components", `${what}: ${value.length} identifier parts; at most ${limits.maxComponentIdParts}`);
  for (const part of value) {
    if (!(part instanceof Uint8Array)) fail("suit-malformed", `${what}: a component identifier is a list of byte strings`);
    if (part.length > limits.maxComponentIdPartBytes) fail("suit-malformed", `${what}: an identifier part is longer than ${limits.maxComponentIdPartBytes} bytes`);
  }
  return Object.freeze((value as Uint8Array[]).slice());
}

export function sameComponentId(a: SuitComponentId, b: SuitComponentId): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!bytesEqual(a[i], b[i])) return false;
  return true;
}
