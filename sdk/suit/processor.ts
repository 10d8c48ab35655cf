// The SUIT interpreter (draft-ietf-suit-manifest-37 section 6): runs a parsed manifest's command
// sequences against a SuitHost.
//
// Setup, before any command (section 6.1 and 6.2):
// - only a manifest parsed from a verified envelope runs (suit-not-verified);
// - the sequence number must be newer than the installed one for an update, and not older for an
//   invocation (suit-rollback);
// - every component the manifest lists must exist on the device (suit-unknown-component);
// - a sequence the procedure needs that was severed and not delivered stops it (suit-sequence-missing).
// Then the shared sequence runs, then the procedure's sequences in order, over one parameter table
// that starts empty:
//   update:  payload-fetch, install, validate     (the draft's Update Procedure)
//   invoke:  validate, load, invoke                (its Invocation Procedure)
//
// Gatehouse's rules on top of the draft's semantics, each a refusal with its own code:
// - fetch, copy and invoke act only after this run has passed a vendor-identifier AND a
//   class-identifier condition (suit-identity-unchecked): a manifest cannot skip the target check;
// - a build's security epoch (custom parameter -257, 0 when unset) below the device's minimum is
//   refused when it is set and again at every fetch, copy and invoke (suit-below-epoch);
// - fetch needs the image digest (suit-parameter-missing): a payload is always checked as it arrives.
//
// Conditions that fail inside try-each (or a run-sequence that set soft-failure) end that sequence
// and undo its parameter changes; anywhere else they abort with the condition's code. Directives that
// fail always abort. The interpreter counts every command it executes (suit-too-much-work).
//
// The interpreter is written once, as generators that yield what the host returns: processManifest
// awaits a host that answers with promises (a download takes minutes), processManifestSync runs a host
// that answers at once (the conformance cases, which must be synchronous to run inside XS).
//
// Refusals (stable codes): suit-not-verified, suit-rollback, suit-unknown-component,
// suit-sequence-missing, suit-identity-unchecked, suit-below-epoch, suit-parameter-missing,
// suit-vendor-mismatch, suit-class-mismatch, suit-device-mismatch, suit-image-missing,
// suit-image-size-mismatch, suit-image-digest-mismatch, suit-slot-mismatch, suit-abort,
// suit-malformed, suit-too-much-work, suit-host-async, suit-config (a host whose installed sequence
// number or minimum epoch is not an integer); and whatever code a host operation throws.

import { fail, GatehouseError } from "../errors";
import type { ErrorCode } from "../error-codes";
import { bytesEqual, toHex } from "../bytes";
import type { SuitCommand, SuitCommandSequence, SuitComponentIndex, SuitConditionName, SuitDirectiveName, SuitParameters } from "./commands";
import { isVerifiedManifest, type SuitManifest, type SuitSequenceName } from "./manifest";
import type { Awaitable, SuitComponent, SuitHost, SuitImageMeasurement, SuitMeasureRequest } from "./host";
import type { SuitDigest } from "./digest";

export type SuitProcedure = "update" | "invoke";

export const PROCEDURE_SEQUENCES: Readonly<Record<SuitProcedure, readonly SuitSequenceName[]>> = Object.freeze({
  update: Object.freeze(["payload-fetch", "install", "validate"] as SuitSequenceName[]),
  invoke: Object.freeze(["validate", "load", "invoke"] as SuitSequenceName[]),
});

/** The reporting policy bits (SUIT_Rep_Policy). */
const RECORD_ON_SUCCESS = 1;
const RECORD_ON_FAILURE = 2;

/** One command's outcome, kept when the command's reporting policy asks for it. */
export interface SuitRecord {
  readonly sequence: SuitSequenceName;
  /** The command's name in the draft, e.g. "vendor-identifier", "fetch". */
  readonly command: string;
  readonly component: number;
  readonly policy: number;
  /** undefined: it succeeded; else the code of its failure. */
  readonly code?: string;
}

