// Patches: signed JavaScript that replaces the logic behind door operations without reflashing
// (issue 7 item 5; docs/suit.md, "Patches"). The Device makes one Patches when its options have
// `patches`, wraps every door implementation through it, and shows the active patch's sequence number
// in its birth (`patch`).
//
// apply(envelope, source), in order, each step a refusal with its own code:
// 1. the envelope is verified against the UPDATE trust (k of n) before anything of it is parsed;
// 2. the manifest runs its update procedure against PatchSuitHost: sequence number newer than the last
//    patch accepted (suit-rollback), security epoch not below the device's minimum, vendor and class
//    ids, the one component PATCH_COMPONENT, then the source's size and SHA-256;
// 3. the source is checked (checkPatchSource), evaluated in a fresh confined Compartment whose only
//    endowment is the frozen door API, and its exports read into a table of replacement functions;
// 4. only then is it stored and made active. A refusal at any step leaves the active patch as it was.
//
// A patched operation still goes through the door: the runtime checks the caller's role and validates
// the input BEFORE the patch runs, and the patch's result is validated against the operation's output
// type after it (here, so that a wrong shape is the patch's fault: patch-failed). Door calls a patch
// makes (the `doors` endowment, ctx.original) go through the same dispatch and checks, as the PATCH's own
// principal ("patch-<seq>", with the role the device was given for patches, default operate), never as
// the caller: the runtime does not hand the caller to an implementation, and what a patch can reach
// should be fixed by whoever provisioned the device, not by whoever calls the door.
//
// Refusals (stable codes): the suit-* codes of verification and processing, patch-source-invalid,
// patch-shape-invalid, patch-unavailable; when a patched operation runs: patch-failed (it threw,
// returned a value outside the schema, called doors too often or too deep, or called outside a call).
//
// The crash-loop limit: a patch whose operations keep failing must not keep the device broken. Every
// outermost patched call that ends patch-failed counts, one that succeeds resets the count, and the count
// is stored with the patch state (so restarts between failures do not reset it). At MAX_PATCH_FAILURES in
// a row the patch is revoked: deactivated and stored so (a restart keeps the original logic), a security
// event `patch-revoked`. Its sequence number stays: only a newer patch can come back.

import { fail, GatehouseError } from "../errors";
import { toHex } from "../bytes";
import { decode } from "../cbor/decode";
import { encode } from "../cbor/encode";
import type { CryptoPort } from "../ports/crypto";
import { MAX_STORAGE_VALUE, type StoragePort } from "../ports/storage";
import type { Principal, Role } from "../doors/access";
import type { DoorRequest, Outcome } from "../doors/runtime";
import { resolveOperation, type DoorImplementation, type DoorSchema } from "../doors/schema";
import { validate } from "../doors/validate";
import { verifyEnvelope } from "../suit/envelope";
import { parseManifest } from "../suit/manifest";
import { processManifestSync } from "../suit/processor";
import type { UpdateTrust } from "../suit/trust";
import { confine, deepFreeze, type CompartmentPort } from "./compartment";
import { checkPatchSource, MAX_PATCH_DEPTH, MAX_PATCH_DOOR_CALLS, MAX_PATCH_FAILURES, readPatchTable, type PatchFunction, type PatchTable } from "./format";
import { PatchSuitHost } from "./host";

export interface PatchSettings {
  /** The platform's Compartment (ports/moddable/compartment.ts, ports/node/compartment.ts). */
  compartment: CompartmentPort;
  /** The update trust: patches are signed as images are. */
  trust: UpdateTrust;
  /** 16-byte UUIDs a patch manifest must name (as an image manifest does). */
  vendorId: Uint8Array;
  classId: Uint8Array;
  /** The device's minimum security epoch now (the update state's; default 0). */
  minimumSecurityEpoch?: () => number;
  /** The role of a patch's own calls to doors (default "operate"). */
  role?: Role;
  /** Doors whose operations a patch may replace (default: every door). */
  doors?: readonly string[];
}

/** What the device needs to give Patches. */
export interface PatchLink {
  crypto: CryptoPort;
  storage: StoragePort;
  dispatch(request: DoorRequest): Outcome;
  schemaOf(door: string): DoorSchema | undefined;
  /** Records a refusal as a security event (a patch that could not be restored at boot). */
  refuse(code: string, principal: string): void;
}

