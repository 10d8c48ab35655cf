// The SUIT envelope and its authentication wrapper (draft-ietf-suit-manifest-37 sections 8.2 and 8.3):
// everything a device checks BEFORE it parses a single byte of the manifest.
//
//   SUIT_Envelope_Tagged = #6.107({ 2: bstr .cbor SUIT_Authentication, 3: bstr .cbor SUIT_Manifest,
//                                   ? 16 / 20 / 23: bstr (severable members) })
//   SUIT_Authentication  = [ bstr .cbor SUIT_Digest, * bstr .cbor COSE_Sign1_Tagged ]
//
// In order:
// 1. The envelope is decoded with strict limits (every member is a byte string; nothing inside them is
//    decoded yet). Integrated payloads and unknown members are refused: Gatehouse streams payloads.
// 2. The SUIT_Digest in the wrapper must be SHA-256 of the manifest's byte string AS RECEIVED, bstr
//    head included (a cheap check that catches corruption before any signature math).
// 3. Each authentication block is a tagged COSE_Sign1 with a DETACHED payload: the encoded SUIT_Digest
//    (the content of the wrapper's first byte string). A block that carries a payload of its own is
//    refused: an old signature over another manifest's digest could otherwise be replayed here.
// 4. k of n: the update trust names n keys and a threshold k. A block names its key by kid, or names
//    none (the draft's examples); then each trusted key of its algorithm is tried, within a budget of
//    verifications. Each trusted key counts once. Unknown, bad and duplicate signatures do not count;
//    every block's outcome is reported. Fewer than k distinct keys: refused.
//
// Refusals (stable codes): cbor-* (from the decoder), suit-not-envelope, suit-malformed,
// suit-unsupported-member, suit-unsupported-digest, suit-manifest-digest-mismatch, suit-unsigned,
// suit-too-many-signatures, suit-threshold-not-met.
// Outcomes of single blocks (reported, never thrown): the COSE codes of sdk/cose/sign1.ts (bad-signature,
// unknown-kid, alg-*, cose-*), suit-duplicate-signer, suit-verification-budget.

import { fail, errorCode } from "../errors";
import { bytesEqual, toHex } from "../bytes";
import { decode } from "../cbor/decode";
import { CborTag, type CborValue } from "../cbor/types";
import type { CryptoPort } from "../ports/crypto";
import type { CoseKey } from "../cose/key";
import { HEADER_KID, parseSign1, verifySign1, type VerifyOptions } from "../cose/sign1";
import { ENVELOPE, TAG_SUIT_ENVELOPE } from "./labels";
import { decodeDigest, receivedBstr, type SuitDigest } from "./digest";
import { cborLimits, suitLimits, type SuitLimits } from "./limits";
import { checkUpdateTrust, type UpdateTrust } from "./trust";

const SEVERABLE_MEMBERS: readonly number[] = [ENVELOPE.payloadFetch, ENVELOPE.install, ENVELOPE.text];

/** A decoded envelope whose manifest digest matches. Its signatures are NOT checked: see verifyEnvelope. */
export interface SuitEnvelope {
  /** The content of the manifest byte string (envelope key 3). */
  readonly manifest: Uint8Array;
  /** The SUIT_Digest of the manifest, from the authentication wrapper (checked against the manifest). */
  readonly manifestDigest: SuitDigest;
  /** The encoded SUIT_Digest: the detached payload every authentication block signs. */
  readonly signedDigest: Uint8Array;
  /** The authentication blocks, as received (each should be a COSE_Sign1_Tagged). */
  readonly authenticationBlocks: readonly Uint8Array[];
  /**
   * Severable members present in the envelope (keys 16, 20, 23), each the whole encoded byte string
   * as received, head included: what the manifest's digest of that member covers. Unauthenticated
   * until the manifest is parsed (sdk/suit/manifest.ts checks them against its digests).
   */
  readonly severable: ReadonlyMap<number, Uint8Array>;
  readonly limits: SuitLimits;
}

/** Why one authentication block counts, or why it does not. */
export interface SignatureOutcome {
  /** Position of the block among the authentication blocks (0 is the first after the digest). */
  readonly index: number;
  /** The kid the block names, if it names one. */
  readonly kid?: Uint8Array;
  /** The trusted key whose signature this is, when it counts toward the threshold. */
  readonly signer?: CoseKey;
  /** Why it does not count: a COSE code, suit-duplicate-signer or suit-verification-budget. */
  readonly code?: string;
}

/** An envelope whose manifest is signed by at least `threshold` distinct trusted keys. */
export interface VerifiedEnvelope extends SuitEnvelope {
  readonly verified: true;
  /** The distinct trusted keys whose signatures verified, in block order. */
  readonly signers: readonly CoseKey[];
  /** Every block's outcome, those that count and those that do not. */
  readonly signatures: readonly SignatureOutcome[];
}

export interface EnvelopeOptions {
  limits?: Partial<SuitLimits>;
}

