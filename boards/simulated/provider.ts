// The simulated board: a Moddable host provider whose ECMA-419 Digital and Analog classes are wired to the
// physical models of world.ts instead of GPIOs. The same provider serves the host simulator and tests on
// Node and, later, Moddable's lin simulator (boards/lin), which has no ECMA-419 IO of its own: the apps
// cannot tell it from an ESP32 board.
//
//   const provider = createSimulatedProvider({ clock, seed: 7, timeScale: 300 });
//   const heater = new provider.io.Digital({ pin: provider.pin.heater, mode: provider.io.Digital.Output });
//   heater.write(1);
//   provider.simulation.room.celsius(); // the true temperature, rising
//
// The pins behave as the parts wired to them would, and refuse what the hardware could not do, the way
// Moddable's ESP32 IO does (a RangeError): a pin opened twice is "in use"; an output cannot be opened as an
// input and the other way round; an Analog only on an analog pin. A Digital input left without a pull-up
// on the door contact floats while the door is open (reads random bits), as a bare reed switch does.
//
// ADC: 12 bits over a 2.45 V full scale, like Moddable's ESP32 Analog at its default attenuation, so the
// drivers in boards/drivers read the same numbers here as on the device. Device code: no Node built-ins.

import { GatehouseError } from "../../sdk/errors";
import type { ClockPort } from "../../sdk/ports/clock";
import { DEFAULT_FULL_SCALE_VOLTS, tmp36Volts } from "../drivers/thermometer";
import { PIN_NAMES, type AnalogIO, type BoardPins, type BoardProvider, type DigitalIO } from "../provider";
import { World, type WorldOptions } from "./world";

/** The simulated board's pin numbers (any numbers would do: apps use the names). */
export const SIMULATED_PINS: BoardPins = { heater: 1, temperature: 2, lock: 3, doorContact: 4, light: 5 };

export const ANALOG_RESOLUTION = 12;

/** ECMA-419 Digital modes, with Moddable's values (modules/io/digital/esp32/digitalbank.c). */
const MODES = { Input: 0, InputPullUp: 1, InputPullDown: 2, InputPullUpDown: 3, Output: 8, OutputOpenDrain: 9 } as const;

type WireKind = "output" | "input" | "analog";

/** What is wired to a pin: the world seen through it. */
interface Wire {
  readonly name: keyof BoardPins;
  readonly kind: WireKind;
  /** Output wires: the level driven. */
  drive?(level: 0 | 1): void;
  /** Input wires: the level read in `mode`. */
  level?(mode: number): 0 | 1;
  /** Analog wires: the volts on the pin. */
  volts?(): number;
}

export interface SimulatedProviderOptions extends Omit<WorldOptions, "clock"> {
  clock: ClockPort;
  /** Pin numbers (default SIMULATED_PINS): another numbering is another board, and the apps must not care. */
  pins?: BoardPins;
}

export interface SimulatedDigitalClass {
  new (options: { pin: number; mode: number }): DigitalIO;
  readonly Input: number;
  readonly InputPullUp: number;
  readonly InputPullDown: number;
  readonly InputPullUpDown: number;
  readonly Output: number;
  readonly OutputOpenDrain: number;
}

export interface SimulatedAnalogClass {
  new (options: { pin: number; resolution?: number }): AnalogIO & { close(): void };
}

export interface SimulatedProvider extends BoardProvider {
  readonly io: { readonly Digital: SimulatedDigitalClass; readonly Analog: SimulatedAnalogClass };
  readonly pin: BoardPins;
  /** Per-bus defaults, as Moddable's providers have them. */
  readonly Analog: { readonly default: { readonly io: SimulatedAnalogClass; readonly pin: number } };
  /** The physical world behind the pins (not part of ECMA-419: for the simulator and tests). */
  readonly simulation: World;
}

function isInputMode(mode: number): boolean {
  return mode === MODES.Input || mode === MODES.InputPullUp || mode === MODES.InputPullDown || mode === MODES.InputPullUpDown;
}

function isOutputMode(mode: number): boolean {
  return mode === MODES.Output || mode === MODES.OutputOpenDrain;
}