/** The active patch. */
export interface PatchInfo {
  readonly sequenceNumber: number;
  /** Hex SHA-256 of the patch source: names what runs. */
  readonly sourceDigest: string;
  /** The operations it replaces, "door:verb.member". */
  readonly operations: readonly string[];
}

const KEY_STATE = "patch.state";
const KEY_ENVELOPE = "patch.env";
const KEY_SOURCE = "patch.src";

interface Active {
  readonly info: PatchInfo;
  readonly table: PatchTable;
  readonly principal: Principal;
}

/** One call of a patched operation in progress. */
interface Call {
  calls: number;
}

export class Patches {
  private readonly settings: PatchSettings;
  private readonly link: PatchLink;
  private current?: Active;
  /** The sequence number of the last patch accepted (-1: none); a removal keeps it. */
  private sequence = -1;
  private depth = 0;
  private call?: Call;
  private restored = false;
  /** patch-failed outcomes of the active patch in a row (stored). */
  private failures = 0;

  constructor(settings: PatchSettings, link: PatchLink) {
    this.settings = settings;
    this.link = link;
    const saved = link.storage.read(KEY_STATE);
    if (saved) {
      const state = decode(saved);
      if (state instanceof Map && typeof state.get("seq") === "number") this.sequence = state.get("seq") as number;
      if (state instanceof Map && typeof state.get("fails") === "number") this.failures = state.get("fails") as number;
    }
  }

  /** The active patch, if one is. */
  get active(): PatchInfo | undefined {
    return this.current?.info;
  }

  /** The sequence number of the last patch accepted, -1 when none ever was. */
  get sequenceNumber(): number {
    return this.sequence;
  }

  /**
   * Wraps a door's implementation: each operation a patch may replace runs the active patch's function
   * when it has one, the original otherwise. Called by Device.register.
   */
  wrap<S extends DoorSchema>(schema: S, implementation: DoorImplementation<S>): DoorImplementation<S> {
    if (this.settings.doors !== undefined && this.settings.doors.indexOf(schema.name) < 0) return implementation;
    const groups = implementation as unknown as Record<string, Record<string, (input?: unknown) => unknown>>;
    const wrapped: Record<string, Record<string, (input?: unknown) => unknown>> = {};
    for (const verb of Object.keys(groups)) {
      const group = groups[verb];
      wrapped[verb] = {};
      for (const member of Object.keys(group)) {
        const original = group[member];
        wrapped[verb][member] = (input?: unknown) => this.run(schema, `${verb}.${member}`, input, original);
      }
    }
    return wrapped as unknown as DoorImplementation<S>;
  }

  /**
   * Verifies, checks and activates a patch: `envelope` is the signed SUIT envelope, `source` the payload
   * it names (the bytes of the .js file). Throws a GatehouseError for any refusal, before anything of
   * the patch has run when the refusal is the envelope's or the manifest's.
   */
  apply(envelope: Uint8Array, source: Uint8Array): PatchInfo {
    const { crypto, storage } = this.link;
    // Checked first, as a length: an envelope the device could not store would not survive a restart.
    if (envelope.length > MAX_STORAGE_VALUE) fail("storage-value", `the patch envelope is ${envelope.length} bytes; the device stores at most ${MAX_STORAGE_VALUE}`);
    const manifest = parseManifest(crypto, verifyEnvelope(crypto, envelope, this.settings.trust));
    processManifestSync(manifest, new PatchSuitHost(crypto, this.hostState(this.sequence), source), "update");
    const active = this.load(manifest.sequenceNumber, source);
    // Stored before it counts: the payload and envelope first, then the state that names them.
    storage.write(KEY_SOURCE, source);
    storage.write(KEY_ENVELOPE, envelope);
    this.failures = 0;
    this.save(manifest.sequenceNumber, true);
    this.sequence = manifest.sequenceNumber;
    this.current = active.table.size > 0 ? active : undefined;
    this.restored = true;
    return active.info;
  }

