// The device runtime: registers doors and dispatches every call to them — from application code, from
// verified remote commands, from update patches — through one path: find the door and operation,
// check the role, validate the input, call the implementation, validate the output, record the event.

import { fail, GatehouseError } from "../errors";
import type { SecurityEventLog } from "../events";
import type { Principal, Role } from "./access";
import { grants } from "./access";
import { validate } from "./validate";
import {
  DOOR_NAME_PATTERN,
  listOperations,
  MEMBER_NAME_PATTERN,
  resolveEvent,
  resolveOperation,
  type ActionInput,
  type ActionName,
  type ActionOutput,
  type DoorImplementation,
  type DoorSchema,
  type EventData,
  type EventName,
  type PropertyName,
  type PropertyValue,
  type WritablePropertyName,
} from "./schema";

export interface DoorRequest {
  readonly principal: Principal;
  readonly door: string;
  readonly op: string;
  readonly args?: unknown;
}

export type Outcome =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly code: string; readonly message: string; readonly detail?: unknown };

export interface RuntimeOptions {
  events: SecurityEventLog;
  /** The role of application code on this device (default "administer": it is the firmware). */
  localRole?: Role;
  /** Receives events that doors emit (telemetry). */
  onDoorEvent?: (door: string, event: string, data: unknown) => void;
}

/** Doors one device may register: every door is described in the birth, which has room for this many. */
export const MAX_DOORS = 64;

/** A refusal code: what results and security events carry (publications take 1 to 64 characters). */
/**
 * A code results and events can carry: 1 to 64 of a-z, 0-9 and '-', not starting with '-'. Checked with a
 * loop, not a RegExp: this runs on every refusal, and XS 17 (Moddable 8.2.3, lin) crashed in
 * RegExp.prototype.exec under a flood of refusals once the heap had grown (a segfault in
 * fx_RegExp_prototype_exec, found by the device suite's flood case).
 */