/**
 * Decodes an envelope and checks the manifest digest, but no signature. Devices call verifyEnvelope;
 * this is its first half, public for tools that look at envelopes they cannot verify.
 */
export function decodeEnvelope(crypto: CryptoPort, bytes: Uint8Array, options: EnvelopeOptions = {}): SuitEnvelope {
  const limits = suitLimits(options.limits);
  // Everything below (the manifest, digests, byte strings of parameters) is a view into the envelope's
  // bytes, used long after the check (a download takes minutes). Work on a private copy, so that a
  // caller reusing its receive buffer cannot change what was verified (RFC 9124 REQ.SEC.MFST.CONST).
  // An input over the limit is not copied: the decoder refuses it by its length alone.
  const own = bytes.length <= limits.maxEnvelopeBytes ? bytes.slice() : bytes;
  // Members are byte strings of at most maxManifestBytes; the envelope itself is at most maxEnvelopeBytes.
  const item = decode(own, { ...cborLimits(limits, limits.maxEnvelopeBytes), maxStringLength: limits.maxManifestBytes });
  if (!(item instanceof CborTag) || item.tag !== TAG_SUIT_ENVELOPE) return fail("suit-not-envelope", "not a SUIT_Envelope_Tagged (tag 107)");
  const map = item.value;
  if (!(map instanceof Map)) return fail("suit-not-envelope", "tag 107 does not hold a map");

  let wrapper: Uint8Array | undefined;
  let manifest: Uint8Array | undefined;
  const severable = new Map<number, Uint8Array>();
  for (const [key, value] of map) {
    if (typeof key === "string") fail("suit-unsupported-member", `integrated payload ${JSON.stringify(key)}: Gatehouse fetches payloads, it does not take them in the envelope`);
    if (!(value instanceof Uint8Array)) fail("suit-malformed", `envelope member ${String(key)} is not a byte string`);
    if (key === ENVELOPE.authenticationWrapper) wrapper = value;
    else if (key === ENVELOPE.manifest) manifest = value;
    else if (SEVERABLE_MEMBERS.indexOf(key as number) >= 0) severable.set(key as number, receivedBstr(own, value));
    else fail("suit-unsupported-member", `unknown envelope member ${String(key)}`);
  }
  if (wrapper === undefined) return fail("suit-malformed", "the envelope has no authentication wrapper (key 2)");
  if (manifest === undefined) return fail("suit-malformed", "the envelope has no manifest (key 3)");

  const authentication = decode(wrapper, cborLimits(limits, limits.maxManifestBytes));
  if (!Array.isArray(authentication) || authentication.length === 0) return fail("suit-malformed", "the authentication wrapper is not a non-empty array");
  const [signedDigest, ...blocks] = authentication;
  if (!(signedDigest instanceof Uint8Array)) return fail("suit-malformed", "the authentication wrapper does not start with a bstr-wrapped SUIT_Digest");
  for (const block of blocks) if (!(block instanceof Uint8Array)) fail("suit-malformed", "an authentication block is not a byte string");
  const manifestDigest = decodeDigest(signedDigest, "the manifest digest", cborLimits(limits, limits.maxManifestBytes));
  const actual = crypto.sha256(receivedBstr(own, manifest));
  if (!bytesEqual(actual, manifestDigest.bytes)) {
    fail("suit-manifest-digest-mismatch", `the manifest's SHA-256 is ${toHex(actual)}, the authentication wrapper says ${toHex(manifestDigest.bytes)}`);
  }
  return { manifest, manifestDigest, signedDigest, authenticationBlocks: blocks as Uint8Array[], severable, limits };
}

/**
 * Verifies an envelope's authentication against the update trust (k of n), before anything of the
 * manifest is parsed. Returns the verified envelope or throws a GatehouseError.
 */
export function verifyEnvelope(crypto: CryptoPort, bytes: Uint8Array, trust: UpdateTrust, options: EnvelopeOptions = {}): VerifiedEnvelope {
  checkUpdateTrust(trust);
  const envelope = decodeEnvelope(crypto, bytes, options);
  const { signers, signatures } = verifyThreshold(crypto, envelope.authenticationBlocks, envelope.signedDigest, trust, envelope.limits);
  const verified: VerifiedEnvelope = { ...envelope, verified: true, signers, signatures };
  markedVerifiedEnvelopes().add(verified);
  return verified;
}

/**
 * k of n: `blocks` (tagged COSE_Sign1, each with a detached payload) must hold signatures over `payload`
 * by at least `trust.threshold` distinct keys of the trust. The envelope's check, and the same for any
 * document update keys sign (a trust update, sdk/update/trust.ts, with an external AAD of its own so a
 * signature made for one can never pass as the other). Throws suit-unsigned, suit-too-many-signatures or
 * suit-threshold-not-met; reports every block's outcome.
 */
