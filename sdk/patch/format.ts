// What a patch is (docs/suit.md, "Patches"): a SUIT envelope signed by the update trust, like an image,
// whose one component is PATCH_COMPONENT and whose payload is JavaScript source of this form:
//
//   export default {
//     setpoint: { write: { target(value, ctx) { ... } } },
//     lock: { invoke: { unlock(input, ctx) { return ctx.original(input); } } },
//   };
//
// One `export default` of an expression, nothing else at the top level (helpers go inside it): the
// device evaluates the expression as a script in a Compartment (sdk/patch/compartment.ts), so no module
// loader is needed on either platform. The value names doors, then verbs (read, write, invoke), then
// members, each a function: the replacement implementation of that operation. A patch that names
// nothing (`export default {}`) replaces nothing: signed with a newer sequence number, it is how an
// operator removes a patch.
//
// checkPatchSource refuses, before any evaluation: more than MAX_PATCH_SOURCE_BYTES, invalid UTF-8 (the
// caller decodes), any other top-level form, and the words that make statements loop or defer work
// (for, while, do, async, await, yield, import, export beyond the first): a door call must finish, and
// on a microcontroller nothing can interrupt a running script (docs/suit.md says what remains).
// readPatchTable refuses an evaluated value of the wrong shape.
//
// Refusals (stable codes): patch-source-invalid, patch-shape-invalid.

import { fail } from "../errors";
import { utf8 } from "../cbor/encode";
import type { SuitComponentId } from "../suit/commands";
import { DOOR_NAME_PATTERN, MEMBER_NAME_PATTERN } from "../doors/schema";
import { sameComponentId, type SuitManifest } from "../suit/manifest";

/** The SUIT component a patch names: the text "gatehouse-patch". A device's image host has no such component. */
export const PATCH_COMPONENT: SuitComponentId = [utf8("gatehouse-patch")];

/** Bytes of patch source: one value of the storage port (NVS holds 4000 bytes a value). */
export const MAX_PATCH_SOURCE_BYTES = 4000;
/** Operations one patch may replace. */
export const MAX_PATCH_OPERATIONS = 16;
/** Door calls a patched operation may make, nested ones included, each time it runs. */
export const MAX_PATCH_DOOR_CALLS = 16;
/** Patched operations calling patched operations: how deep. */
export const MAX_PATCH_DEPTH = 4;
/**
 * The crash-loop limit: this many patch-failed outcomes of the active patch in a row (no patched operation
 * succeeding between them, restarts included) revoke it: the doors run their original logic again.
 */
export const MAX_PATCH_FAILURES = 5;

const VERBS = ["read", "write", "invoke"] as const;
export type PatchVerb = (typeof VERBS)[number];

/** A patched operation's replacement: its input (validated) and the context. */
export type PatchFunction = (input: unknown, ctx: unknown) => unknown;

/** "door" -> "verb.member" -> function, as read from a patch's exports. */
export type PatchTable = Map<string, Map<string, PatchFunction>>;

const EXPORT_DEFAULT = /^\s*export\s+default\s/;
/** `function*`, and a `*` where only a generator method can put one (never a multiplication there). */
const GENERATOR = /function\s*\*|[{},;]\s*\*|static\s*\*/;
/** Words no patch contains, even in a string or comment: the scan is lexical, and errs on refusing. */
const REFUSED_WORDS = /(?:^|[^A-Za-z0-9_$])(for|while|do|async|await|yield|import|export)(?![A-Za-z0-9_$])/;

/** The expression after `export default`, to evaluate as a script. */
export function checkPatchSource(source: string): string {
  if (utf8(source).length > MAX_PATCH_SOURCE_BYTES) fail("patch-source-invalid", `the patch source is over ${MAX_PATCH_SOURCE_BYTES} bytes`);
  const head = EXPORT_DEFAULT.exec(source);
  if (!head) fail("patch-source-invalid", "a patch is one `export default { ... }` and nothing else at the top level");
  const expression = source.slice(head[0].length);
  const word = REFUSED_WORDS.exec(expression);
  if (word) fail("patch-source-invalid", `a patch may not contain "${word[1]}": loops, deferred work and imports are refused (a door call must finish)`);
  // A generator function's constructor is one more way to an evaluator; a patch has no use for generators.
  if (GENERATOR.test(expression)) fail("patch-source-invalid", "a patch may not declare a generator function (function*)");
  // Parenthesized: `{` would otherwise open a block; the trailing semicolon and comments stay valid.
  return `(${trimSemicolon(expression)}\n)`;
}

function trimSemicolon(expression: string): string {
  const trimmed = expression.replace(/\s+$/, "");
  return trimmed.endsWith(";") ? trimmed.slice(0, -1) : trimmed;
}

/** Own data properties of a plain object, in order; anything else is the wrong shape. */
function entriesOf(value: unknown, what: string): [string, unknown][] {
  if (value === null || typeof value !== "object" || Array.isArray(value)) fail("patch-shape-invalid", `${what} must be an object`);
  const out: [string, unknown][] = [];
  for (const key of Reflect.ownKeys(value as object)) {
    if (typeof key !== "string") fail("patch-shape-invalid", `${what} has a symbol key`);
    const descriptor = Object.getOwnPropertyDescriptor(value, key) as PropertyDescriptor;
    // A getter would run patch code each time the table is read: the table is read once, as data.
    if (!("value" in descriptor)) fail("patch-shape-invalid", `${what}.${key} is an accessor, not a value`);
    out.push([key, descriptor.value]);
  }
  return out;
}

/**
 * Reads the evaluated exports into a table. `operationOf(door, op)` says whether the device has that
 * operation and lets patches replace it.
 */
export function readPatchTable(exports: unknown, operationOf: (door: string, op: string) => boolean): PatchTable {
  const table: PatchTable = new Map();
  let count = 0;
  for (const [door, verbs] of entriesOf(exports, "the patch")) {
    if (!DOOR_NAME_PATTERN.test(door)) fail("patch-shape-invalid", `"${door}" is not a door name`);
    const ops = new Map<string, PatchFunction>();
    for (const [verb, members] of entriesOf(verbs, door)) {
      if ((VERBS as readonly string[]).indexOf(verb) < 0) fail("patch-shape-invalid", `${door}.${verb}: the verbs are ${VERBS.join(", ")}`);
      for (const [member, fn] of entriesOf(members, `${door}.${verb}`)) {
        const op = `${verb}.${member}`;
        if (!MEMBER_NAME_PATTERN.test(member)) fail("patch-shape-invalid", `${door}.${op} is not an operation name`);
        if (typeof fn !== "function") fail("patch-shape-invalid", `${door}.${op} must be a function`);
        if (!operationOf(door, op)) fail("patch-shape-invalid", `this device has no operation ${op} on door "${door}" that a patch may replace`);
        if (++count > MAX_PATCH_OPERATIONS) fail("patch-shape-invalid", `a patch replaces at most ${MAX_PATCH_OPERATIONS} operations`);
        ops.set(op, fn as PatchFunction);
      }
    }
    if (ops.size > 0) table.set(door, ops);
  }
  return table;
}

/**
 * True when a verified manifest is a patch's (its one component is PATCH_COMPONENT): the OTA agent hands
 * such an envelope and its payload to device.patches.apply instead of writing the payload to a slot.
 */
export function isPatchManifest(manifest: SuitManifest): boolean {
  return manifest.components.length === 1 && sameComponentId(manifest.components[0], PATCH_COMPONENT);
}
