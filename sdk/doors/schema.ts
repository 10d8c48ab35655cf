// A door is the one typed way into a device capability. Its schema names properties (readable, and
// writable where a write role is given), actions (typed input and output) and events, each with the
// role it requires. Operation names on the wire: "read.<property>", "write.<property>", "invoke.<action>".

import type { Role } from "./access";
import type { Infer, ValueType } from "./types";

export interface PropertySchema<T extends ValueType = ValueType> {
  readonly type: T;
  readonly read: Role;
  /** Absent: the property is read-only. */
  readonly write?: Role;
  readonly description?: string;
}

export interface ActionSchema<I extends ValueType = ValueType, O extends ValueType = ValueType> {
  readonly input: I;
  readonly output: O;
  readonly role: Role;
  readonly description?: string;
}

export interface EventSchema<D extends ValueType = ValueType> {
  readonly data: D;
  /** The role needed to see this event. */
  readonly role: Role;
  readonly description?: string;
}

export interface DoorSchema {
  readonly name: string;
  readonly description?: string;
  readonly properties: Readonly<Record<string, PropertySchema<any>>>;
  readonly actions: Readonly<Record<string, ActionSchema<any, any>>>;
  readonly events: Readonly<Record<string, EventSchema<any>>>;
}

export const DOOR_NAME_PATTERN = /^[a-z][a-zA-Z0-9-]{0,31}$/;

/** Declares a door. The schema is plain data; its literal type drives the typed API. */
export function defineDoor<const S extends DoorSchema>(schema: S): S {
  return schema;
}

export type PropertyName<S extends DoorSchema> = keyof S["properties"] & string;
export type WritablePropertyName<S extends DoorSchema> = {
  [P in PropertyName<S>]: S["properties"][P] extends { write: Role } ? P : never;
}[PropertyName<S>];
export type ActionName<S extends DoorSchema> = keyof S["actions"] & string;
export type EventName<S extends DoorSchema> = keyof S["events"] & string;

export type PropertyValue<S extends DoorSchema, P extends PropertyName<S>> = Infer<S["properties"][P]["type"]>;
export type ActionInput<S extends DoorSchema, A extends ActionName<S>> = Infer<S["actions"][A]["input"]>;
export type ActionOutput<S extends DoorSchema, A extends ActionName<S>> = Infer<S["actions"][A]["output"]>;
export type EventData<S extends DoorSchema, E extends EventName<S>> = Infer<S["events"][E]["data"]>;

/** An action with no output may be implemented by a function that returns nothing. */
type HandlerResult<T> = [T] extends [undefined] ? void : T;

/** What a door's implementation provides: a getter per property, a setter per writable one, a function per action. */
export interface DoorImplementation<S extends DoorSchema> {
  read: { [P in PropertyName<S>]: () => PropertyValue<S, P> };
  write: { [P in WritablePropertyName<S>]: (value: PropertyValue<S, P>) => void };
  invoke: { [A in ActionName<S>]: (input: ActionInput<S, A>) => HandlerResult<ActionOutput<S, A>> };
}

export type OperationVerb = "read" | "write" | "invoke";

/** The resolved meaning of an operation name on a door. */
export interface Operation {
  readonly verb: OperationVerb;
  readonly member: string;
  readonly role: Role;
  readonly input: ValueType;
  readonly output: ValueType;
}

const NONE: ValueType = { kind: "none" };

/** Looks up "read.x" / "write.x" / "invoke.x" in a schema; undefined when the door has no such operation. */
export function resolveOperation(schema: DoorSchema, op: string): Operation | undefined {
  const dot = op.indexOf(".");
  if (dot < 0) return undefined;
  const verb = op.slice(0, dot);
  const member = op.slice(dot + 1);
  if (verb === "read" || verb === "write") {
    if (!Object.prototype.hasOwnProperty.call(schema.properties, member)) return undefined;
    const property = schema.properties[member];
    if (verb === "read") return { verb, member, role: property.read, input: NONE, output: property.type };
    return property.write ? { verb, member, role: property.write, input: property.type, output: NONE } : undefined;
  }
  if (verb === "invoke" && Object.prototype.hasOwnProperty.call(schema.actions, member)) {
    const action = schema.actions[member];
    return { verb, member, role: action.role, input: action.input, output: action.output };
  }
  return undefined;
}

/** Every operation a door offers, for self-description. */
export function listOperations(schema: DoorSchema): string[] {
  const ops: string[] = [];
  for (const p of Object.keys(schema.properties)) {
    ops.push(`read.${p}`);
    if (schema.properties[p].write) ops.push(`write.${p}`);
  }
  for (const a of Object.keys(schema.actions)) ops.push(`invoke.${a}`);
  return ops;
}
