// M5Stack Core2, built with `mcconfig -p esp32/m5stack_core2`: Moddable's Core2 provider (its external I2C
// on Port A 32/33, the internal bus on 21/22, touch, IMU, power and RTC) with the Gatehouse pins added on the
// connectors a user can reach. Device code.
//
// Pins: heater and temperature on Port B (GPIO 26 out, GPIO 36 in, ADC1 channel 0), lock and door contact on
// the M-Bus (GPIO 27, 19), light on M-Bus GPIO 35 (ADC1 channel 7, Moddable's default analog pin here).
// The display (5, 15, 18, 23, 38), the speaker and microphone (0, 2, 12, 34) and touch (39) keep theirs.
//
// A board module imports nothing relative at run time (only types): see boards/README.md.

import builtin from "embedded:provider/builtin";
import type { BoardPins, BoardProvider } from "../../provider";

const pins: BoardPins = {
  heater: 26,
  temperature: 36,
  lock: 27,
  doorContact: 19,
  light: 35,
};

const board = {
  ...builtin,
  pin: { ...builtin.pin, ...pins },
};

// satisfies, not a type annotation: the board keeps its full Moddable type (buses, sensors, ...).
export default board satisfies BoardProvider;
