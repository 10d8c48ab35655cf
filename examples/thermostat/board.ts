// The thermostat's hardware, opened from whatever board the app runs on: the heater relay on the board's
// `heater` pin and the thermometer on its `temperature` pin, through the drivers in boards/drivers. The app
// touches hardware only through what this returns; the board (an ESP32 provider on the device, the
// simulated provider in the host simulator and on lin) decides which GPIOs those are. Device code.

import { Relay, Thermometer, type BoardProvider, type RelayOptions, type ThermometerOptions } from "gatehouse/boards";

/** How the thermometer is built: sensor kind and calibration (the pin comes from the board). */
export type ThermometerSettings = Omit<ThermometerOptions, "io" | "pin">;
/** How the heater relay is driven (the pin comes from the board). */
export type HeaterSettings = Omit<RelayOptions, "io" | "pin">;

export interface ThermostatHardwareOptions {
  provider: BoardProvider;
  thermometer?: ThermometerSettings;
  heater?: HeaterSettings;
}

export interface ThermostatHardware {
  readonly heater: Relay;
  readonly thermometer: Thermometer;
  /** Switches the heater off and releases both pins. */
  close(): void;
}

export function openThermostatHardware(options: ThermostatHardwareOptions): ThermostatHardware {
  const { provider } = options;
  const heater = new Relay({ ...options.heater, io: provider.io.Digital, pin: provider.pin.heater });
  let thermometer: Thermometer;
  try {
    thermometer = new Thermometer({ ...options.thermometer, io: provider.io.Analog, pin: provider.pin.temperature });
  } catch (e) {
    heater.close(); // do not leave a pin claimed when the second part fails
    throw e;
  }
  return {
    heater,
    thermometer,
    close() {
      heater.close();
      thermometer.close();
    },
  };
}
