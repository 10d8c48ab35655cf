// The numbers of the SUIT manifest format (draft-ietf-suit-manifest-37, its CDDL and IANA sections), in
// one table per map or registry, and Gatehouse's own private-use labels. Names follow the draft's CDDL.

/** CBOR tag of SUIT_Envelope_Tagged. */
export const TAG_SUIT_ENVELOPE = 107;

/** SUIT_Envelope keys. Severable members use the same key in the envelope as in the manifest. */
export const ENVELOPE = {
  authenticationWrapper: 2,
  manifest: 3,
  payloadFetch: 16,
  install: 20,
  text: 23,
} as const;

/** SUIT_Manifest keys. */
export const MANIFEST = {
  version: 1,
  sequenceNumber: 2,
  common: 3,
  referenceUri: 4,
  validate: 7,
  load: 8,
  invoke: 9,
  payloadFetch: 16,
  install: 20,
  text: 23,
} as const;

/** SUIT_Common keys. */
export const COMMON = {
  components: 2,
  sharedSequence: 4,
} as const;

/** The one manifest encoding version the draft defines. */
export const MANIFEST_VERSION = 1;

/** COSE algorithm id of SHA-256 in a SUIT_Digest: the one digest every processor must implement. */
export const COSE_ALG_SHA256 = -16;
export const SHA256_LENGTH = 32;

/** SUIT commands (conditions and directives): the SUIT Commands registry of draft -37. */
export const COMMAND = {
  vendorIdentifier: 1,
  classIdentifier: 2,
  imageMatch: 3,
  componentSlot: 5,
  checkContent: 6,
  setComponentIndex: 12,
  abort: 14,
  tryEach: 15,
  write: 18,
  overrideParameters: 20,
  fetch: 21,
  copy: 22,
  invoke: 23,
  deviceIdentifier: 24,
  swap: 31,
  runSequence: 32,
} as const;

/** SUIT parameters: the SUIT Parameters registry of draft -37, plus Gatehouse's private-use label. */
export const PARAMETER = {
  vendorId: 1,
  classId: 2,
  imageDigest: 3,
  componentSlot: 5,
  strictOrder: 12,
  softFailure: 13,
  imageSize: 14,
  content: 18,
  uri: 21,
  sourceComponent: 22,
  invokeArgs: 23,
  deviceId: 24,
  fetchArguments: 25,
  /**
   * Gatehouse: the security epoch of a build (an unsigned integer). Labels -256 and below are for
   * private use in every SUIT registry (draft -37, IANA considerations); -257 also keeps clear of the
   * draft's "less than -256" wording for custom commands. A device refuses to fetch, copy or invoke a
   * build whose epoch is below its minimum (docs/suit.md).
   */
  securityEpoch: -257,
} as const;

/** SUIT_Text_Map: keys of a language's map (the component maps use their own small integers). */
export const TEXT = {
  manifestDescription: 1,
  updateDescription: 2,
  manifestJsonSource: 3,
  manifestYamlSource: 4,
} as const;

/** The four bits of SUIT_Rep_Policy. */
export const REPORTING_POLICY_BITS = 0x0f;

/** A map key for a message: text quoted, integers (numbers or bigints) as they are. */
export function labelText(key: string | number | bigint): string {
  return typeof key === "string" ? JSON.stringify(key) : String(key);
}
