// Building and signing Gatehouse manifests: the server and the CLI sign with the same code the device
// verifies with. Device-safe (no Node built-ins); the signing keys come through the CryptoPort.
//
// A Gatehouse manifest has one component and this shape (docs/suit.md):
//   { 1: 1, 2: seq,
//     3: << { 2: [component-id],
//             4: << [ override-parameters {vendor-id, class-id, image-digest, image-size},
//                     condition-vendor-identifier 15, condition-class-identifier 15 ] >> } >>,
//     7 (validate): << [ override-parameters {epoch}, condition-image-match 15 ] >>,
//     9 (invoke):   << [ override-parameters {epoch}, directive-invoke 2 ] >>,
//    20 (install):  << [ override-parameters {epoch, ? uri}, directive-fetch 2, condition-image-match 15 ] >> }
// The epoch (custom parameter -257) is set in each sequence that acts on the image, never in the
// shared sequence (the draft keeps custom parameters out of it).
//
// The envelope carries one COSE_Sign1 per key: protected {alg, kid}, detached payload = the encoded
// SUIT_Digest of the manifest. Everything is deterministic CBOR (Ed25519 signatures are deterministic
// too; ES256 ones are not, so two signings differ only in their signature bytes).
//
// Refusals (stable codes): suit-build-invalid, suit-duplicate-signer, and the envelope limits
// (a manifest the default device limits would refuse is not built).

import { fail } from "../errors";
import { bytesEqual, toHex } from "../bytes";
import { encode, utf8 } from "../cbor/encode";
import { CborTag, type CborMap, type CborValue } from "../cbor/types";
import type { CryptoPort } from "../ports/crypto";
import type { CoseKey } from "../cose/key";
import { sign1 } from "../cose/sign1";
import { COMMAND, COMMON, ENVELOPE, MANIFEST, MANIFEST_VERSION, PARAMETER, SHA256_LENGTH, TAG_SUIT_ENVELOPE } from "./labels";
import { digestToCbor, encodeDigest, sha256Digest } from "./digest";
import { DEFAULT_SUIT_LIMITS } from "./limits";
import { UUID_LENGTH, type SuitComponentId } from "./commands";

/** What a Gatehouse manifest says about its one image. */
export interface GatehouseManifestSpec {
  readonly sequenceNumber: number;
  readonly vendorId: Uint8Array;
  readonly classId: Uint8Array;
  /** SHA-256 of the image. */
  readonly imageDigest: Uint8Array;
  readonly imageSize: number;
  /** The build's security epoch; default 0. */
  readonly securityEpoch?: number;
  /** Where the image can be fetched; none: it comes over Gatehouse's own transfer. */
  readonly uri?: string;
  /** Default [h'00'], the draft's single-image component. */
  readonly componentId?: SuitComponentId;
}

/** Reporting policies used by the builder, as in the draft's examples. */
const REPORT_ALL = 15;
const REPORT_FAILURE = 2;
const DEFAULT_COMPONENT: SuitComponentId = [Uint8Array.of(0)];

/** The encoded SUIT_Manifest for a Gatehouse image. */
export function buildManifest(spec: GatehouseManifestSpec): Uint8Array {
  checkSpec(spec);
  const epoch = spec.securityEpoch ?? 0;
  const shared: CborValue[] = [
    COMMAND.overrideParameters,
    new Map<number, CborValue>([
      [PARAMETER.vendorId, spec.vendorId],
      [PARAMETER.classId, spec.classId],
      [PARAMETER.imageDigest, encode(digestToCbor(sha256Digest(spec.imageDigest)))],
      [PARAMETER.imageSize, spec.imageSize],
    ]),
    COMMAND.vendorIdentifier,
    REPORT_ALL,
    COMMAND.classIdentifier,
    REPORT_ALL,
  ];
  const common: CborMap = new Map<number, CborValue>([
    [COMMON.components, [(spec.componentId ?? DEFAULT_COMPONENT).slice()]],
    [COMMON.sharedSequence, encode(shared)],
  ]);
  const epochOnly = (): CborMap => new Map<number, CborValue>([[PARAMETER.securityEpoch, epoch]]);
  const installParameters = epochOnly();
  if (spec.uri !== undefined) installParameters.set(PARAMETER.uri, spec.uri);
  const manifest: CborMap = new Map<number, CborValue>([
    [MANIFEST.version, MANIFEST_VERSION],
    [MANIFEST.sequenceNumber, spec.sequenceNumber],
    [MANIFEST.common, encode(common)],
    [MANIFEST.validate, encode([COMMAND.overrideParameters, epochOnly(), COMMAND.imageMatch, REPORT_ALL])],
    [MANIFEST.invoke, encode([COMMAND.overrideParameters, epochOnly(), COMMAND.invoke, REPORT_FAILURE])],
    [MANIFEST.install, encode([COMMAND.overrideParameters, installParameters, COMMAND.fetch, REPORT_FAILURE, COMMAND.imageMatch, REPORT_ALL])],
  ]);
  const bytes = encode(manifest);
  if (bytes.length > DEFAULT_SUIT_LIMITS.maxManifestBytes) fail("suit-build-invalid", `the manifest is ${bytes.length} bytes; devices take at most ${DEFAULT_SUIT_LIMITS.maxManifestBytes}`);
  return bytes;
}

