// ESP32-DevKitC (ESP32-WROOM-32), built with `mcconfig -p esp32`: Moddable's generic ESP32 provider (no named
// pins, no bus defaults) with the Gatehouse pins and the usual I2C and analog defaults added. Device code.
//
// Pins: free GPIOs that are neither strapping pins (0, 2, 5, 12, 15) nor flash (6-11) nor the console
// UART (1, 3). The analog inputs are on ADC1 (GPIO 32-39): ADC2 cannot be read while Wi-Fi runs. The
// door contact needs an internal pull-up, which GPIO 34-39 lack.
//
// A board module imports nothing relative at run time (only types): Moddable resolves a relative import
// against the module's specifier, and this module is loaded as "gatehouse/boards/board" (boards/README.md).

import builtin from "embedded:provider/builtin";
import type { BoardPins, BoardProvider } from "../../provider";

const pins: BoardPins = {
  heater: 26,
  temperature: 34, // ADC1 channel 6
  lock: 25,
  doorContact: 27,
  light: 35, // ADC1 channel 7
};

const board = {
  ...builtin,
  I2C: { default: { io: builtin.io.I2C, data: 21, clock: 22 } },
  Analog: { default: { io: builtin.io.Analog, pin: pins.temperature } },
  pin: { ...builtin.pin, ...pins },
};

// satisfies, not a type annotation: the board keeps its full Moddable type (buses, sensors, ...).
export default board satisfies BoardProvider;