export interface SuitReport {
  readonly procedure: SuitProcedure;
  readonly sequenceNumber: number;
  readonly manifestDigest: SuitDigest;
  /** The sequences that ran, shared first. */
  readonly sequences: readonly SuitSequenceName[];
  readonly records: readonly SuitRecord[];
  /** Each component's parameters when the procedure ended. */
  readonly parameters: readonly Readonly<SuitParameters>[];
  readonly executedCommands: number;
}

export interface ProcessOptions {
  /** Run a manifest whose signatures were not checked: host tools only (a dry run in inspect.ts). */
  readonly unverified?: boolean;
}

/** Runs a procedure with a host that may answer with promises. */
export async function processManifest(manifest: SuitManifest, host: SuitHost, procedure: SuitProcedure, options: ProcessOptions = {}): Promise<SuitReport> {
  const work = runProcedure(manifest, host, procedure, options);
  let step = work.next();
  while (!step.done) {
    let value: unknown;
    let failure: unknown;
    let failed = false;
    try {
      value = await step.value;
    } catch (e) {
      failed = true;
      failure = e;
    }
    step = failed ? work.throw(failure) : work.next(value);
  }
  return step.value;
}

/** Runs a procedure with a host that answers every operation at once; a promise is refused. */
export function processManifestSync(manifest: SuitManifest, host: SuitHost, procedure: SuitProcedure, options: ProcessOptions = {}): SuitReport {
  const work = runProcedure(manifest, host, procedure, options);
  let step = work.next();
  while (!step.done) {
    if (isThenable(step.value)) {
      // Ends the generator (its finally blocks run); the promise itself is left to its maker.
      work.return(undefined as never);
      fail("suit-host-async", "the host answered with a promise: use processManifest");
    }
    step = work.next(step.value);
  }
  return step.value;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === "object" || typeof value === "function") && typeof (value as { then?: unknown }).then === "function";
}

/** A step of the interpreter: yields what the host returned, resumes with its (awaited) value. */
type Work<T> = Generator<unknown, T, unknown>;

function* hostCall<T>(value: Awaitable<T>): Work<T> {
  return (yield value) as T;
}

/** A condition that did not hold: ends the sequence, and the procedure unless failures are soft. */
interface ConditionFailure {
  readonly code: ErrorCode;
  readonly message: string;
}

interface RunState {
  readonly manifest: SuitManifest;
  readonly host: SuitHost;
  readonly components: readonly SuitComponent[];
  params: SuitParameters[];
  vendorChecked: boolean;
  classChecked: boolean;
  executed: number;
  readonly records: SuitRecord[];
  sequence: SuitSequenceName;
}

/** What a sequence changes that a failed alternative must give back. */
interface Snapshot {
  readonly params: SuitParameters[];
  readonly vendorChecked: boolean;
  readonly classChecked: boolean;
}

interface Frame {
  index: SuitComponentIndex;
  softFailure: boolean;
}

