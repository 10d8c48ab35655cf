// Device-only pieces the examples' Moddable entries (examples/*/main.ts) need from outside examples/,
// re-exported one "../" away for the same reason as examples/sdk.ts (XS resolves one leading "../").
// Never imported on Node: ports/moddable/crypto imports Moddable's native "crypt", "ecdsa", ...

export { moddableCrypto } from "../ports/moddable/crypto";
export { moddableClock, moddableTimers, PreferenceStorage } from "../ports/moddable/platform";
export { Ecma419MqttTransport, type NetworkMqtt } from "../ports/moddable/transport";
