// Every length, count and depth a SUIT envelope may reach on a Gatehouse device. All are checked before
// the work they bound: the CBOR decoder refuses oversized input before allocating, the envelope layer
// counts signature blocks before verifying any, the interpreter counts commands before running them.
// The defaults fit the published examples (the largest is 923 bytes) and Gatehouse's own manifests
// (about 300 bytes for one key) with a wide margin, and stay far below an ESP32's heap.

import { fail } from "../errors";
import type { DecodeOptions } from "../cbor/types";

export interface SuitLimits {
  /** Bytes of the whole envelope. */
  readonly maxEnvelopeBytes: number;
  /** Bytes of the manifest, and of any one severable member or bstr-wrapped structure inside. */
  readonly maxManifestBytes: number;
  /** Authentication blocks (COSE_Sign1) in the authentication wrapper. */
  readonly maxSignatures: number;
  /** Signature verifications for one envelope: blocks without a kid are tried against each key. */
  readonly maxVerifications: number;
  /** Components in suit-common. */
  readonly maxComponents: number;
  /** Byte strings in one component identifier, and bytes in each. */
  readonly maxComponentIdParts: number;
  readonly maxComponentIdPartBytes: number;
  /** Commands (condition or directive, with its argument) in one command sequence. */
  readonly maxCommandsPerSequence: number;
  /** Command sequences inside command sequences (try-each, run-sequence). */
  readonly maxSequenceDepth: number;
  /** Sequences in one try-each. */
  readonly maxTryEachAlternatives: number;
  /** Commands the interpreter executes for one procedure, all loops and alternatives counted. */
  readonly maxExecutedCommands: number;
  /** Bytes of a URI (suit-parameter-uri, suit-reference-uri). */
  readonly maxUriBytes: number;
  /** Bytes of suit-parameter-invoke-args. */
  readonly maxInvokeArgsBytes: number;
  /** CBOR nesting and item count of any one decoded structure (see sdk/cbor DecodeLimits). */
  readonly maxCborDepth: number;
  readonly maxCborItems: number;
}

export const DEFAULT_SUIT_LIMITS: Readonly<SuitLimits> = Object.freeze({
  maxEnvelopeBytes: 8192,
  maxManifestBytes: 4096,
  maxSignatures: 8,
  maxVerifications: 16,
  maxComponents: 4,
  maxComponentIdParts: 4,
  maxComponentIdPartBytes: 64,
  maxCommandsPerSequence: 32,
  maxSequenceDepth: 4,
  maxTryEachAlternatives: 8,
  maxExecutedCommands: 256,
  maxUriBytes: 256,
  maxInvokeArgsBytes: 256,
  maxCborDepth: 8,
  maxCborItems: 256,
});

/** The defaults with some limits replaced; every value must be a positive safe integer. */
export function suitLimits(overrides: Partial<SuitLimits> = {}): SuitLimits {
  const limits: SuitLimits = { ...DEFAULT_SUIT_LIMITS, ...overrides };
  for (const name of Object.keys(limits) as (keyof SuitLimits)[]) {
    const value = limits[name];
    if (!Number.isSafeInteger(value) || value < 1) fail("suit-config", `SUIT limit ${name} must be a positive integer, not ${String(value)}`);
  }
  return limits;
}

/** Decoder options for one bounded structure of an envelope: at most `maxLength` bytes. */
export function cborLimits(limits: SuitLimits, maxLength: number): DecodeOptions {
  return { maxLength, maxStringLength: maxLength, maxDepth: limits.maxCborDepth, maxItems: limits.maxCborItems };
}
