// A temperature sensor on an Analog input: a TMP36 or an NTC thermistor in a divider. Device code.
//
//   const thermometer = new Thermometer({ io: provider.io.Analog, pin: provider.pin.temperature });
//   thermometer.read(); // °C, NaN when the sensor is open or shorted (NTC)
//
// Full scale: Moddable's ESP32 Analog returns calibrated readings scaled to the full scale of its default
// attenuation (12 dB): 2,450 mV reads as 2^resolution - 1 (modules/io/analog/esp32/_analog.c in Moddable
// SDK 8.2.3). So the default full scale is 2.45 V, not the 3.3 V supply; the simulated board uses the
// same scale. Calibrate per board where it matters: the ESP32 ADC is neither exact nor linear near its ends.

import { GatehouseError } from "../../sdk/errors";
import type { AnalogClass, AnalogIO } from "../provider";

export interface Tmp36 {
  readonly kind: "tmp36";
}

export interface Ntc {
  readonly kind: "ntc";
  /** Beta coefficient, K (default 3950). */
  readonly beta?: number;
  /** Resistance at 25 °C, ohms (default 10 kΩ). */
  readonly r25?: number;
  /** The divider's fixed resistor, ohms (default 10 kΩ). */
  readonly seriesOhms?: number;
  /** The divider's supply, volts (default 3.3). */
  readonly supplyVolts?: number;
  /** true (default): the NTC sits between the ADC pin and ground, the fixed resistor to the supply. */
  readonly ntcToGround?: boolean;
}

export type ThermometerSensor = Tmp36 | Ntc;

export interface ThermometerOptions {
  /** The host provider's Analog class (`provider.io.Analog`). */
  io: AnalogClass;
  pin: number;
  /** Default TMP36. */
  sensor?: ThermometerSensor;
  /** Volts at the ADC's highest reading (default 2.45, see above). */
  fullScaleVolts?: number;
  /** Readings averaged per measurement, 1 to 64 (default 8): the ESP32 ADC is noisy. */
  samples?: number;
}

export const DEFAULT_FULL_SCALE_VOLTS = 2.45;
const KELVIN = 273.15;
const MAX_SAMPLES = 64;

/** Volts on an Analog input, averaged over `samples` reads: the one conversion every analog driver shares. */
export function readVolts(input: AnalogIO, samples: number, fullScaleVolts: number): number {
  let sum = 0;
  for (let i = 0; i < samples; i++) sum += input.read();
  return (sum / samples / (2 ** input.resolution - 1)) * fullScaleVolts;
}

/** Checks a sample count (1 to 64, default 8): a driver must not spin on a bad option. */
export function sampleCount(samples: number | undefined): number {
  const count = samples ?? 8;
  if (!Number.isInteger(count) || count < 1 || count > MAX_SAMPLES) throw new GatehouseError("invalid-options", `samples must be an integer from 1 to ${MAX_SAMPLES}, not ${count}`);
  return count;
}

export class Thermometer {
  private readonly input: AnalogIO;
  private readonly sensor: ThermometerSensor;
  private readonly fullScaleVolts: number;
  private readonly samples: number;

  constructor(options: ThermometerOptions) {
    this.sensor = options.sensor ?? { kind: "tmp36" };
    this.fullScaleVolts = options.fullScaleVolts ?? DEFAULT_FULL_SCALE_VOLTS;
    if (!(this.fullScaleVolts > 0 && this.fullScaleVolts <= 5)) throw new GatehouseError("invalid-options", `fullScaleVolts must be above 0 and at most 5, not ${this.fullScaleVolts}`);
    this.samples = sampleCount(options.samples);
    this.input = new options.io({ pin: options.pin });
  }

  /** The temperature in °C; NaN when an NTC reads as open or shorted (callers treat NaN as a sensor fault). */
  read(): number {
    const volts = readVolts(this.input, this.samples, this.fullScaleVolts);
    return this.sensor.kind === "tmp36" ? tmp36Celsius(volts) : ntcCelsius(volts, this.sensor);
  }

  close(): void {
    this.input.close?.();
  }
}

/** TMP36: 10 mV/°C with 500 mV at 0 °C. */
export function tmp36Celsius(volts: number): number {
  return (volts - 0.5) * 100;
}

/** The TMP36's output at `celsius` (for simulations and tests). */
export function tmp36Volts(celsius: number): number {
  return 0.5 + celsius / 100;
}

/** An NTC in a divider, beta equation: 1/T = 1/T25 + ln(R/R25)/beta. */
export function ntcCelsius(volts: number, ntc: Ntc): number {
  const supply = ntc.supplyVolts ?? 3.3;
  const series = ntc.seriesOhms ?? 10_000;
  const ratio = volts / supply;
  if (!(ratio > 0 && ratio < 1)) return NaN; // open or shorted: no temperature
  const resistance = ntc.ntcToGround === false ? (series * (1 - ratio)) / ratio : (series * ratio) / (1 - ratio);
  const inverse = 1 / (25 + KELVIN) + Math.log(resistance / (ntc.r25 ?? 10_000)) / (ntc.beta ?? 3950);
  return 1 / inverse - KELVIN;
}
