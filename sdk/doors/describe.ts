// A door's self-description: its schema as plain CBOR data (docs/protocol.md section 5), without the
// undefined fields that optional schema settings leave behind.

import type { CborValue } from "../cbor/types";
import type { DoorSchema } from "./schema";

function clean(value: unknown): CborValue {
  if (Array.isArray(value)) return value.map(clean);
  if (value !== null && typeof value === "object" && !(value instanceof Uint8Array)) {
    const out: Record<string, CborValue> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = clean(v);
    return out;
  }
  return value as CborValue;
}

export function describeDoor(schema: DoorSchema): CborValue {
  // Every section is described, empty when the schema leaves it out (protocol section 5).
  return clean({ ...schema, properties: schema.properties ?? {}, actions: schema.actions ?? {}, events: schema.events ?? {} });
}
