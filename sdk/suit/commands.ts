// SUIT command sequences (draft-ietf-suit-manifest-37 section 8.4.6 onwards), parsed into typed commands
// before anything runs. Parsing is where the profile is enforced: a command or parameter Gatehouse does
// not implement is refused here, with its own code, for the whole manifest; never skipped at run time.
//
//   SUIT_Command_Sequence = [ + (command-label, argument) ]
//
// Supported (docs/suit.md has the table):
//   conditions  vendor-identifier (1), class-identifier (2), image-match (3), component-slot (5),
//               abort (14), device-identifier (24)
//   directives  set-component-index (12), try-each (15), override-parameters (20), fetch (21),
//               copy (22), invoke (23), run-sequence (32)
//   parameters  vendor-id (1, a UUID), class-id (2), image-digest (3, SHA-256), component-slot (5),
//               strict-order (12), soft-failure (13), image-size (14), uri (21), source-component (22),
//               invoke-args (23), device-id (24), Gatehouse security epoch (-257)
// Refused: check-content (6), write (18), swap (31), custom commands (negative labels), any other
// label (suit-unsupported-command); content (18), fetch-arguments (25), a vendor id given as a CBOR
// PEN, any other label (suit-unsupported-parameter).
//
// Refusals (stable codes): suit-malformed, suit-unsupported-command, suit-unsupported-parameter,
// suit-unsupported-digest, suit-too-many-commands, suit-too-deep, cbor-* (from the decoder).

import { fail } from "../errors";
import { decode } from "../cbor/decode";
import { utf8 } from "../cbor/encode";
import type { CborMap, CborValue } from "../cbor/types";
import { COMMAND, PARAMETER, REPORTING_POLICY_BITS, labelText } from "./labels";
import { decodeDigest, type SuitDigest } from "./digest";
import { cborLimits, type SuitLimits } from "./limits";

/** Bytes of a RFC 9562 UUID, the form of vendor, class and device ids. */
export const UUID_LENGTH = 16;

/** A component identifier: a list of byte strings (a path, in effect). */
export type SuitComponentId = readonly Uint8Array[];

/** The component(s) commands apply to: one index, a list of indices, or true for all components. */
export type SuitComponentIndex = number | readonly number[] | true;

/** Parameter values, per component (draft section 8.4.8). All optional: commands say which they need. */
export interface SuitParameters {
  vendorId?: Uint8Array;
  classId?: Uint8Array;
  deviceId?: Uint8Array;
  imageDigest?: SuitDigest;
  imageSize?: number;
  componentSlot?: number;
  uri?: string;
  sourceComponent?: number;
  invokeArgs?: Uint8Array;
  /** Gatehouse's custom parameter (label -257): the security epoch of the build. */
  securityEpoch?: number;
  /** Processor parameters: these two are not per component. */
  strictOrder?: boolean;
  softFailure?: boolean;
}

export type SuitConditionName = "vendor-identifier" | "class-identifier" | "device-identifier" | "image-match" | "component-slot" | "abort";
export type SuitDirectiveName = "fetch" | "copy" | "invoke";

export type SuitCommand =
  | { readonly kind: "condition"; readonly name: SuitConditionName; readonly policy: number }
  | { readonly kind: "directive"; readonly name: SuitDirectiveName; readonly policy: number }
  | { readonly kind: "set-component-index"; readonly index: SuitComponentIndex }
  | { readonly kind: "override-parameters"; readonly parameters: Readonly<SuitParameters> }
  /** Alternatives in order; null is the draft's empty sequence (nil), which always succeeds. */
  | { readonly kind: "try-each"; readonly alternatives: readonly (SuitCommandSequence | null)[] }
  | { readonly kind: "run-sequence"; readonly sequence: SuitCommandSequence };

export type SuitCommandSequence = readonly SuitCommand[];

const CONDITIONS: Record<number, SuitConditionName> = {
  [COMMAND.vendorIdentifier]: "vendor-identifier",
  [COMMAND.classIdentifier]: "class-identifier",
  [COMMAND.imageMatch]: "image-match",
  [COMMAND.componentSlot]: "component-slot",
  [COMMAND.abort]: "abort",
  [COMMAND.deviceIdentifier]: "device-identifier",
};

const DIRECTIVES: Record<number, SuitDirectiveName> = {
  [COMMAND.fetch]: "fetch",
  [COMMAND.copy]: "copy",
  [COMMAND.invoke]: "invoke",
};

/** Labels the draft defines that Gatehouse does not implement, named for the error message. */
const UNSUPPORTED_COMMANDS: Record<number, string> = {
  [COMMAND.checkContent]: "check-content",
  [COMMAND.write]: "write",
  [COMMAND.swap]: "swap",
};

const UNSUPPORTED_PARAMETERS: Record<number, string> = {
  [PARAMETER.content]: "content",
  [PARAMETER.fetchArguments]: "fetch-arguments",
};

/** What a sequence is parsed for; the shared sequence and nesting restrict what it may hold. */
export interface SequenceContext {
  readonly limits: SuitLimits;
  /** Components in the manifest: indices are checked against it. */
  readonly componentCount: number;
  /** The shared sequence (suit-common): conditions and flow control only, no custom parameters. */
  readonly shared: boolean;
}