function wires(world: World, pins: BoardPins): Map<number, Wire> {
  const list: Wire[] = [
    { name: "heater", kind: "output", drive: (level) => world.room.setHeater(level === 1) },
    { name: "lock", kind: "output", drive: (level) => world.door.setActuator(level === 1) },
    {
      name: "doorContact",
      kind: "input",
      // A reed switch to ground, closed by the door's magnet: low while the door is closed; while it is
      // open the pin reads whatever the bias gives (pull-up 1, pull-down 0, nothing: noise).
      level: (mode) => {
        if (world.door.closed) return 0;
        if (mode === MODES.InputPullUp || mode === MODES.InputPullUpDown) return 1;
        if (mode === MODES.InputPullDown) return 0;
        return world.noiseBit();
      },
    },
    { name: "temperature", kind: "analog", volts: () => tmp36Volts(world.room.sensed()) },
    { name: "light", kind: "analog", volts: () => (world.daylight.sensed() / 100) * DEFAULT_FULL_SCALE_VOLTS },
  ];
  return new Map(list.map((wire) => [pins[wire.name], wire]));
}

/** A fresh simulated board with its own world. */
export function createSimulatedProvider(options: SimulatedProviderOptions): SimulatedProvider {
  const world = new World(options);
  const pins = options.pins ?? SIMULATED_PINS;
  if (new Set(PIN_NAMES.map((name) => pins[name])).size !== PIN_NAMES.length) throw new GatehouseError("invalid-options", "simulated pins must be distinct");
  const wired = wires(world, pins);
  const inUse = new Set<number>();

  function claim(pin: number, want: WireKind): Wire {
    const wire = wired.get(pin);
    if (!wire) throw new RangeError(`invalid pin ${pin}`);
    if (inUse.has(pin)) throw new RangeError("in use");
    if (wire.kind !== want) {
      throw new RangeError(`pin ${pin} (${wire.name}) is wired to ${wire.kind === "analog" ? "an analog sensor" : `a digital ${wire.kind}`}`);
    }
    inUse.add(pin);
    return wire;
  }

  class Digital implements DigitalIO {
    static readonly Input = MODES.Input;
    static readonly InputPullUp = MODES.InputPullUp;
    static readonly InputPullDown = MODES.InputPullDown;
    static readonly InputPullUpDown = MODES.InputPullUpDown;
    static readonly Output = MODES.Output;
    static readonly OutputOpenDrain = MODES.OutputOpenDrain;

    private readonly pin: number;
    private readonly mode: number;
    private readonly wire: Wire;
    private driven: 0 | 1 = 0;
    private open = true;

    constructor(options: { pin: number; mode: number }) {
      const { pin, mode } = options;
      if (!isInputMode(mode) && !isOutputMode(mode)) throw new RangeError("invalid mode");
      this.wire = claim(pin, isOutputMode(mode) ? "output" : "input");
      this.pin = pin;
      this.mode = mode;
    }

    read(): 0 | 1 {
      this.check();
      // Reading an output gives back the level driven (as on the ESP32).
      if (isOutputMode(this.mode)) return this.driven;
      return (this.wire.level as (mode: number) => 0 | 1)(this.mode);
    }

    write(value: 0 | 1): void {
      this.check();
      if (!isOutputMode(this.mode)) throw new RangeError("not an output");
      if (value !== 0 && value !== 1) throw new RangeError("invalid value");
      this.driven = value;
      this.wire.drive?.(value);
    }

    close(): void {
      if (!this.open) return;
      this.open = false;
      inUse.delete(this.pin);
    }

    private check(): void {
      if (!this.open) throw new Error("closed");
    }
  }

  class Analog {
    readonly resolution = ANALOG_RESOLUTION;
    private readonly pin: number;
    private readonly wire: Wire;
    private open = true;

    constructor(options: { pin: number; resolution?: number }) {
      if (options.resolution !== undefined && options.resolution !== ANALOG_RESOLUTION) throw new RangeError("unsupported resolution");
      this.wire = claim(options.pin, "analog");
      this.pin = options.pin;
    }

    read(): number {
      if (!this.open) throw new Error("closed");
      const max = 2 ** ANALOG_RESOLUTION - 1;
      const volts = (this.wire.volts as () => number)();
      return Math.min(max, Math.max(0, Math.round((volts / DEFAULT_FULL_SCALE_VOLTS) * max)));
    }

    close(): void {
      if (!this.open) return;
      this.open = false;
      inUse.delete(this.pin);
    }
  }

  return {
    io: { Digital, Analog },
    pin: pins,
    Analog: { default: { io: Analog, pin: pins.temperature } },
    simulation: world,
  };
}
