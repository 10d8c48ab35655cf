// The Gatehouse device SDK as an app sees it: `gatehouse/sdk` (package.json "exports" maps it on Node, the
// root manifest.json on Moddable). Everything an app or a platform port needs, and nothing of the SDK's
// insides (the door runtime, the command receiver, the session and the event log stay behind Device; the
// codecs are imported by their paths by the SDK's own host tools). Inside sdk/, modules import each other
// by relative paths.

export { Device, type DeviceOptions, type DevicePorts, type FirmwareInfo, type DeviceService, type ServiceLink, type ServiceBirthFields, type SelfTestFailure } from "./device";
export { GatehouseError, errorCode, fail, isGatehouseError } from "./errors";
export type { ErrorCode } from "./error-codes";
export { toHex, fromHex, concatBytes, bytesEqual } from "./bytes";

// Doors
export { defineDoor } from "./doors/schema";
export type { DoorSchema, DoorImplementation, PropertySchema, ActionSchema, EventSchema } from "./doors/schema";
export type { LocalDoor } from "./doors/runtime";
export { t } from "./doors/types";
export type { Infer, ValueType } from "./doors/types";
export { ROLES, type Role } from "./doors/access";

// Identity: the device key and the operators it trusts, as `gatehouse provision` writes them
export { decodeKey, encodeKey, publicKey, type CoseKey, type SignatureAlgorithm } from "./cose/key";
export { TrustList, decodeTrust, encodeTrust, type TrustEntry } from "./trust";

// What Device reports and takes
export type { SessionSettings, SessionState } from "./session/session";
export type { SecurityEventSettings } from "./events";
export type { CommandSettings, CommandResult } from "./command/receiver";
export type { Outcome } from "./doors/runtime";
export type { PublicationKind, PublicationFields } from "./session/publications";

// The ports a platform implements
export type { CryptoPort, Sha256Stream } from "./ports/crypto";
export type { ClockPort } from "./ports/clock";
export type { TimerHandle, TimerPort } from "./ports/timer";
export { BoundedStorage, MAX_STORAGE_KEY, MAX_STORAGE_VALUE, type StoragePort } from "./ports/storage";
export type { MqttConnectOptions, MqttWill, QoS, TransportHandlers, TransportPort } from "./ports/transport";
export type { BootInfo, BootState, RollbackReason, UpdatePort } from "./ports/update";

// Signed updates on the device (docs/protocol.md section 8). Types only: a value export would load the
// update agent (and the SUIT interpreter) into every app that imports the SDK, on a device's few KiB of
// heap, and the Moddable manifest maps those modules only for builds that use them.
export type { UpdateAgentOptions } from "./update/agent";
export type { TransferSettings } from "./update/transfer";
export type { UpdateTrustDocument } from "./update/trust";
export type { FileUpdatePortOptions, SlotFiles } from "./update/file-port";
export type { UpdateInfo, UpdateAgentState, UpdateState } from "./session/publications";
export type { CompartmentPort, CompartmentHandle } from "./patch/compartment";
