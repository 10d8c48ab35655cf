// Run-time check of a value against a door value type. The same check guards local calls, remote
// commands and (later) update patches. Refusals throw GatehouseError "invalid-args" with a detail
// {path, reason} where reason is one of: type, range, length, pattern, enum, missing-field, extra-field.

import { fail } from "../errors";
import type { FieldType, ValueType } from "./types";

/**
 * Compiled patterns, by their source (the patterns of the app's schemas: a fixed few). Keyed by text, not by
 * the schema object: a Moddable app preloads its door schemas, and XS refuses an object that lives in flash
 * as a WeakMap key ("key: read-only"). Made on first use: a Map made at load time would be read-only in a
 * preloaded module.
 */
let patterns: Map<string, RegExp> | undefined;

function refuse(path: string, reason: string, message: string): never {
  return fail("invalid-args", `${path}: ${message}`, { path, reason });
}

/** Checks `value` against `type`; returns it in its local form (records become plain objects). */
export function validate(type: ValueType, value: unknown, path = "$"): unknown {
  switch (type.kind) {
    case "int":
      if (typeof value !== "number" || !Number.isInteger(value)) refuse(path, "type", "expected an integer");
      if ((value as number) < type.min || (value as number) > type.max) refuse(path, "range", `${value} is outside [${type.min}, ${type.max}]`);
      return value;
    case "number":
      if (typeof value !== "number" || value !== value) refuse(path, "type", "expected a number");
      if ((value as number) < type.min || (value as number) > type.max) refuse(path, "range", `${value} is outside [${type.min}, ${type.max}]`);
      return value;
    case "bool":
      if (typeof value !== "boolean") refuse(path, "type", "expected a boolean");
      return value;
    case "string":
      return checkString(type, value, path);
    case "bytes":
      if (!(value instanceof Uint8Array)) refuse(path, "type", "expected a byte string");
      if ((value as Uint8Array).length > type.maxLength || (value as Uint8Array).length < (type.minLength ?? 0)) {
        refuse(path, "length", `${(value as Uint8Array).length} bytes is outside [${type.minLength ?? 0}, ${type.maxLength}]`);
      }
      return value;
    case "array": {
      if (!Array.isArray(value)) refuse(path, "type", "expected an array");
      const items = value as unknown[];
      if (items.length > type.maxItems) refuse(path, "length", `${items.length} items exceed ${type.maxItems}`);
      return items.map((item, i) => validate(type.items, item, `${path}[${i}]`));
    }
    case "record":
      return checkRecord(type.fields, value, path);
    case "none":
      if (value !== undefined) refuse(path, "type", "expected no value");
      return undefined;
  }
}

function checkString(type: Extract<ValueType, { kind: "string" }>, value: unknown, path: string): string {
  if (typeof value !== "string") return refuse(path, "type", "expected a string");
  if (type.enum) {
    if (type.enum.indexOf(value) < 0) refuse(path, "enum", `"${value}" is not one of ${type.enum.join(", ")}`);
    return value;
  }
  if (value.length > type.maxLength || value.length < (type.minLength ?? 0)) {
    refuse(path, "length", `${value.length} characters is outside [${type.minLength ?? 0}, ${type.maxLength}]`);
  }
  if (type.pattern !== undefined) {
    let regexp = (patterns ??= new Map()).get(type.pattern);
    if (!regexp) {
      regexp = new RegExp(`^(?:${type.pattern})$`);
      patterns.set(type.pattern, regexp);
    }
    if (!regexp.test(value)) refuse(path, "pattern", `does not match ${type.pattern}`);
  }
  return value;
}

function checkRecord(fields: Record<string, FieldType>, value: unknown, path: string): Record<string, unknown> {
  // Remote values arrive as CBOR maps, local ones as plain objects; both become plain objects.
  let entries: [unknown, unknown][];
  if (value instanceof Map) entries = Array.from(value.entries());
  else if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) entries = Object.entries(value);
  else return refuse(path, "type", "expected a record");
  const out: Record<string, unknown> = {};
  for (const [key, fieldValue] of entries) {
    if (typeof key !== "string" || !Object.prototype.hasOwnProperty.call(fields, key)) refuse(path, "extra-field", `unexpected field ${String(key)}`);
    const field = fields[key as string];
    if (field.kind === "optional" && fieldValue === undefined) continue;
    out[key as string] = validate(field.kind === "optional" ? field.type : field, fieldValue, `${path}.${key as string}`);
  }
  for (const name of Object.keys(fields)) {
    if (fields[name].kind !== "optional" && !(name in out)) refuse(`${path}.${name}`, "missing-field", "required field is missing");
  }
  return out;
}