function* runProcedure(manifest: SuitManifest, host: SuitHost, procedure: SuitProcedure, options: ProcessOptions): Work<SuitReport> {
  // By identity, not by its `verified` field: a copied or hand-made manifest does not run.
  if (!isVerifiedManifest(manifest) && options.unverified !== true) fail("suit-not-verified", "the manifest was not parsed from a verified envelope");
  const installed = host.installedSequenceNumber;
  const minimumEpoch = host.minimumSecurityEpoch;
  // A comparison with NaN is false: a host that lost its state must not turn the checks off.
  if (!Number.isSafeInteger(installed) || installed < -1) fail("suit-config", `the host's installed sequence number ${String(installed)} is not an integer >= -1`);
  if (!Number.isSafeInteger(minimumEpoch) || minimumEpoch < 0) fail("suit-config", `the host's minimum security epoch ${String(minimumEpoch)} is not an integer >= 0`);
  const seq = manifest.sequenceNumber;
  if (procedure === "update" ? seq <= installed : seq < installed) {
    fail("suit-rollback", `sequence number ${seq} is ${procedure === "update" ? "not newer than" : "older than"} the installed ${installed}`);
  }
  const components = manifest.components.map((id, index): SuitComponent => Object.freeze({ index, id }));
  for (const component of components) {
    if (!host.hasComponent(component.id)) fail("suit-unknown-component", `component ${component.index} (${describeId(component)}) is not on this device`);
  }
  const names = PROCEDURE_SEQUENCES[procedure];
  for (const name of names) {
    if (manifest.severed.indexOf(name as "payload-fetch" | "install") >= 0) {
      fail("suit-sequence-missing", `suit-${name} was severed from the manifest and the envelope does not carry it`);
    }
  }

  const state: RunState = {
    manifest,
    host,
    components,
    // Parameter storage starts empty (section 6.1: nothing leaks from an earlier manifest).
    params: components.map(() => ({})),
    vendorChecked: false,
    classChecked: false,
    executed: 0,
    records: [],
    sequence: "shared",
  };
  const ran: SuitSequenceName[] = [];
  for (const name of ["shared" as SuitSequenceName].concat(names)) {
    const sequence = manifest.sequences.get(name);
    if (sequence === undefined) continue;
    state.sequence = name;
    try {
      yield* runSequence(state, sequence, { index: 0, softFailure: false });
    } catch (e) {
      if (e instanceof GatehouseError) throw new GatehouseError(e.code, `suit-${name}: ${e.message}`, { sequence: name, records: state.records, detail: e.detail });
      throw e;
    }
    ran.push(name);
  }
  return {
    procedure,
    sequenceNumber: seq,
    manifestDigest: manifest.digest,
    sequences: ran,
    records: state.records,
    parameters: state.params.map((p) => Object.freeze({ ...p })),
    executedCommands: state.executed,
  };
}

/**
 * Runs a sequence. Returns a condition failure only when the frame's failures are soft; a hard failure
 * throws. Soft-failure and the component index are scoped to the sequence (the frame).
 */
function* runSequence(state: RunState, commands: SuitCommandSequence, frame: Frame): Work<ConditionFailure | undefined> {
  for (const command of commands) {
    if (command.kind === "set-component-index") {
      count(state);
      frame.index = command.index;
      continue;
    }
    for (const component of selected(state, frame.index)) {
      count(state);
      const failure = yield* runCommand(state, command, component, frame);
      if (failure !== undefined) {
        if (frame.softFailure) return failure;
        fail(failure.code, failure.message);
      }
    }
  }
  return undefined;
}

function count(state: RunState): void {
  const limit = state.manifest.limits.maxExecutedCommands;
  if (++state.executed > limit) fail("suit-too-much-work", `more than ${limit} commands executed`);
}

/** The components an index selects (section 6.5), in manifest order for true. */
function selected(state: RunState, index: SuitComponentIndex): readonly SuitComponent[] {
  if (index === true) return state.components;
  if (typeof index === "number") return [state.components[index]];
  return index.map((i) => state.components[i]);
}

function* runCommand(state: RunState, command: SuitCommand, component: SuitComponent, frame: Frame): Work<ConditionFailure | undefined> {
  switch (command.kind) {
    case "override-parameters":
      override(state, command.parameters, component, frame);
      return undefined;
    case "try-each":
      return yield* tryEach(state, command.alternatives, component);
    case "run-sequence":
      return yield* runNested(state, command.sequence, component);
    case "condition": {
      const failure = yield* condition(state, command.name, component);
      record(state, command.name, component, command.policy, failure?.code);
      return failure;
    }
    case "directive":
      try {
        yield* directive(state, command.name, component);
      } catch (e) {
        record(state, command.name, component, command.policy, e instanceof GatehouseError ? e.code : "internal");
        throw e;
      }
      record(state, command.name, component, command.policy, undefined);
      return undefined;
    case "set-component-index":
      // Handled by runSequence: it changes the frame, not a component.
      return undefined;
  }
}

