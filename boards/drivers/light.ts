// A light sensor on an Analog input (a photoresistor or phototransistor divider): the sensor node's light
// level. Device code. Uncalibrated on purpose: it reports the level as a percentage of the ADC's full
// scale, which is what such a divider can honestly give without a lux meter to calibrate against.
//
//   const light = new LightSensor({ io: provider.io.Analog, pin: provider.pin.light });
//   light.read(); // 0 (dark) .. 100 (at or above full scale)

import type { AnalogClass, AnalogIO } from "../provider";
import { DEFAULT_FULL_SCALE_VOLTS, readVolts, sampleCount } from "./thermometer";

export interface LightSensorOptions {
  /** The host provider's Analog class (`provider.io.Analog`). */
  io: AnalogClass;
  pin: number;
  /** Readings averaged per measurement, 1 to 64 (default 8). */
  samples?: number;
}

export class LightSensor {
  private readonly input: AnalogIO;
  private readonly samples: number;

  constructor(options: LightSensorOptions) {
    this.samples = sampleCount(options.samples);
    this.input = new options.io({ pin: options.pin });
  }

  /** The light level, 0 to 100 (% of full scale). */
  read(): number {
    const ratio = readVolts(this.input, this.samples, DEFAULT_FULL_SCALE_VOLTS) / DEFAULT_FULL_SCALE_VOLTS;
    return Math.min(100, Math.max(0, ratio * 100));
  }

  close(): void {
    this.input.close?.();
  }
}