export function verifyThreshold(
  crypto: CryptoPort,
  blocks: readonly Uint8Array[],
  payload: Uint8Array,
  trust: UpdateTrust,
  limits: SuitLimits,
  externalAad?: Uint8Array,
): { signers: CoseKey[]; signatures: SignatureOutcome[] } {
  checkUpdateTrust(trust);
  if (blocks.length === 0) fail("suit-unsigned", "no authentication block (no signature)");
  if (blocks.length > limits.maxSignatures) fail("suit-too-many-signatures", `${blocks.length} authentication blocks; at most ${limits.maxSignatures} are checked`);

  const verifyOptions: VerifyOptions = {
    tag: "required",
    detachedPayload: payload,
    requireDetached: true,
    externalAad,
    limits: cborLimits(limits, limits.maxManifestBytes),
  };
  const counted = new Set<CoseKey>();
  const signers: CoseKey[] = [];
  const signatures: SignatureOutcome[] = [];
  const budget = { left: limits.maxVerifications };
  for (let index = 0; index < blocks.length; index++) {
    const outcome = checkBlock(crypto, blocks[index], index, trust, counted, budget, verifyOptions);
    if (outcome.signer) {
      counted.add(outcome.signer);
      signers.push(outcome.signer);
    }
    signatures.push(outcome);
  }
  if (signers.length < trust.threshold) {
    const reasons = signatures.filter((s) => s.code !== undefined).map((s) => `block ${s.index}: ${s.code}`);
    fail(
      "suit-threshold-not-met",
      `${signers.length} of the required ${trust.threshold} update keys signed${reasons.length > 0 ? ` (${reasons.join(", ")})` : ""}`,
      signatures,
    );
  }
  return { signers, signatures };
}

/** Envelopes verifyEnvelope returned: parseManifest takes no other (a type can be faked, this cannot). Made on first use: a Moddable app
 * preloads this module, and a WeakSet made at load time would be read-only in flash (sdk/doors/validate.ts).
 */
let verifiedEnvelopes: WeakSet<SuitEnvelope> | undefined;
const markedVerifiedEnvelopes = (): WeakSet<SuitEnvelope> => (verifiedEnvelopes ??= new WeakSet<SuitEnvelope>());

export function isVerifiedEnvelope(envelope: SuitEnvelope): envelope is VerifiedEnvelope {
  return markedVerifiedEnvelopes().has(envelope);
}

interface Budget {
  left: number;
}

/** One block's outcome. Never throws for a bad block: a bad block simply does not count. */
function checkBlock(
  crypto: CryptoPort,
  block: Uint8Array,
  index: number,
  trust: UpdateTrust,
  counted: ReadonlySet<CoseKey>,
  budget: Budget,
  options: VerifyOptions,
): SignatureOutcome {
  let kid: CborValue;
  try {
    const parts = parseSign1(block, options);
    kid = parts.protectedHeader.get(HEADER_KID) ?? parts.unprotectedHeader.get(HEADER_KID);
  } catch (e) {
    return { index, code: errorCode(e) };
  }
  if (kid !== undefined) {
    if (!(kid instanceof Uint8Array)) return { index, code: "cose-malformed" };
    const key = trust.keys.find((k) => bytesEqual(k.kid, kid as Uint8Array));
    if (key === undefined) return { index, kid, code: "unknown-kid" };
    // The key already counted: checking the signature again could not make it count twice.
    if (counted.has(key)) return { index, kid, code: "suit-duplicate-signer" };
    return attempt(crypto, block, index, kid, key, budget, options) ?? { index, kid, signer: key };
  }
  // No kid: try the keys that have not signed yet, then (to tell a duplicate from a stranger) the
  // ones that have, all within the budget.
  let code = "alg-not-allowed";
  const candidates = trust.keys.filter((k) => !counted.has(k)).concat(trust.keys.filter((k) => counted.has(k)));
  for (const key of candidates) {
    const failure = attempt(crypto, block, index, undefined, key, budget, options);
    if (failure === undefined) return counted.has(key) ? { index, code: "suit-duplicate-signer" } : { index, signer: key };
    // A key of another algorithm says nothing about this block; any other refusal is the block's own
    // (alg missing, a malformed header, the budget spent) and holds for every key.
    if (failure.code === "alg-not-allowed") continue;
    if (failure.code !== "bad-signature") return failure;
    code = "bad-signature";
  }
  return { index, code };
}

/**
 * Verifies one block under one key; undefined when it verifies, else the outcome that says why not.
 * A verification that reached the signature check (success or bad-signature) spends one unit of the
 * budget; refusals before it (another algorithm, a malformed header) cost no signature math.
 */
function attempt(
  crypto: CryptoPort,
  block: Uint8Array,
  index: number,
  kid: Uint8Array | undefined,
  key: CoseKey,
  budget: Budget,
  options: VerifyOptions,
): SignatureOutcome | undefined {
  if (budget.left <= 0) return { index, kid, code: "suit-verification-budget" };
  try {
    verifySign1(crypto, block, key, options);
    budget.left--;
    return undefined;
  } catch (e) {
    const code = errorCode(e);
    if (code === "bad-signature") budget.left--;
    return { index, kid, code };
  }
}
