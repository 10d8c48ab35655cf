// The Compartment port: how the patch runner (sdk/patch/patches.ts) gets a sandbox for patch code. The core
// never imports `ses` nor touches a platform's Compartment: a port gives one (ports/moddable/compartment.ts:
// XS's native Compartment; ports/node/compartment.ts: ses's, after lockdown()).
//
// What a port must give, and what confine() below checks of it, whatever the platform claims:
// - the compartment's global object holds the language's intrinsics and the endowments, nothing else, and
//   not the evaluators `eval` and `Function` either
//   (XS adds `trace`, `Native`, `global`, `Compartment`; ses adds `lockdown`, `harden`, `Compartment`):
//   confine() deletes or shadows every other name, on the global object and along its prototype chain;
// - the intrinsics are frozen (shared between compartments: a patch that could change Array.prototype
//   would change it for the whole device), and a function's constructor reached through a prototype
//   (`(function(){}).constructor`) does not evaluate code in the host's scope. XS 17 on Moddable and
//   ses after lockdown() both refuse it ("secure mode"); XS 13 in xsnap without lockdown does not, and
//   the port refuses to run there (patch-unavailable).
//
// Refusals (stable codes): patch-unavailable.

import { fail } from "../errors";

/** A fresh compartment, as a port makes it. */
export interface CompartmentHandle {
  /** The compartment's global object. */
  readonly globalThis: object;
  /** Evaluates a strict-mode script in the compartment; returns its completion value. */
  evaluate(source: string): unknown;
}

export interface CompartmentPort {
  /**
   * Makes a new compartment whose global object has the language's intrinsics plus `endowments` (copied
   * onto it as properties). The runner confines it (confine below) before any patch code runs in it.
   * Throws patch-unavailable when the platform cannot give a compartment at all.
   */
  create(endowments: Readonly<Record<string, unknown>>): CompartmentHandle;
}

/**
 * The ECMAScript 2022 global object's own properties (ECMA-262 section 19): all a patch may find on its
 * global besides its endowments. Moddable and xsnap keep `escape`/`unescape` (Annex B) too.
 */
export const STANDARD_GLOBALS: readonly string[] = [
  "globalThis", "Infinity", "NaN", "undefined",
  "eval", "isFinite", "isNaN", "parseFloat", "parseInt", "decodeURI", "decodeURIComponent", "encodeURI", "encodeURIComponent", "escape", "unescape",
  "AggregateError", "Array", "ArrayBuffer", "BigInt", "BigInt64Array", "BigUint64Array", "Boolean", "DataView", "Date", "Error", "EvalError",
  "FinalizationRegistry", "Float32Array", "Float64Array", "Function", "Int8Array", "Int16Array", "Int32Array", "Map", "Number", "Object", "Promise",
  "Proxy", "RangeError", "ReferenceError", "RegExp", "Set", "SharedArrayBuffer", "String", "Symbol", "SyntaxError", "TypeError",
  "Uint8Array", "Uint8ClampedArray", "Uint16Array", "Uint32Array", "URIError", "WeakMap", "WeakRef", "WeakSet",
  "Atomics", "JSON", "Math", "Reflect",
];

/** Intrinsics checked for being frozen: what every patch shares with the host. */
const SHARED_INTRINSICS: readonly unknown[] = [
  Object, Object.prototype, Array, Array.prototype, Function, Function.prototype, Error, Error.prototype, TypeError.prototype,
  Promise, Promise.prototype, Uint8Array.prototype, Object.getPrototypeOf(Uint8Array.prototype), Map.prototype, Set.prototype,
  String.prototype, Number.prototype, JSON, Math, Reflect, RegExp.prototype, Symbol,
];

/** The probe a confined compartment must answer with "refused" or with its own global. */
const CONSTRUCTOR_PROBE = "(() => { try { return (function () {}).constructor('return globalThis')(); } catch (e) { return 'refused'; } })()";

/**
 * Makes a compartment with only `endowments` beyond the intrinsics, and checks that it is one: the names
 * it must not have are removed (or shadowed with undefined when they cannot be deleted), the shared
 * intrinsics are frozen, and Function constructors reached through prototypes stay inside.
 */
export function confine(port: CompartmentPort, endowments: Readonly<Record<string, unknown>>): CompartmentHandle {
  for (const intrinsic of SHARED_INTRINSICS) {
    if (!Object.isFrozen(intrinsic)) fail("patch-unavailable", "the shared intrinsics are not frozen (ses: call lockdown() first): a patch could change them for the whole device");
  }
  const compartment = port.create(endowments);
  const global = compartment.globalThis;
  // The evaluators are standard, but a patch that has them can build from strings what the source check
  // refuses (a loop): `Function("whi" + "le (1) {}")`. Their other way in, a function's constructor, is
  // closed by the probe below.
  const allowed = new Set<string>(STANDARD_GLOBALS.filter((name) => name !== "eval" && name !== "Function"));
  for (const name of Object.keys(endowments)) allowed.add(name);
  const names = new Set<string>();
  for (let o: object | null = global; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) if (!allowed.has(name)) names.add(name);
  }
  names.forEach((name) => {
    const own = Object.getOwnPropertyDescriptor(global, name);
    if (own?.configurable === true && delete (global as Record<string, unknown>)[name]) {
      // Deleted from the global itself; an inherited one of the same name is shadowed below.
      if (!(name in global)) return;
    }
    try {
      // A name the global holds for good (non-configurable) can still be emptied when it is writable.
      Object.defineProperty(global, name, own?.configurable === false ? { value: undefined, writable: false } : { value: undefined, writable: false, enumerable: false, configurable: false });
    } catch {
      // Checked just below.
    }
    if ((global as Record<string, unknown>)[name] !== undefined) fail("patch-unavailable", `the compartment's global "${name}" cannot be removed`);
  });
  const probe = compartment.evaluate(CONSTRUCTOR_PROBE);
  if (probe !== "refused" && probe !== global) fail("patch-unavailable", "a function constructor inside the compartment evaluates code in the host's scope");
  return compartment;
}

/** Freezes an object graph made of plain objects and functions (the door API given to patches). */
export function deepFreeze<T>(value: T): T {
  if ((typeof value !== "object" && typeof value !== "function") || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const name of Object.getOwnPropertyNames(value)) {
    const descriptor = Object.getOwnPropertyDescriptor(value, name);
    if (descriptor && "value" in descriptor) deepFreeze(descriptor.value);
  }
  return value;
}
