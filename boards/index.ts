// `gatehouse/boards`: what an app needs of the boards, as one module: the peripheral drivers (drivers/) and
// the board contract (provider.ts). package.json "exports" maps the name on Node; on Moddable,
// boards/manifest.json maps it (through an alias module, ports/moddable/exports/boards.ts, as for
// gatehouse/sdk). The board itself is another module, "gatehouse/boards/board": the one the build chose.
// Device code.
export { Relay, type RelayOptions } from "./drivers/relay";
export { Thermometer, type ThermometerOptions, type ThermometerSensor } from "./drivers/thermometer";
export { LightSensor, type LightSensorOptions } from "./drivers/light";
export { DoorContact, LockActuator, type DoorContactOptions, type LockActuatorOptions } from "./drivers/lock";
export { PIN_NAMES, type AnalogClass, type AnalogIO, type BoardPins, type BoardProvider, type DigitalClass, type DigitalIO } from "./provider";
