// A command form made from a door's description (docs/protocol.md section 5): the operations the door
// offers with the role each needs, and an input for the operation's argument type. The inputs give a
// CBOR value the way `gatehouse send --args JSON` would (host/cli/json-exact.ts): records become maps
// with text keys, integral numbers integers.

import { CborFloat, type CborValue } from "../../../../sdk/cbor/types";
import { fromHex } from "../../../../sdk/bytes";
import { jsonToCbor } from "../../../cli/json-exact";
import { h } from "./dom";
import type { Role } from "./api";

export type ValueType = { kind: string; [key: string]: unknown };

export interface Operation {
  op: string;
  role: Role;
  /** The argument's type; undefined for none. */
  input?: ValueType;
}

interface DoorDescription {
  name?: string;
  properties?: Record<string, { type?: ValueType; read?: Role; write?: Role }>;
  actions?: Record<string, { input?: ValueType; role?: Role }>;
}

/** The operations of a door description: read.<p>, write.<p> where writable, invoke.<a>. */
export function operationsOf(door: unknown): Operation[] {
  const d = (door ?? {}) as DoorDescription;
  const ops: Operation[] = [];
  for (const [name, p] of Object.entries(d.properties ?? {})) {
    ops.push({ op: `read.${name}`, role: p.read ?? "view" });
    if (p.write) ops.push({ op: `write.${name}`, role: p.write, input: p.type });
  }
  for (const [name, a] of Object.entries(d.actions ?? {})) {
    const input = a.input && a.input.kind !== "none" ? a.input : undefined;
    ops.push({ op: `invoke.${name}`, role: a.role ?? "operate", input });
  }
  return ops;
}

/** A value type as short text: "number 5..30", "record {min: number, max: number}". */
export function describeType(type: ValueType | undefined): string {
  if (!type) return "none";
  switch (type.kind) {
    case "int":
    case "number":
      return `${type.kind}${type.min !== undefined || type.max !== undefined ? ` ${type.min ?? ""}..${type.max ?? ""}` : ""}`;
    case "string":
      return Array.isArray(type.enum) ? `one of ${(type.enum as string[]).join(", ")}` : `text (up to ${type.maxLength ?? "?"})`;
    case "bytes":
      return `bytes (up to ${type.maxLength ?? "?"})`;
    case "array":
      return `list of ${describeType(type.items as ValueType)} (up to ${type.maxItems ?? "?"})`;
    case "record":
      return `{${Object.entries((type.fields ?? {}) as Record<string, ValueType>)
        .map(([k, v]) => `${k}${v.kind === "optional" ? "?" : ""}: ${describeType(v.kind === "optional" ? (v.type as ValueType) : v)}`)
        .join(", ")}}`;
    case "optional":
      return `optional ${describeType(type.type as ValueType)}`;
    default:
      return type.kind;
  }
}

export interface Field {
  readonly element: HTMLElement;
  /** The value, or throws an Error that names the field. */
  read(): CborValue;
}

let fieldCounter = 0;

/** An input for a value of `type`, labelled `label`. */
export function fieldFor(type: ValueType, label: string): Field {
  const id = `field-${++fieldCounter}`;
  const labelled = (input: HTMLElement, hint?: string) => h("div", { class: "field" }, h("label", { for: id }, label, hint ? h("span", { class: "muted" }, ` (${hint})`) : null), input);
  switch (type.kind) {
    case "int":
    case "number": {
      const input = h("input", { id, type: "number", step: type.kind === "int" ? "1" : "any", min: type.min as number | undefined, max: type.max as number | undefined, required: true });
      return {
        element: labelled(input, describeType(type)),
        read() {
          const n = input.valueAsNumber;
          if (input.value === "" || !Number.isFinite(n)) throw new Error(`${label}: enter a number`);
          if (type.kind === "int" && !Number.isInteger(n)) throw new Error(`${label}: enter a whole number`);
          return Number.isSafeInteger(n) ? n : new CborFloat(n);
        },
      };
    }
    case "bool": {
      const input = h("input", { id, type: "checkbox" });
      return { element: h("div", { class: "field" }, input, " ", h("label", { for: id, class: "inline" }, label)), read: () => input.checked };
    }
    case "string": {
      if (Array.isArray(type.enum)) {
        const select = h("select", { id }, ...(type.enum as string[]).map((v) => h("option", { value: v }, v)));
        return { element: labelled(select), read: () => select.value };
      }
      const input = h("input", { id, type: "text", maxlength: type.maxLength as number | undefined });
      return { element: labelled(input, describeType(type)), read: () => input.value };
    }
    case "bytes": {
      const input = h("input", { id, type: "text", class: "mono", inputmode: "latin" });
      return {
        element: labelled(input, "hex"),
        read() {
          const bytes = fromHex(input.value.trim());
          if (!bytes) throw new Error(`${label}: enter bytes as hex`);
          return bytes;
        },
      };
    }
    case "record": {
      const fields = Object.entries((type.fields ?? {}) as Record<string, ValueType>).map(([name, t]) => ({ name, optional: t.kind === "optional", field: fieldFor(t.kind === "optional" ? (t.type as ValueType) : t, name) }));
      const includes = new Map<string, HTMLInputElement>();
      const box = h(
        "fieldset",
        {},
        h("legend", {}, label),
        ...fields.map(({ name, optional, field }) => {
          if (!optional) return field.element;
          const include = h("input", { type: "checkbox", id: `${id}-${name}-set`, "aria-label": `include ${name}` });
          includes.set(name, include);
          return h("div", {}, include, " ", h("label", { for: `${id}-${name}-set`, class: "inline" }, `include ${name}`), field.element);
        }),
      );
      return {
        element: box,
        read() {
          const map = new Map<string, CborValue>();
          for (const { name, optional, field } of fields) {
            if (optional && !includes.get(name)?.checked) continue;
            map.set(name, field.read());
          }
          return map;
        },
      };
    }
    default: {
      // Lists and anything else: JSON, converted as `gatehouse send --args` converts it.
      const input = h("textarea", { id, rows: 2, class: "mono" });
      return {
        element: labelled(input, `JSON: ${describeType(type)}`),
        read() {
          try {
            return jsonToCbor(JSON.parse(input.value));
          } catch (e) {
            throw new Error(`${label}: ${(e as Error).message}`);
          }
        },
      };
    }
  }
}
