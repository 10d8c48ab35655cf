// SUIT manifests on the device (draft-ietf-suit-manifest-37): verify the envelope, parse the manifest,
// run its command sequences against a SuitHost. docs/suit.md describes the profile and every code.
//
//   const envelope = verifyEnvelope(crypto, bytes, trust);      // digest, then k-of-n signatures
//   const manifest = parseManifest(crypto, envelope);           // only now is the manifest decoded
//   const report = await processManifest(manifest, host, "update");
export { TAG_SUIT_ENVELOPE, PARAMETER, COMMAND } from "./labels";
export { DEFAULT_SUIT_LIMITS, suitLimits, type SuitLimits } from "./limits";
export { createUpdateTrust, MAX_UPDATE_KEYS, type UpdateTrust } from "./trust";
export { decodeEnvelope, verifyEnvelope, type SuitEnvelope, type VerifiedEnvelope, type SignatureOutcome, type EnvelopeOptions } from "./envelope";
export { parseManifest, parseManifestUnverified, type SuitManifest, type SuitSequenceName } from "./manifest";
export type { SuitCommand, SuitCommandSequence, SuitComponentId, SuitComponentIndex, SuitParameters } from "./commands";
export type { SuitDigest } from "./digest";
export type {
  Awaitable,
  SuitComponent,
  SuitHost,
  SuitFetchRequest,
  SuitCopyRequest,
  SuitMeasureRequest,
  SuitInvokeRequest,
  SuitImageMeasurement,
} from "./host";
export { processManifest, processManifestSync, PROCEDURE_SEQUENCES, uuidText, type SuitProcedure, type SuitReport, type SuitRecord } from "./processor";
export { ImageReceiver, type Sha256Stream, type ExpectedImage } from "./receiver";
export { buildManifest, signManifest, buildEnvelope, type GatehouseManifestSpec } from "./builder";
export { summarizeManifest, type SuitSummary, type SuitComponentSummary } from "./inspect";
