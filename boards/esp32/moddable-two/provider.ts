// Moddable Two, built with `mcconfig -p esp32/moddable_two`: Moddable's provider for it (I2C 21/22 shared
// with the touch panel, display SPI on 13/14, backlight 18, button 0) with the Gatehouse pins added on its
// 16-pin external header. Device code.
//
// Pins: analog inputs on the header's ADC1 pins (GPIO 33, Moddable's default analog pin here, and 35), the
// rest on free header GPIOs (26, 27, 16; the module has no PSRAM, so 16 is free). Not GPIO 12: a strapping
// pin that sets the flash voltage at boot.
//
// A board module imports nothing relative at run time (only types): see boards/README.md.

import builtin from "embedded:provider/builtin";
import type { BoardPins, BoardProvider } from "../../provider";

const pins: BoardPins = {
  heater: 26,
  temperature: 33,
  lock: 27,
  doorContact: 16,
  light: 35,
};

const board = {
  ...builtin,
  pin: { ...builtin.pin, ...pins },
};

// satisfies, not a type annotation: the board keeps its full Moddable type (buses, sensors, ...).
export default board satisfies BoardProvider;
