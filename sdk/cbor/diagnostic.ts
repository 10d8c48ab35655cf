// Diagnostic notation (RFC 8949 section 8): the human-readable text form of a CBOR data item.
// Decode with `keepFloats: true` first, so that 1.0 prints as a float and 1 as an integer.

import { CborFloat, CborSimple, CborTag, type CborValue } from "./types";
import { toHex } from "../bytes";

export function diagnostic(value: CborValue): string {
  switch (typeof value) {
    case "number":
      return numberText(value, false);
    case "bigint":
      return value.toString();
    case "string":
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "undefined":
      return "undefined";
  }
  if (value === null) return "null";
  if (value instanceof Uint8Array) return `h'${toHex(value)}'`;
  if (Array.isArray(value)) return `[${value.map(diagnostic).join(", ")}]`;
  if (value instanceof Map) {
    const parts: string[] = [];
    for (const [k, v] of value) parts.push(`${diagnostic(k)}: ${diagnostic(v)}`);
    return `{${parts.join(", ")}}`;
  }
  if (value instanceof CborTag) return `${value.tag}(${diagnostic(value.value)})`;
  if (value instanceof CborFloat) return numberText(value.value, true);
  if (value instanceof CborSimple) return `simple(${value.value})`;
  const parts = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${diagnostic(v)}`);
  return `{${parts.join(", ")}}`;
}

function numberText(x: number, isFloat: boolean): string {
  if (x !== x) return "NaN";
  if (x === Infinity) return "Infinity";
  if (x === -Infinity) return "-Infinity";
  if (Object.is(x, -0)) return "-0.0";
  const text = String(x);
  // A float always shows a fraction or an exponent, so that it reads as a float.
  if (isFloat && Number.isInteger(x) && !text.includes("e")) return `${text}.0`;
  return text;
}
