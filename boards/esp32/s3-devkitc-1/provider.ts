// ESP32-S3-DevKitC-1, built with `mcconfig -p esp32/esp32s3` (or esp32s3_cdc / esp32s3_usb for the debugger
// over USB): Moddable's esp32s3 provider (I2C on 4/5, SPI on 11-13, Serial on 43/44, button 0) with the
// Gatehouse pins added. Device code.
//
// Pins: the analog inputs on ADC1 (GPIO 1-10; ADC2 cannot be read while Wi-Fi runs), the rest on free
// GPIOs away from the strapping pins (0, 3, 45, 46), USB (19, 20), the flash and octal PSRAM (26-37 on
// N8R8 modules) and the RGB LED (38 or 48, depending on the board revision).
//
// A board module imports nothing relative at run time (only types): see boards/README.md.

import builtin from "embedded:provider/builtin";
import type { BoardPins, BoardProvider } from "../../provider";

const pins: BoardPins = {
  heater: 15,
  temperature: 1, // ADC1 channel 0, also Moddable's default analog pin on this board
  lock: 16,
  doorContact: 17,
  light: 2, // ADC1 channel 1
};

const board = {
  ...builtin,
  pin: { ...builtin.pin, ...pins },
};

// satisfies, not a type annotation: the board keeps its full Moddable type (buses, sensors, ...).
export default board satisfies BoardProvider;
