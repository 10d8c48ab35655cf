// The thermostat's hardware, as the app sees it. The app touches hardware only through this interface:
// boards/esp32/thermostat.ts implements it with ECMA-419 IO on the device, boards/simulated/thermostat.ts
// with a small physical model for the simulator and tests. Device code (runs on XS).

export interface ThermostatBoard {
  /** The room temperature in °C. May throw when the sensor fails. */
  readTemperature(): number;
  /** Switches the heater relay. */
  setRelay(on: boolean): void;
  /** The relay's current state. */
  relay(): boolean;
}
