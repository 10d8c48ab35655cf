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

/** A door's schema. A door without properties, actions or events leaves that section out. */
export interface DoorSchema {
  readonly name: string;
  readonly description?: string;
  readonly properties?: Readonly<Record<string, PropertySchema<any>>>;
  readonly actions?: Readonly<Record<string, ActionSchema<any, any>>>;
  readonly events?: Readonly<Record<string, EventSchema<any>>>;
}

export const DOOR_NAME_PATTERN = /^[a-z][a-zA-Z0-9-]{0,31}$/;
/** Property, action and event names: short enough that every operation name fits in 64 characters. */
export const MEMBER_NAME_PATTERN = /^[a-zA-Z][a-zA-Z0-9_-]{0,31}$/;

/** Declares a door. The schema is plain data; its literal type drives the typed API. */
export function defineDoor<const S extends DoorSchema>(schema: S): S {
  return schema;
}

/** A schema's sections, {} where it leaves one out. */
type Properties<S extends DoorSchema> = S extends { readonly properties: infer P } ? P : {};
type Actions<S extends DoorSchema> = S extends { readonly actions: infer A } ? A : {};
type Events<S extends DoorSchema> = S extends { readonly events: infer E } ? E : {};

export type PropertyName<S extends DoorSchema> = keyof Properties<S> & string;
export type WritablePropertyName<S extends DoorSchema> = {
  [P in PropertyName<S>]: Properties<S>[P] extends { write: Role } ? P : never;
}[PropertyName<S>];
export type ActionName<S extends DoorSchema> = keyof Actions<S> & string;
export type EventName<S extends DoorSchema> = keyof Events<S> & string;

type Field<T, K extends PropertyKey, F extends PropertyKey> = T extends { readonly [k in K]: { readonly [f in F]: infer V } } ? V : never;

export type PropertyValue<S extends DoorSchema, P extends PropertyName<S>> = Infer<Field<Properties<S>, P, "type">>;
export type ActionInput<S extends DoorSchema, A extends ActionName<S>> = Infer<Field<Actions<S>, A, "input">>;
export type ActionOutput<S extends DoorSchema, A extends ActionName<S>> = Infer<Field<Actions<S>, A, "output">>;
export type EventData<S extends DoorSchema, E extends EventName<S>> = Infer<Field<Events<S>, E, "data">>;

/** An action with no output may be implemented by a function that returns nothing. */
type HandlerResult<T> = [T] extends [undefined] ? void : T;

/** A section of an implementation: required when the schema gives it members, optional (and empty) otherwise. */
type Section<Name extends string, Keys extends string, Members> = [Keys] extends [never] ? { readonly [k in Name]?: Record<string, never> } : { readonly [k in Name]: Members };

/**
 * What a door's implementation provides: a getter per property (`read`), a setter per writable one
 * (`write`), a function per action (`invoke`). A section the schema gives nothing to may be left out.
 */
export type DoorImplementation<S extends DoorSchema> = Section<"read", PropertyName<S>, { [P in PropertyName<S>]: () => PropertyValue<S, P> }> &
  Section<"write", WritablePropertyName<S>, { [P in WritablePropertyName<S>]: (value: PropertyValue<S, P>) => void }> &
  Section<"invoke", ActionName<S>, { [A in ActionName<S>]: (input: ActionInput<S, A>) => HandlerResult<ActionOutput<S, A>> }>;

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
  const properties = schema.properties ?? {};
  if (verb === "read" || verb === "write") {
    if (!Object.prototype.hasOwnProperty.call(properties, member)) return undefined;
    const property = properties[member];
    if (verb === "read") return { verb, member, role: property.read, input: NONE, output: property.type };
    return property.write ? { verb, member, role: property.write, input: property.type, output: NONE } : undefined;
  }
  const actions = schema.actions ?? {};
  if (verb === "invoke" && Object.prototype.hasOwnProperty.call(actions, member)) {
    const action = actions[member];
    return { verb, member, role: action.role, input: action.input, output: action.output };
  }
  return undefined;
}

/** The event a door declares under `name`, or undefined. */
export function resolveEvent(schema: DoorSchema, name: string): EventSchema | undefined {
  const events = schema.events ?? {};
  return Object.prototype.hasOwnProperty.call(events, name) ? events[name] : undefined;
}

/** Every operation a door offers, for self-description. */
export function listOperations(schema: DoorSchema): string[] {
  const ops: string[] = [];
  const properties = schema.properties ?? {};
  for (const p of Object.keys(properties)) {
    ops.push(`read.${p}`);
    if (properties[p].write) ops.push(`write.${p}`);
  }
  for (const a of Object.keys(schema.actions ?? {})) ops.push(`invoke.${a}`);
  return ops;
}
