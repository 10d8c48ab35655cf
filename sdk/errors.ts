// Every refusal in Gatehouse is a value with a stable code. Tests, security events, the CLI and the
// server all key on `code`; `message` is for people and may change. Gatehouse's own codes are the table in
// error-codes.ts (fail() takes only those); an app's doors give codes of their own with new GatehouseError.

import type { ErrorCode } from "./error-codes";

export class GatehouseError extends Error {
  readonly code: string;
  readonly detail: unknown;
  constructor(code: string, message: string, detail?: unknown) {
    super(message);
    this.code = code;
    this.detail = detail;
  }
}

// The name lives on the prototype, defined rather than assigned: Moddable freezes the built-in prototypes,
// and `this.name = ...` in the constructor then throws "set name: not writable" (an inherited read-only
// property cannot be shadowed by assignment), so on XS 17 every fail() became a TypeError without a code.
Object.defineProperty(GatehouseError.prototype, "name", { value: "GatehouseError", writable: true, configurable: true });

/** Throws a GatehouseError with one of Gatehouse's own codes. */
export function fail(code: ErrorCode, message: string, detail?: unknown): never {
  throw new GatehouseError(code, message, detail);
}

export function isGatehouseError(e: unknown): e is GatehouseError {
  return e instanceof GatehouseError;
}

/** The code of an error, or "internal" for anything that is not a GatehouseError (a bug, not input). */
export function errorCode(e: unknown): string {
  return e instanceof GatehouseError ? e.code : "internal";
}
