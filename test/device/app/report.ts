// How a device test app talks to the suite (test/device/support/moddable.ts): parameters come in as
// environment variables (getenv through XS FFI, environment.c), results go out as trace() lines on stdout, one JSON
// object each after the prefix below, and the app ends with libc exit(code). Device code: runs on XS.

import FFI from "mc/ffi";

export const REPORT_PREFIX = "@@gatehouse ";

const libc = new FFI();

/** An environment variable the suite sets (it sets every one an app reads, empty when unused). */
export function env(name: string): string {
  return String(libc.gatehouse_env(name));
}

export function report(message: object): void {
  trace(REPORT_PREFIX + JSON.stringify(message) + "\n");
}

/** The error's own text, as the suite prints it for a failed case. */
export function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}${(e as { code?: string }).code ? ` (${(e as { code?: string }).code})` : ""}: ${e.message}`;
  return `non-Error thrown: ${String(e)}`;
}

export function exit(code: number): void {
  libc.exit(code);
}
