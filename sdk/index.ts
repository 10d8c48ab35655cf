// The Gatehouse device SDK: what application code imports.
export { GatehouseError, errorCode } from "./errors";
export { defineDoor, listOperations, resolveOperation } from "./doors/schema";
export type { DoorSchema, DoorImplementation, PropertySchema, ActionSchema, EventSchema } from "./doors/schema";
export { t } from "./doors/types";
export type { Infer, ValueType } from "./doors/types";
export { ROLES, type Role, type Principal } from "./doors/access";
export { DeviceRuntime, LocalDoor, type Outcome, type DoorRequest } from "./doors/runtime";
export { SecurityEventLog, type SecurityEvent } from "./events";
export { CommandReceiver, type CommandResult } from "./command/receiver";
export { ReplayWindow } from "./command/replay";
export { TrustList, encodeTrust, decodeTrust } from "./trust";
export type { CryptoPort } from "./ports/crypto";
export type { ClockPort } from "./ports/clock";
