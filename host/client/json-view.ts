// CBOR values viewed as JSON for the fleet server's API, its database and the CLI's output. Unlike the CLI's
// exact conversion (host/cli/json-exact.ts, which refuses anything lossy), this one always gives an answer:
//
//   map -> object (keys that are not text become their decimal or text form), byte string -> hex text,
//   bigint -> decimal text, undefined -> null, CborFloat -> number (NaN and infinities -> text),
//   tag -> {"tag": n, "value": ...}, other simple value -> {"simple": n}
//
// It is for showing and storing data that was already verified, not for round trips.

import { toHex } from "../../sdk/bytes";
import { CborFloat, CborSimple, CborTag } from "../../sdk/cbor/types";

/** A JSON value (the one Json type of the host code). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Deepest nesting converted; deeper values become the text "…" (publications are limited to 16 anyway). */
const MAX_DEPTH = 32;

export function toJson(value: unknown, depth = 0): Json {
  if (depth > MAX_DEPTH) return "…";
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return Number.isFinite(value) ? value : String(value);
    case "bigint":
      return value.toString();
    case "undefined":
      return null;
  }
  if (value === null) return null;
  if (value instanceof Uint8Array) return toHex(value);
  if (value instanceof CborFloat) return toJson(value.value, depth);
  if (value instanceof CborTag) return { tag: typeof value.tag === "bigint" ? value.tag.toString() : value.tag, value: toJson(value.value, depth + 1) };
  if (value instanceof CborSimple) return { simple: value.value };
  if (Array.isArray(value)) return value.map((item) => toJson(item, depth + 1));
  const object: { [key: string]: Json } = Object.create(null);
  const entries = value instanceof Map ? value.entries() : Object.entries(value as object);
  for (const [k, v] of entries) object[typeof k === "string" ? k : String(k)] = toJson(v, depth + 1);
  return object;
}

/** Compact JSON text of a CBOR value (see toJson). */
export function jsonText(value: unknown): string {
  return JSON.stringify(toJson(value));
}