/** Parses the content of a bstr-wrapped SUIT_Command_Sequence. `depth` is 0 for a manifest member. */
export function parseCommandSequence(encoded: Uint8Array, context: SequenceContext, depth: number, what: string): SuitCommandSequence {
  if (depth > context.limits.maxSequenceDepth) fail("suit-too-deep", `${what}: command sequences nested deeper than ${context.limits.maxSequenceDepth}`);
  const items = decode(encoded, cborLimits(context.limits, context.limits.maxManifestBytes));
  if (!Array.isArray(items) || items.length === 0 || items.length % 2 !== 0) {
    return fail("suit-malformed", `${what} is not a non-empty list of (command, argument) pairs`);
  }
  const count = items.length / 2;
  if (count > context.limits.maxCommandsPerSequence) fail("suit-too-many-commands", `${what} has ${count} commands; at most ${context.limits.maxCommandsPerSequence}`);
  const commands: SuitCommand[] = [];
  for (let i = 0; i < items.length; i += 2) {
    commands.push(parseCommand(items[i], items[i + 1], context, depth, `${what}, command ${i / 2}`));
  }
  // Draft section 6.3: with more than one component, each sequence must say which one it works on.
  if (depth === 0 && context.componentCount > 1 && commands[0].kind !== "set-component-index") {
    fail("suit-malformed", `${what} must begin with set-component-index: the manifest has ${context.componentCount} components`);
  }
  return commands;
}

function parseCommand(label: CborValue, argument: CborValue, context: SequenceContext, depth: number, what: string): SuitCommand {
  if (typeof label !== "number" || !Number.isInteger(label)) return fail("suit-malformed", `${what}: the command label is not an integer`);
  const condition = CONDITIONS[label];
  if (condition !== undefined) return { kind: "condition", name: condition, policy: reportingPolicy(argument, what) };
  const directive = DIRECTIVES[label];
  if (directive !== undefined) {
    if (context.shared) fail("suit-malformed", `${what}: ${directive} is not allowed in the shared sequence`);
    return { kind: "directive", name: directive, policy: reportingPolicy(argument, what) };
  }
  switch (label) {
    case COMMAND.setComponentIndex:
      return { kind: "set-component-index", index: componentIndex(argument, context.componentCount, what) };
    case COMMAND.overrideParameters:
      return { kind: "override-parameters", parameters: parseParameters(argument, context, depth, what) };
    case COMMAND.tryEach:
      return { kind: "try-each", alternatives: tryEachAlternatives(argument, context, depth, what) };
    case COMMAND.runSequence:
      if (!(argument instanceof Uint8Array)) return fail("suit-malformed", `${what}: run-sequence takes a bstr-wrapped command sequence`);
      return { kind: "run-sequence", sequence: parseCommandSequence(argument, context, depth + 1, `${what} (run-sequence)`) };
  }
  const name = UNSUPPORTED_COMMANDS[label] ?? (label < 0 ? "a custom command" : "an unknown command");
  return fail("suit-unsupported-command", `${what}: ${name} (label ${label}) is not supported`);
}

/** SUIT_Rep_Policy: an unsigned integer of the four reporting bits. */
function reportingPolicy(argument: CborValue, what: string): number {
  if (typeof argument !== "number" || !Number.isInteger(argument) || argument < 0 || (argument & ~REPORTING_POLICY_BITS) !== 0) {
    return fail("suit-malformed", `${what}: the reporting policy must be an unsigned integer of bits 0 to 3`);
  }
  return argument;
}

function isIndex(value: CborValue, count: number): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value < count;
}

function componentIndex(argument: CborValue, count: number, what: string): SuitComponentIndex {
  if (argument === true) return true;
  if (isIndex(argument, count)) return argument;
  if (Array.isArray(argument) && argument.length > 0) {
    const seen = new Set<number>();
    for (const index of argument) {
      if (!isIndex(index, count)) return fail("suit-malformed", `${what}: component index ${String(index)} is not one of the ${count} components`);
      if (seen.has(index)) fail("suit-malformed", `${what}: component index ${index} is listed twice`);
      seen.add(index);
    }
    return Object.freeze(argument.slice() as number[]);
  }
  return fail("suit-malformed", `${what}: component index must be one of the ${count} components, a list of them, or true`);
}

function tryEachAlternatives(argument: CborValue, context: SequenceContext, depth: number, what: string): (SuitCommandSequence | null)[] {
  // [2* bstr .cbor sequence, ? nil]
  if (!Array.isArray(argument) || argument.length < 2) return fail("suit-malformed", `${what}: try-each takes a list of at least two sequences`);
  if (argument.length > context.limits.maxTryEachAlternatives) {
    fail("suit-too-many-commands", `${what}: try-each has ${argument.length} alternatives; at most ${context.limits.maxTryEachAlternatives}`);
  }
  const alternatives: (SuitCommandSequence | null)[] = [];
  for (let i = 0; i < argument.length; i++) {
    const alternative = argument[i];
    if (alternative === null && i === argument.length - 1 && i >= 2) {
      alternatives.push(null);
    } else if (alternative instanceof Uint8Array) {
      alternatives.push(parseCommandSequence(alternative, context, depth + 1, `${what} (try-each alternative ${i})`));
    } else {
      fail("suit-malformed", `${what}: try-each alternative ${i} is not a bstr-wrapped sequence (nil only last, after two sequences)`);
    }
  }
  return alternatives;
}