  /** Restores the original logic of every door. The sequence number stays: the old patch cannot come back. */
  remove(): void {
    this.current = undefined;
    this.failures = 0;
    this.save(this.sequence, false);
  }

  /**
   * Loads the stored patch at boot: the envelope is verified again under today's update trust (a revoked
   * signer's patch does not come back), the manifest's invoke procedure validates the stored source, and
   * the source is evaluated afresh. A failure leaves the original logic and is a security event.
   */
  restore(): void {
    if (this.restored) return;
    this.restored = true;
    const { crypto, storage } = this.link;
    const saved = storage.read(KEY_STATE);
    if (!saved) return;
    const state = decode(saved);
    if (!(state instanceof Map) || state.get("active") !== true) return;
    try {
      const envelope = storage.read(KEY_ENVELOPE);
      const source = storage.read(KEY_SOURCE);
      if (!envelope || !source) fail("patch-source-invalid", "the stored patch is incomplete");
      const manifest = parseManifest(crypto, verifyEnvelope(crypto, envelope, this.settings.trust));
      const host = new PatchSuitHost(crypto, this.hostState(this.sequence), source, true);
      processManifestSync(manifest, host, "invoke");
      if (manifest.sequenceNumber !== this.sequence) fail("suit-rollback", `the stored patch is ${manifest.sequenceNumber}, the state names ${this.sequence}`);
      const active = this.load(manifest.sequenceNumber, source);
      this.current = active.table.size > 0 ? active : undefined;
    } catch (e) {
      this.link.refuse(e instanceof GatehouseError ? e.code : "internal", "patch");
    }
  }

  private hostState(installed: number) {
    return {
      installedSequenceNumber: installed,
      minimumSecurityEpoch: this.settings.minimumSecurityEpoch?.() ?? 0,
      vendorId: this.settings.vendorId,
      classId: this.settings.classId,
    };
  }

  private save(seq: number, active: boolean): void {
    this.link.storage.write(KEY_STATE, encode(new Map<string, number | boolean>([["seq", seq], ["active", active], ["fails", this.failures]])));
  }

  /** An outermost patched call ended: success resets the count, patch-failed counts toward the limit. */
  private outcome(active: Active, failed: boolean): void {
    if (this.current !== active) return;
    if (!failed) {
      if (this.failures === 0) return;
      this.failures = 0;
      this.save(this.sequence, true);
      return;
    }
    this.failures++;
    if (this.failures < MAX_PATCH_FAILURES) {
      this.save(this.sequence, true);
      return;
    }
    // Revoked: stored inactive before the event, so a crash right after still boots the original logic.
    this.current = undefined;
    this.failures = 0;
    this.save(this.sequence, false);
    this.link.refuse("patch-revoked", active.principal.id);
  }