function record(state: RunState, command: string, component: SuitComponent, policy: number, code: string | undefined): void {
  if (policy & (code === undefined ? RECORD_ON_SUCCESS : RECORD_ON_FAILURE)) {
    state.records.push({ sequence: state.sequence, command, component: component.index, policy, code });
  }
}

function override(state: RunState, parameters: Readonly<SuitParameters>, component: SuitComponent, frame: Frame): void {
  const { softFailure, strictOrder, ...componentParameters } = parameters;
  // Processor parameters: soft-failure governs this sequence; strict-order needs nothing, since
  // Gatehouse always executes in order, which every value of it allows.
  void strictOrder;
  if (softFailure !== undefined) frame.softFailure = softFailure;
  const epoch = componentParameters.securityEpoch;
  if (epoch !== undefined) checkEpoch(state, epoch, component);
  Object.assign(state.params[component.index], componentParameters);
}

function checkEpoch(state: RunState, epoch: number, component: SuitComponent): void {
  const minimum = state.host.minimumSecurityEpoch;
  if (epoch < minimum) fail("suit-below-epoch", `component ${component.index} is a build of security epoch ${epoch}; this device requires at least ${minimum}`);
}

function snapshot(state: RunState): Snapshot {
  return { params: state.params.map((p) => ({ ...p })), vendorChecked: state.vendorChecked, classChecked: state.classChecked };
}

/** Puts back a snapshot; copies it, so that one snapshot can be restored more than once. */
function restore(state: RunState, saved: Snapshot): void {
  state.params = saved.params.map((p) => ({ ...p }));
  state.vendorChecked = saved.vendorChecked;
  state.classChecked = saved.classChecked;
}

/** Section 8.4.10.2: the first alternative that completes wins; none: the try-each fails (a directive). */
function* tryEach(state: RunState, alternatives: readonly (SuitCommandSequence | null)[], component: SuitComponent): Work<undefined> {
  const saved = snapshot(state);
  let last: ConditionFailure | undefined;
  for (const alternative of alternatives) {
    if (alternative === null) return undefined;
    // Soft-failure starts true in every alternative.
    const failure = yield* runSequence(state, alternative, { index: component.index, softFailure: true });
    if (failure === undefined) return undefined;
    restore(state, saved);
    last = failure;
  }
  const reason = last as ConditionFailure;
  return fail(reason.code, `no alternative of try-each succeeded; the last failed with: ${reason.message}`);
}

/** Section 8.4.10.7: soft-failure starts false; a soft failure halts the sequence without side effects. */
function* runNested(state: RunState, sequence: SuitCommandSequence, component: SuitComponent): Work<undefined> {
  const saved = snapshot(state);
  const failure = yield* runSequence(state, sequence, { index: component.index, softFailure: false });
  if (failure !== undefined) restore(state, saved);
  return undefined;
}

function conditionFailed(code: ErrorCode, message: string): ConditionFailure {
  return { code, message };
}