function isCarriableCode(code: string): boolean {
  if (code.length < 1 || code.length > 64 || code.charCodeAt(0) === 45) return false;
  for (let i = 0; i < code.length; i++) {
    const c = code.charCodeAt(i);
    const ok = (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45;
    if (!ok) return false;
  }
  return true;
}

interface RegisteredDoor {
  schema: DoorSchema;
  implementation: DoorImplementation<any>;
}

export class DeviceRuntime {
  private readonly registered = new Map<string, RegisteredDoor>();
  private readonly events: SecurityEventLog;
  private readonly onDoorEvent?: (door: string, event: string, data: unknown) => void;
  readonly localPrincipal: Principal;

  constructor(options: RuntimeOptions) {
    this.events = options.events;
    this.onDoorEvent = options.onDoorEvent;
    this.localPrincipal = { id: "local", role: options.localRole ?? "administer" };
  }

  /**
   * Adds a door. Refused (door-invalid): a bad door or member name, a door registered twice, more than
   * MAX_DOORS, or an implementation without a function for one of the door's operations.
   */
  register<const S extends DoorSchema>(schema: S, implementation: DoorImplementation<S>): LocalDoor<S> {
    if (!DOOR_NAME_PATTERN.test(schema.name)) fail("door-invalid", `door name "${schema.name}" must match ${DOOR_NAME_PATTERN}`);
    if (this.registered.has(schema.name)) fail("door-invalid", `door "${schema.name}" is registered twice`);
    if (this.registered.size >= MAX_DOORS) fail("door-invalid", `a device has at most ${MAX_DOORS} doors`);
    for (const section of [schema.properties, schema.actions, schema.events]) {
      for (const member of Object.keys(section ?? {})) {
        if (!MEMBER_NAME_PATTERN.test(member)) fail("door-invalid", `member name "${member}" of door "${schema.name}" must match ${MEMBER_NAME_PATTERN}`);
      }
    }
    const groups = implementation as unknown as Partial<Record<string, Record<string, unknown>>>;
    for (const op of listOperations(schema)) {
      const dot = op.indexOf(".");
      const group = groups[op.slice(0, dot)];
      const member = op.slice(dot + 1);
      if (!group || !Object.prototype.hasOwnProperty.call(group, member) || typeof group[member] !== "function") fail("door-invalid", `door "${schema.name}" has no implementation of ${op}`);
    }
    this.registered.set(schema.name, { schema, implementation: implementation as DoorImplementation<any> });
    return new LocalDoor(this, schema);
  }

  schemas(): DoorSchema[] {
    return Array.from(this.registered.values(), (d) => d.schema);
  }

  /** The one dispatch path. Never throws for a refusal: the outcome says what happened. */
  dispatch(request: DoorRequest): Outcome {
    let outcome: Outcome;
    try {
      outcome = { ok: true, value: this.run(request) };
    } catch (e) {
      outcome = e instanceof GatehouseError ? { ok: false, code: e.code, message: e.message, detail: e.detail } : { ok: false, code: "door-failed", message: String((e as Error)?.message ?? e) };
      // A door's own code goes into results and events as it is, so it must be one they can carry.
      if (!outcome.ok && !isCarriableCode(outcome.code)) outcome = { ok: false, code: "door-failed", message: `the door refused with a code that is not one (${JSON.stringify(outcome.code.slice(0, 80))}): ${outcome.message}` };
    }
    this.events.record({
      code: outcome.ok ? "allowed" : outcome.code,
      allowed: outcome.ok,
      principal: request.principal.id,
      door: request.door,
      op: request.op,
    });
    return outcome;
  }

  /** Records a refusal that happened before dispatch (signature, replay, ...); true if its event left. */
  refuse(code: string, principal: string, door?: string, op?: string): boolean {
    return this.events.record({ code, allowed: false, principal, door, op });
  }

  private run(request: DoorRequest): unknown {
    const door = this.registered.get(request.door);
    if (!door) return fail("unknown-door", `no door "${request.door}"`);
    const operation = resolveOperation(door.schema, request.op);
    if (!operation) return fail("unknown-op", `door "${request.door}" has no operation "${request.op}"`);
    // The role is checked before the input, so a caller without access learns nothing of the schema.
    if (!grants(request.principal, operation.role)) fail("not-allowed", `"${request.op}" on "${request.door}" needs role ${operation.role}`);
    const input = validate(operation.input, request.args);
    const group = (door.implementation as unknown as Record<string, Record<string, (value?: unknown) => unknown>>)[operation.verb];
    const result = group[operation.member](input);
    try {
      return validate(operation.output, result);
    } catch (e) {
      return fail("door-failed", `door "${request.door}" returned a value outside its schema: ${(e as Error).message}`);
    }
  }

  emitDoorEvent(schema: DoorSchema, event: string, data: unknown): void {
    const declared = resolveEvent(schema, event);
    if (!declared) return fail("unknown-event", `door "${schema.name}" declares no event "${event}"`);
    const value = validate(declared.data, data);
    this.onDoorEvent?.(schema.name, event, value);
  }
}

function outcomeValue(outcome: Outcome): unknown {
  if (!outcome.ok) throw new GatehouseError(outcome.code, outcome.message, outcome.detail);
  return outcome.value;
}

/** Application code's typed handle on a door: the same dispatch path, as the local principal. */
export class LocalDoor<S extends DoorSchema> {
  constructor(
    private readonly runtime: DeviceRuntime,
    readonly schema: S,
  ) {}

  read<P extends PropertyName<S>>(property: P): PropertyValue<S, P> {
    return outcomeValue(this.runtime.dispatch({ principal: this.runtime.localPrincipal, door: this.schema.name, op: `read.${property}` })) as PropertyValue<S, P>;
  }

  write<P extends WritablePropertyName<S>>(property: P, value: PropertyValue<S, P>): void {
    outcomeValue(this.runtime.dispatch({ principal: this.runtime.localPrincipal, door: this.schema.name, op: `write.${property}`, args: value }));
  }

  invoke<A extends ActionName<S>>(action: A, ...input: ActionInput<S, A> extends undefined ? [] : [ActionInput<S, A>]): ActionOutput<S, A> {
    return outcomeValue(this.runtime.dispatch({ principal: this.runtime.localPrincipal, door: this.schema.name, op: `invoke.${action}`, args: input[0] })) as ActionOutput<S, A>;
  }

  /** Called by the door's implementation to report an event (validated against the schema). */
  emit<E extends EventName<S>>(event: E, data: EventData<S, E>): void {
    this.runtime.emitDoorEvent(this.schema, event, data);
  }
}
