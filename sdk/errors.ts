// Every refusal in Gatehouse is a value with a stable code. Tests, security events, the CLI and the
// server all key on `code`; `message` is for people and may change.

export class GatehouseError extends Error {
  readonly code: string;
  readonly detail: unknown;
  constructor(code: string, message: string, detail?: unknown) {
    super(message);
    this.name = "GatehouseError";
    this.code = code;
    this.detail = detail;
  }
}

export function fail(code: string, message: string, detail?: unknown): never {
  throw new GatehouseError(code, message, detail);
}

export function isGatehouseError(e: unknown): e is GatehouseError {
  return e instanceof GatehouseError;
}

/** The code of an error, or "internal" for anything that is not a GatehouseError (a bug, not input). */
export function errorCode(e: unknown): string {
  return e instanceof GatehouseError ? e.code : "internal";
}
