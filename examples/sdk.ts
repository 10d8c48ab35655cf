// The SDK as the examples see it: one module, one `../` away from every example file.
//
// Why this file exists: XS resolves a relative import specifier against the importing module's name
// and handles a single leading "../" (xs/platforms/mc/xsHosts.c, fxFindModule); "../../sdk/device" does
// not resolve on the device. Example code therefore imports "../sdk" (this file), and this file reaches
// the SDK with one "../". Node and tsc resolve the same paths on disk, so one source serves both.
// Device code only: nothing here may import a Node module.

export { Device, type DeviceOptions } from "../sdk/device";
export { GatehouseError } from "../sdk/errors";
export { defineDoor } from "../sdk/doors/schema";
export { t, type Infer } from "../sdk/doors/types";
export type { LocalDoor } from "../sdk/doors/runtime";
export type { TimerHandle, TimerPort } from "../sdk/ports/timer";
export type { ClockPort } from "../sdk/ports/clock";
export { BoundedStorage, type StoragePort } from "../sdk/ports/storage";
export type { CryptoPort } from "../sdk/ports/crypto";
export type { MqttConnectOptions, QoS, TransportHandlers, TransportPort } from "../sdk/ports/transport";
export { decodeKey, type CoseKey } from "../sdk/cose/key";
export { fromHex } from "../sdk/bytes";
export { decodeTrust, TrustList } from "../sdk/trust";
