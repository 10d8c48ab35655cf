// The Gatehouse device SDK: everything application code and platform ports import, as one module.
// Apps and ports reach it by its package name, `gatehouse/sdk`: package.json "exports" maps it on Node,
// the root manifest.json on Moddable. Inside sdk/ modules import each other by relative paths.
export { GatehouseError, errorCode, fail, isGatehouseError } from "./errors";
export { toHex, fromHex, concatBytes, bytesEqual } from "./bytes";
export { Device, type DeviceOptions } from "./device";
export { defineDoor, listOperations, resolveOperation } from "./doors/schema";
export type { DoorSchema, DoorImplementation, PropertySchema, ActionSchema, EventSchema } from "./doors/schema";
export { t } from "./doors/types";
export type { Infer, ValueType } from "./doors/types";
export { ROLES, type Role, type Principal } from "./doors/access";
export { DeviceRuntime, LocalDoor, type Outcome, type DoorRequest } from "./doors/runtime";
export { SecurityEventLog, type SecurityEvent } from "./events";
export { CommandReceiver, type CommandResult } from "./command/receiver";
export { ReplayWindow } from "./command/replay";
export { TrustList, encodeTrust, decodeTrust, type TrustEntry } from "./trust";
export { decodeKey, encodeKey, publicKey, type CoseKey, type SignatureAlgorithm } from "./cose/key";
export type { SessionState } from "./session/session";
export type { CryptoPort } from "./ports/crypto";
export type { ClockPort } from "./ports/clock";
export type { TimerHandle, TimerPort } from "./ports/timer";
export { BoundedStorage, MAX_STORAGE_KEY, MAX_STORAGE_VALUE, type StoragePort } from "./ports/storage";
export type { MqttConnectOptions, MqttWill, QoS, TransportHandlers, TransportPort } from "./ports/transport";
