// The board contract: a Gatehouse board is a Moddable host provider (ECMA-419's `embedded:provider/builtin`
// shape: IO classes under `io`, named pins under `pin`, per-bus defaults), and these are the parts of it
// the example apps use. Apps take a provider and open `provider.io.Digital` / `provider.io.Analog` on
// `provider.pin.<name>`; they never name a GPIO number, so moving an app to another board changes the
// board only (`mcconfig -p ...` on Moddable; another provider in the host simulator).
//
// Types only: nothing here runs. The shapes are the ones ECMA-419 defines and Moddable's
// $MODDABLE/typings/embedded_io declares, trimmed to what the apps call, so Moddable's classes satisfy them
// (the ESP32 boards are checked against those typings in test/device/typecheck.test.ts) and so does the
// simulated provider (boards/simulated/provider.ts).

/** An open ECMA-419 Digital pin. */
export interface DigitalIO {
  read(): number;
  write(value: 0 | 1): void;
  close(): void;
}

/** ECMA-419 Digital: `new Digital({pin, mode})`, the modes as static constants. */
export interface DigitalClass {
  new (options: { pin: number; mode: number }): DigitalIO;
  readonly Input: number;
  readonly InputPullUp: number;
  readonly InputPullDown: number;
  readonly Output: number;
}

/** An open ECMA-419 Analog input: read() gives 0 .. 2^resolution - 1. */
export interface AnalogIO {
  read(): number;
  readonly resolution: number;
  /**
   * Optional here only because Moddable 8.2.3's typings omit it: its ESP32 Analog has close()
   * (modules/io/analog/esp32/_analog.js), and the simulated one too.
   */
  close?(): void;
}

/** ECMA-419 Analog: `new Analog({pin})`. */
export interface AnalogClass {
  new (options: { pin: number }): AnalogIO;
}

/**
 * The named pins of every Gatehouse board: the hardware of the three examples. A board that lacks a
 * part still names a pin for it (the header pin where it would be wired), so any example builds for any
 * board. boards/README.md lists them per board.
 */
export interface BoardPins {
  /** Digital output: the heater relay (thermostat). 1 switches the relay on (unless the module is active-low). */
  readonly heater: number;
  /** Analog input: a TMP36 (or an NTC divider) measuring the room (thermostat, sensor node). */
  readonly temperature: number;
  /** Digital output: the lock actuator (smart lock). Energised (1) retracts the bolt: fail-secure. */
  readonly lock: number;
  /** Digital input with the internal pull-up: a reed switch to ground, 0 while the door is closed (smart lock). */
  readonly doorContact: number;
  /** Analog input: a light sensor divider (sensor node). */
  readonly light: number;
}

export const PIN_NAMES = ["heater", "temperature", "lock", "doorContact", "light"] as const satisfies readonly (keyof BoardPins)[];

/** What a Gatehouse app receives: a host provider with (at least) these IO classes and named pins. */
export interface BoardProvider {
  readonly io: { readonly Digital: DigitalClass; readonly Analog: AnalogClass };
  readonly pin: BoardPins;
}
