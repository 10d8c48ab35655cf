// The thermostat board on an ESP32, through ECMA-419 IO (Moddable's host provider, `device.io`):
// a Digital output drives the heater relay, an Analog input reads a TMP36 or an NTC thermistor divider.
// Device code (runs on XS). UNTESTED: no ESP32 or Moddable SDK was available where this was written;
// it follows the ECMA-419 class shapes in docs/moddable.md section 7 and nothing more.
//
// Pins come from the config object, never from constants here, so one file serves any wiring:
//   new Esp32ThermostatBoard({ io: device.io, relayPin: 26, sensorPin: 34, sensor: "tmp36" })
// Use an ADC1 pin (GPIO 32-39 on the classic ESP32): ADC2 is unusable while Wi-Fi is on.

import type { ThermostatBoard } from "../../examples/thermostat/board";

/** The parts of ECMA-419 Digital this board uses (typings/embedded_io/digital.d.ts has the full shape). */
export interface DigitalIO {
  write(value: number): void;
  read(): number;
  close(): void;
}
export interface DigitalClass {
  new (options: { pin: number | string; mode: number }): DigitalIO;
  readonly Output: number;
}

/** The parts of ECMA-419 Analog this board uses. read() gives 0 .. 2^resolution - 1. */
export interface AnalogIO {
  read(): number;
  readonly resolution: number;
  close(): void;
}
export interface AnalogClass {
  new (options: { pin: number | string; resolution?: number }): AnalogIO;
}

export interface NtcConfig {
  /** Beta coefficient, K (typical 3950). */
  beta: number;
  /** Resistance at 25 °C, ohms (typical 10 kΩ). */
  r25: number;
  /** The fixed resistor of the divider, ohms. */
  seriesOhms: number;
  /** true: the NTC sits between the ADC pin and ground (the series resistor to the supply). */
  ntcToGround: boolean;
}

export interface Esp32ThermostatConfig {
  /** The host provider's IO classes: pass `device.io`. */
  io: { Digital: DigitalClass; Analog: AnalogClass };
  relayPin: number | string;
  /** An ADC-capable pin. */
  sensorPin: number | string;
  sensor: "tmp36" | "ntc";
  /** The relay module switches on with a low level (common for opto-isolated modules). */
  relayActiveLow?: boolean;
  /** Full-scale voltage of the ADC at its attenuation (TMP36 only; default 3.3). Calibrate per board. */
  fullScaleVolts?: number;
  /** NTC only (default: 10 kΩ, beta 3950, 10 kΩ series, NTC to ground). */
  ntc?: NtcConfig;
  /** Readings averaged per measurement (default 8): the ESP32 ADC is noisy. */
  samples?: number;
}

const KELVIN = 273.15;
const DEFAULT_NTC: NtcConfig = { beta: 3950, r25: 10000, seriesOhms: 10000, ntcToGround: true };

export class Esp32ThermostatBoard implements ThermostatBoard {
  private readonly relayOut: DigitalIO;
  private readonly sensorIn: AnalogIO;
  private readonly config: Esp32ThermostatConfig;
  private readonly fullScale: number;
  private on = false;

  constructor(config: Esp32ThermostatConfig) {
    this.config = config;
    const { Digital, Analog } = config.io;
    this.relayOut = new Digital({ pin: config.relayPin, mode: Digital.Output });
    this.sensorIn = new Analog({ pin: config.sensorPin });
    this.fullScale = 2 ** this.sensorIn.resolution - 1;
    this.setRelay(false); // a known state at boot: heater off
  }

  readTemperature(): number {
    const samples = Math.max(1, this.config.samples ?? 8);
    let sum = 0;
    for (let i = 0; i < samples; i++) sum += this.sensorIn.read();
    const ratio = sum / samples / this.fullScale; // 0..1 of full scale
    return this.config.sensor === "tmp36" ? this.tmp36(ratio) : this.ntc(ratio);
  }

  setRelay(on: boolean): void {
    const level = on !== (this.config.relayActiveLow === true) ? 1 : 0;
    this.relayOut.write(level);
    this.on = on;
  }

  relay(): boolean {
    return this.on;
  }

  close(): void {
    this.setRelay(false);
    this.relayOut.close();
    this.sensorIn.close();
  }

  /** TMP36: 10 mV/°C with 500 mV at 0 °C. */
  private tmp36(ratio: number): number {
    const volts = ratio * (this.config.fullScaleVolts ?? 3.3);
    return (volts - 0.5) * 100;
  }

  /** NTC in a divider, beta equation: 1/T = 1/T25 + ln(R/R25)/beta. */
  private ntc(ratio: number): number {
    const ntc = this.config.ntc ?? DEFAULT_NTC;
    if (ratio <= 0 || ratio >= 1) return NaN; // open or shorted sensor: the app treats NaN as a fault
    const resistance = ntc.ntcToGround ? (ntc.seriesOhms * ratio) / (1 - ratio) : (ntc.seriesOhms * (1 - ratio)) / ratio;
    const inverse = 1 / (25 + KELVIN) + Math.log(resistance / ntc.r25) / ntc.beta;
    return 1 / inverse - KELVIN;
  }
}
