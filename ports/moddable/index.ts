// The Moddable platform for the Gatehouse SDK, as one module: `gatehouse/ports/moddable`. An app builds its
// Device from these ports (see examples/thermostat/main.ts). Device code: it runs on XS only (it imports
// Moddable's native modules), so Node never loads it.
export { moddableCrypto } from "./crypto";
export { moddableClock, moddableTimers } from "./platform";
export { nvs, PreferenceStorage, NVS_MAX_NAME, NVS_MAX_VALUE, type NvsValue } from "./storage";
export { Ecma419MqttTransport, MAX_INCOMING, type Ecma419MqttTransportOptions, type NetworkMqtt } from "./transport";