function* condition(state: RunState, name: SuitConditionName, component: SuitComponent): Work<ConditionFailure | undefined> {
  const { host } = state;
  const p = state.params[component.index];
  switch (name) {
    case "vendor-identifier":
      if (p.vendorId === undefined) return conditionFailed("suit-parameter-missing", `vendor-identifier: component ${component.index} has no vendor-id`);
      if (!host.matchesVendorId(component, p.vendorId)) return conditionFailed("suit-vendor-mismatch", `the manifest is for vendor ${uuidText(p.vendorId)}, not this device's`);
      state.vendorChecked = true;
      return undefined;
    case "class-identifier":
      if (p.classId === undefined) return conditionFailed("suit-parameter-missing", `class-identifier: component ${component.index} has no class-id`);
      if (!host.matchesClassId(component, p.classId)) return conditionFailed("suit-class-mismatch", `the manifest is for class ${uuidText(p.classId)}, not this device's`);
      state.classChecked = true;
      return undefined;
    case "device-identifier":
      if (p.deviceId === undefined) return conditionFailed("suit-parameter-missing", `device-identifier: component ${component.index} has no device-id`);
      if (!host.matchesDeviceId(component, p.deviceId)) return conditionFailed("suit-device-mismatch", `the manifest is for device ${uuidText(p.deviceId)}, not this one`);
      return undefined;
    case "component-slot": {
      if (p.componentSlot === undefined) return conditionFailed("suit-parameter-missing", `component-slot: component ${component.index} has no component-slot`);
      const slot = host.componentSlot(component);
      if (slot !== p.componentSlot) return conditionFailed("suit-slot-mismatch", `component ${component.index} is in slot ${String(slot)}, not ${p.componentSlot}`);
      return undefined;
    }
    case "image-match": {
      if (p.imageDigest === undefined) return conditionFailed("suit-parameter-missing", `image-match: component ${component.index} has no image-digest`);
      const measured: SuitImageMeasurement | undefined = yield* hostCall(host.measure(imageRequest(state, component)));
      if (measured === undefined) return conditionFailed("suit-image-missing", `component ${component.index} holds no image`);
      if (p.imageSize !== undefined && measured.size !== p.imageSize) {
        return conditionFailed("suit-image-size-mismatch", `component ${component.index} holds ${measured.size} bytes, the manifest says ${p.imageSize}`);
      }
      if (!bytesEqual(measured.digest, p.imageDigest.bytes)) {
        return conditionFailed("suit-image-digest-mismatch", `component ${component.index} has SHA-256 ${toHex(measured.digest)}, the manifest says ${toHex(p.imageDigest.bytes)}`);
      }
      return undefined;
    }
    case "abort":
      return conditionFailed("suit-abort", "the manifest aborts here (condition-abort)");
  }
}

function* directive(state: RunState, name: SuitDirectiveName, component: SuitComponent): Work<void> {
  const { host } = state;
  const p = state.params[component.index];
  if (!(state.vendorChecked && state.classChecked)) {
    fail("suit-identity-unchecked", `${name} before the manifest checked both the vendor and the class of this device`);
  }
  const securityEpoch = p.securityEpoch ?? 0;
  checkEpoch(state, securityEpoch, component);
  switch (name) {
    case "fetch": {
      const imageDigest = p.imageDigest;
      if (imageDigest === undefined) return fail("suit-parameter-missing", `fetch: component ${component.index} has no image-digest to check the payload against`);
      yield* hostCall(host.fetch({ ...imageRequest(state, component), imageDigest, uri: p.uri }));
      return;
    }
    case "copy": {
      if (p.sourceComponent === undefined) return fail("suit-parameter-missing", `copy: component ${component.index} has no source-component`);
      if (p.sourceComponent === component.index) return fail("suit-malformed", `copy: component ${component.index} is its own source`);
      yield* hostCall(host.copy({ ...imageRequest(state, component), source: state.components[p.sourceComponent] }));
      return;
    }
    case "invoke":
      yield* hostCall(host.invoke({ component, componentSlot: p.componentSlot, invokeArgs: p.invokeArgs, securityEpoch }));
      return;
  }
}

function imageRequest(state: RunState, component: SuitComponent): SuitMeasureRequest {
  const p = state.params[component.index];
  return {
    component,
    componentSlot: p.componentSlot,
    imageDigest: p.imageDigest,
    imageSize: p.imageSize,
    securityEpoch: p.securityEpoch ?? 0,
  };
}

/** 8-4-4-4-12 hex, the way UUIDs are written. */
export function uuidText(bytes: Uint8Array): string {
  const hex = toHex(bytes);
  if (bytes.length !== 16) return hex;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function describeId(component: SuitComponent): string {
  return `[${component.id.map((part) => `h'${toHex(part)}'`).join(", ")}]`;
}
