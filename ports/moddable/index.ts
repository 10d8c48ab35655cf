// The Moddable platform for the Gatehouse SDK, as one module: `gatehouse/ports/moddable`. An app starts its
// Device with startDevice (./app: config, identity, ports; see examples/*/main.ts), or builds it from these
// ports itself. Device code: it runs on XS only (it imports Moddable's native modules), so Node never loads it.
export { moddableCrypto } from "./crypto";
export { moddableClock, moddableTimers } from "./platform";
export { nvs, PreferenceStorage, NVS_MAX_NAME, NVS_MAX_VALUE, type NvsValue } from "./storage";
export { Ecma419MqttTransport, MAX_INCOMING, type Ecma419MqttTransportOptions, type NetworkMqtt } from "./transport";
export { startDevice, APP_DOMAIN, DEVICE_DOMAIN, IDENTITY_DOMAIN, type DeviceApp, type DeviceAppContext } from "./app";
export { xsCompartments } from "./compartment";
