// Minimal assertions that run anywhere (Node and XS). Each throws a CheckFailure with a clear message.

import { errorCode } from "../../sdk/errors";
import { toHex } from "../../sdk/bytes";

export class CheckFailure extends Error {}

function show(value: unknown): string {
  if (value instanceof Uint8Array) return `h'${toHex(value)}'`;
  if (typeof value === "bigint") return `${value}n`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new CheckFailure(message);
}

export function checkEqual<T>(actual: T, expected: T, what: string): void {
  if (!Object.is(actual, expected)) throw new CheckFailure(`${what}: expected ${show(expected)}, got ${show(actual)}`);
}

export function checkBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  const a = toHex(actual);
  const e = toHex(expected);
  if (a !== e) throw new CheckFailure(`${what}: expected h'${e}', got h'${a}'`);
}

/** Runs `action`, which must throw a GatehouseError with `code`. Returns the error. */
export function checkRefused(action: () => unknown, code: string, what: string): unknown {
  let result: unknown;
  try {
    result = action();
  } catch (e) {
    const actual = errorCode(e);
    if (actual !== code) throw new CheckFailure(`${what}: expected refusal "${code}", got "${actual}" (${(e as Error).message})`);
    return e;
  }
  throw new CheckFailure(`${what}: expected refusal "${code}", but it succeeded with ${show(result)}`);
}

/** A value's canonical text: byte strings in hex, object and Map keys sorted (for deep comparisons). */
export function canonical(value: unknown): string {
  if (value instanceof Uint8Array) return `h'${toHex(value)}'`;
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value instanceof Map) return `{${Array.from(value.entries(), ([k, v]) => `${canonical(k)}:${canonical(v)}`).sort().join(",")}}`;
  if (value !== null && typeof value === "object") return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(",")}}`;
  return value === undefined ? "undefined" : typeof value === "bigint" ? `${value}n` : JSON.stringify(value);
}

/** Deep equality by canonical text. */
export function checkSame(actual: unknown, expected: unknown, what: string): void {
  const a = canonical(actual);
  const e = canonical(expected);
  if (a !== e) throw new CheckFailure(`${what}: expected ${e}, got ${a}`);
}
