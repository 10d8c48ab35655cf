// The peripheral drivers (boards/drivers) as the example apps see them: one module, one `../` away from
// every example file, for the reason examples/sdk.ts gives (the architecture test holds device code that
// runs on Moddable to a single leading "../"). It goes when the examples move to bare specifiers.
// Device code only.

export { Relay, type RelayOptions } from "../boards/drivers/relay";
export { Thermometer, type ThermometerOptions, type ThermometerSensor } from "../boards/drivers/thermometer";
export { LightSensor, type LightSensorOptions } from "../boards/drivers/light";
export { DoorContact, LockActuator, type DoorContactOptions, type LockActuatorOptions } from "../boards/drivers/lock";
export type { BoardPins, BoardProvider } from "../boards/provider";