function parseParameters(argument: CborValue, context: SequenceContext, depth: number, what: string): SuitParameters {
  if (!(argument instanceof Map) || argument.size === 0) return fail("suit-malformed", `${what}: override-parameters takes a non-empty map`);
  const parameters: SuitParameters = {};
  for (const [label, value] of argument as CborMap) {
    if (typeof label !== "number") return fail("suit-malformed", `${what}: parameter label ${labelText(label)} is not an integer`);
    setParameter(parameters, label, value, context, depth, `${what}, parameter ${label}`);
  }
  return Object.freeze(parameters);
}

function setParameter(parameters: SuitParameters, label: number, value: CborValue, context: SequenceContext, depth: number, what: string): void {
  const { limits } = context;
  switch (label) {
    case PARAMETER.vendorId:
      // The draft also allows a CBOR PEN (tag 112); Gatehouse identifies vendors by UUID only.
      parameters.vendorId = uuid(value, what);
      return;
    case PARAMETER.classId:
      parameters.classId = uuid(value, what);
      return;
    case PARAMETER.deviceId:
      parameters.deviceId = uuid(value, what);
      return;
    case PARAMETER.imageDigest:
      if (!(value instanceof Uint8Array)) return fail("suit-malformed", `${what}: image-digest is not a bstr-wrapped SUIT_Digest`);
      parameters.imageDigest = decodeDigest(value, what, cborLimits(limits, limits.maxManifestBytes));
      return;
    case PARAMETER.imageSize:
      parameters.imageSize = unsigned(value, what);
      return;
    case PARAMETER.componentSlot:
      parameters.componentSlot = unsigned(value, what);
      return;
    case PARAMETER.uri:
      parameters.uri = boundedText(value, limits.maxUriBytes, what);
      return;
    case PARAMETER.sourceComponent:
      if (!isIndex(value, context.componentCount)) return fail("suit-malformed", `${what}: source-component is not one of the ${context.componentCount} components`);
      parameters.sourceComponent = value;
      return;
    case PARAMETER.invokeArgs:
      if (!(value instanceof Uint8Array) || value.length > limits.maxInvokeArgsBytes) {
        return fail("suit-malformed", `${what}: invoke-args must be a byte string of at most ${limits.maxInvokeArgsBytes} bytes`);
      }
      parameters.invokeArgs = value;
      return;
    case PARAMETER.strictOrder:
      // Gatehouse always runs commands in order, which is correct whatever the value.
      if (typeof value !== "boolean") return fail("suit-malformed", `${what}: strict-order is not a boolean`);
      parameters.strictOrder = value;
      return;
    case PARAMETER.softFailure:
      // Draft: setting it outside try-each or run-sequence causes an abort.
      if (typeof value !== "boolean") return fail("suit-malformed", `${what}: soft-failure is not a boolean`);
      if (depth === 0) return fail("suit-malformed", `${what}: soft-failure may be set only inside try-each or run-sequence`);
      parameters.softFailure = value;
      return;
    case PARAMETER.securityEpoch:
      // A custom parameter: the draft keeps those out of the shared sequence, so that only devices that
      // passed the vendor and class checks act on them.
      if (context.shared) return fail("suit-malformed", `${what}: the security epoch (a custom parameter) may not be set in the shared sequence`);
      parameters.securityEpoch = unsigned(value, what);
      return;
  }
  const name = UNSUPPORTED_PARAMETERS[label] ?? (label < 0 ? "a custom parameter" : "an unknown parameter");
  fail("suit-unsupported-parameter", `${what}: ${name} (label ${label}) is not supported`);
}

function uuid(value: CborValue, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) return fail("suit-unsupported-parameter", `${what}: only a 16-byte UUID is supported here`);
  if (value.length !== UUID_LENGTH) return fail("suit-malformed", `${what}: a UUID is ${UUID_LENGTH} bytes, not ${value.length}`);
  return value;
}

function unsigned(value: CborValue, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) return fail("suit-malformed", `${what}: not an unsigned integer below 2^53`);
  return value;
}

/** Text of at most `maxBytes` UTF-8 bytes. */
export function boundedText(value: CborValue, maxBytes: number, what: string): string {
  // A JavaScript string has at most 3 UTF-8 bytes per code unit and at least 1: check cheaply first.
  if (typeof value !== "string") return fail("suit-malformed", `${what}: not a text string`);
  if (value.length > maxBytes || (value.length * 3 > maxBytes && utf8(value).length > maxBytes)) {
    fail("suit-malformed", `${what}: text longer than ${maxBytes} bytes`);
  }
  return value;
}
