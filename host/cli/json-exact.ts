// JSON <-> CBOR for the CLI, exactly: a conversion that would lose anything is refused. (The lossy view
// for showing and storing verified data, which always answers, is host/client/json-view.ts.)
//
// JSON to CBOR (sign --json): objects become maps with text keys, arrays arrays, strings text, true,
// false and null themselves; a number that is a safe integer (|n| <= 2^53 - 1) becomes a CBOR integer
// and any other number a float in its shortest exact width. JSON numbers beyond 2^53 have already lost
// precision in JSON.parse, so they are floats too rather than integers that look exact.
//
// CBOR to JSON (verify's output): only when nothing is lost: maps with text keys, arrays, text, safe
// integers, finite floats, booleans and null. Anything else (bytes, tags, bigints, undefined, other
// simple values, non-text keys, NaN, infinities) has no JSON form: the caller falls back to diagnostic
// notation.

import { CborFloat, type CborMap, type CborValue } from "../../sdk/cbor/types";
import { fail } from "../../sdk/errors";
import type { Json } from "../client/json-view";

export type { Json };

/** Parses JSON text into the CBOR value it stands for (code "usage" when it is not JSON). */
export function jsonTextToCbor(text: string, flag: string): CborValue {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return fail("usage", `${flag} is not valid JSON: ${(e as Error).message}`);
  }
  return jsonToCbor(value);
}

export function jsonToCbor(value: unknown): CborValue {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return Number.isSafeInteger(value) ? value : new CborFloat(value);
  }
  if (value === null) return null;
  if (Array.isArray(value)) return value.map(jsonToCbor);
  const map: CborMap = new Map();
  for (const [k, v] of Object.entries(value as object)) map.set(k, jsonToCbor(v));
  return map;
}

const NOT_JSON = Symbol("not JSON");

/** The JSON form of a decoded CBOR value (decoded with keepFloats), or undefined when there is none. */
export function cborToJson(value: CborValue): Json | undefined {
  const json = convert(value);
  return json === NOT_JSON ? undefined : json;
}

function convert(value: CborValue): Json | typeof NOT_JSON {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      // The decoder gives numbers only for safe integers (and for floats without keepFloats).
      return Number.isFinite(value) ? value : NOT_JSON;
    case "bigint":
    case "undefined":
      return NOT_JSON;
  }
  if (value === null) return null;
  if (value instanceof CborFloat) return Number.isFinite(value.value) ? value.value : NOT_JSON;
  if (Array.isArray(value)) {
    const array: Json[] = [];
    for (const item of value) {
      const json = convert(item);
      if (json === NOT_JSON) return NOT_JSON;
      array.push(json);
    }
    return array;
  }
  if (value instanceof Map) {
    // No prototype: a "__proto__" key is an ordinary property here.
    const object: { [key: string]: Json } = Object.create(null);
    for (const [k, v] of value) {
      if (typeof k !== "string") return NOT_JSON;
      const json = convert(v);
      if (json === NOT_JSON) return NOT_JSON;
      object[k] = json;
    }
    return object;
  }
  return NOT_JSON; // Uint8Array, CborTag, CborSimple, plain objects (the decoder never makes those)
}