  /** Checks and evaluates the source; reads its table. Nothing is stored or made active here. */
  private load(sequenceNumber: number, source: Uint8Array): Active {
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(source);
    } catch {
      return fail("patch-source-invalid", "the patch source is not UTF-8");
    }
    const expression = checkPatchSource(text);
    const principal: Principal = Object.freeze({ id: `patch-${sequenceNumber}`, role: this.settings.role ?? "operate" });
    const compartment = confine(this.settings.compartment, { doors: this.doorApi(principal) });
    let exports: unknown;
    try {
      exports = compartment.evaluate(expression);
    } catch (e) {
      return fail("patch-source-invalid", `the patch did not evaluate: ${describe(e)}`);
    }
    const table = readPatchTable(exports, (door, op) => {
      const schema = this.link.schemaOf(door);
      const allowed = this.settings.doors === undefined || this.settings.doors.indexOf(door) >= 0;
      return allowed && schema !== undefined && resolveOperation(schema, op) !== undefined;
    });
    const operations: string[] = [];
    table.forEach((ops, door) => ops.forEach((_fn, op) => operations.push(`${door}:${op}`)));
    return { table, principal, info: Object.freeze({ sequenceNumber, sourceDigest: toHex(this.link.crypto.sha256(source)), operations: Object.freeze(operations) }) };
  }

  /** The frozen door API a patch gets: door calls through the runtime, as the patch's principal. */
  private doorApi(principal: Principal): object {
    const call = (door: unknown, op: string, args?: unknown): unknown => {
      if (typeof door !== "string") throw patchError("invalid-args", "a door name is text");
      this.count(`${door}.${op}`);
      const outcome = this.link.dispatch({ principal, door, op, args });
      if (!outcome.ok) throw patchError(outcome.code, outcome.message);
      return outcome.value;
    };
    return deepFreeze({
      read: (door: unknown, property: unknown) => call(door, `read.${String(property)}`),
      write: (door: unknown, property: unknown, value: unknown) => void call(door, `write.${String(property)}`, value),
      invoke: (door: unknown, action: unknown, input?: unknown) => call(door, `invoke.${String(action)}`, input),
    });
  }

  /** Counts a door call of the patched operation in progress; refuses one made outside any. */
  private count(what: string): void {
    const call = this.call;
    if (call === undefined) throw patchError("patch-failed", `${what}: a patch calls doors only while one of its operations runs`);
    if (++call.calls > MAX_PATCH_DOOR_CALLS) throw patchError("patch-failed", `${what}: more than ${MAX_PATCH_DOOR_CALLS} door calls in one operation`);
  }

  /**
   * One call of a (possibly) patched operation, after the runtime checked the role and the input. The
   * outermost patched call's outcome counts toward the crash-loop limit (a nested one's shows in it).
   */
  private run(schema: DoorSchema, op: string, input: unknown, original: (input?: unknown) => unknown): unknown {
    const fn: PatchFunction | undefined = this.current?.table.get(schema.name)?.get(op);
    if (fn === undefined) return original(input);
    const active = this.current as Active;
    if (this.call !== undefined) return this.runPatched(schema, op, input, original, fn, active);
    let value: unknown;
    try {
      value = this.runPatched(schema, op, input, original, fn, active);
    } catch (e) {
      if (e instanceof GatehouseError && e.code === "patch-failed") this.outcome(active, true);
      throw e;
    }
    this.outcome(active, false);
    return value;
  }

  private runPatched(schema: DoorSchema, op: string, input: unknown, original: (input?: unknown) => unknown, fn: PatchFunction, active: Active): unknown {
    const operation = resolveOperation(schema, op);
    if (operation === undefined) return fail("patch-failed", `${schema.name} has no ${op}`);
    const where = `patch ${active.info.sequenceNumber} ${schema.name}:${op}`;
    if (this.depth >= MAX_PATCH_DEPTH) fail("patch-failed", `${where}: patched operations nested more than ${MAX_PATCH_DEPTH} deep`);
    const outer = this.call;
    if (outer === undefined) this.call = { calls: 0 };
    this.depth++;
    let result: unknown;
    try {
      const ctx = Object.freeze({
        door: schema.name,
        op,
        // The original logic, behind the same input check: a patch cannot hand it what the door refuses.
        original: (value?: unknown) => original(validate(operation.input, value)),
      });
      result = fn(input, ctx);
    } catch (e) {
      // The code of a door call the patch let through (a refusal it did not catch), else none.
      const code = e instanceof Error ? Object.getOwnPropertyDescriptor(e, "code")?.value : undefined;
      return fail("patch-failed", `${where} threw: ${describe(e)}`, { cause: typeof code === "string" ? code : undefined });
    } finally {
      this.depth--;
      if (outer === undefined) this.call = undefined;
    }
    try {
      return validate(operation.output, result);
    } catch (e) {
      return fail("patch-failed", `${where} returned a value outside the schema: ${describe(e)}`);
    }
  }
}

/** An error for patch code: a plain Error (a shared, frozen intrinsic), never one of the host's classes. */
function patchError(code: string, message: string): Error {
  const error = new Error(`${code}: ${message}`);
  Object.defineProperty(error, "code", { value: code });
  return Object.freeze(error);
}

/** Text for a value a patch threw: bounded, and never the patch's own toString (it could be anything). */
function describe(e: unknown): string {
  const message = e instanceof Error ? Object.getOwnPropertyDescriptor(e, "message")?.value : undefined;
  const text = typeof message === "string" ? message : typeof e === "string" ? e : Object.prototype.toString.call(e);
  return text.length > 120 ? `${text.slice(0, 119)}…` : text;
}