/**
 * Wraps an encoded manifest in a signed SUIT_Envelope_Tagged: the SUIT_Digest of the manifest's byte
 * string, then one COSE_Sign1 per key over that digest (detached). Each key signs once.
 */
export function signManifest(crypto: CryptoPort, manifest: Uint8Array, keys: readonly CoseKey[]): Uint8Array {
  if (keys.length === 0) fail("suit-build-invalid", "an update needs at least one signing key");
  if (keys.length > DEFAULT_SUIT_LIMITS.maxSignatures) fail("suit-build-invalid", `at most ${DEFAULT_SUIT_LIMITS.maxSignatures} signing keys; devices check no more`);
  for (let i = 0; i < keys.length; i++) {
    if (keys[i].d === undefined) fail("suit-build-invalid", `key ${toHex(keys[i].kid)} is a public key; signing needs the private key`);
    for (let j = 0; j < i; j++) {
      if (bytesEqual(keys[i].kid, keys[j].kid) || bytesEqual(keys[i].x, keys[j].x)) {
        fail("suit-duplicate-signer", `key ${toHex(keys[i].kid)} is given twice: a key signs once`);
      }
    }
  }
  const manifestBstr = encode(manifest);
  const signedDigest = encodeDigest(sha256Digest(crypto.sha256(manifestBstr)));
  const blocks = keys.map((key) => sign1(crypto, key, signedDigest, { detached: true }));
  const envelope = encode(
    new CborTag(
      TAG_SUIT_ENVELOPE,
      new Map<number, CborValue>([
        [ENVELOPE.authenticationWrapper, encode([signedDigest, ...blocks])],
        [ENVELOPE.manifest, manifest],
      ]),
    ),
  );
  if (envelope.length > DEFAULT_SUIT_LIMITS.maxEnvelopeBytes) fail("suit-build-invalid", `the envelope is ${envelope.length} bytes; devices take at most ${DEFAULT_SUIT_LIMITS.maxEnvelopeBytes}`);
  return envelope;
}

/** buildManifest, then signManifest. */
export function buildEnvelope(crypto: CryptoPort, spec: GatehouseManifestSpec, keys: readonly CoseKey[]): Uint8Array {
  return signManifest(crypto, buildManifest(spec), keys);
}

function checkSpec(spec: GatehouseManifestSpec): void {
  const unsigned = (value: unknown, what: string): void => {
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) fail("suit-build-invalid", `${what} must be an unsigned integer below 2^53`);
  };
  unsigned(spec.sequenceNumber, "the sequence number");
  unsigned(spec.imageSize, "the image size");
  if (spec.securityEpoch !== undefined) unsigned(spec.securityEpoch, "the security epoch");
  for (const [id, what] of [
    [spec.vendorId, "the vendor id"],
    [spec.classId, "the class id"],
  ] as const) {
    if (!(id instanceof Uint8Array) || id.length !== UUID_LENGTH) fail("suit-build-invalid", `${what} must be a ${UUID_LENGTH}-byte UUID`);
  }
  if (!(spec.imageDigest instanceof Uint8Array) || spec.imageDigest.length !== SHA256_LENGTH) fail("suit-build-invalid", `the image digest must be ${SHA256_LENGTH} bytes (SHA-256)`);
  if (spec.uri !== undefined) {
    if (typeof spec.uri !== "string" || spec.uri.length === 0) fail("suit-build-invalid", "the URI must be non-empty text");
    if (utf8(spec.uri).length > DEFAULT_SUIT_LIMITS.maxUriBytes) fail("suit-build-invalid", `the URI is longer than ${DEFAULT_SUIT_LIMITS.maxUriBytes} bytes`);
  }
  const id = spec.componentId;
  if (id !== undefined) {
    if (id.length > DEFAULT_SUIT_LIMITS.maxComponentIdParts || id.some((part) => !(part instanceof Uint8Array) || part.length > DEFAULT_SUIT_LIMITS.maxComponentIdPartBytes)) {
      fail("suit-build-invalid", "the component id is too long");
    }
  }
}
