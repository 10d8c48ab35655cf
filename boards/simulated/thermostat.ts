// A simulated thermostat board, for the host simulator and tests: a room that loses heat to the outside
// and gains it while the heater relay is on, read by a slightly noisy sensor.
//
// Model (Newton's law of cooling plus a constant heater):
//   dT/dt = -k (T - ambient) + (relay ? heat : 0)
// which, for a relay state held over dt, has the exact solution
//   T(t + dt) = Teq + (T(t) - Teq) e^(-k dt),   Teq = ambient + (relay ? heat / k : 0).
// Time comes from the ClockPort (monotonic ms), never from a wall-clock read of its own; the model
// advances lazily, on every read and before every relay change. `timeScale` runs the room faster than
// real time (tests). Noise is added to the reading, not to the room, from a seeded PRNG, so a run with
// the same seed and the same clock is the same run.
//
// No Node built-ins: this file would run on XS too (handy for a demo unit without a sensor).

import type { ClockPort } from "../../sdk/ports/clock";
import type { ThermostatBoard } from "../../examples/thermostat/board";

export interface SimulatedThermostatOptions {
  clock: ClockPort;
  /** PRNG seed for the sensor noise (default 1). */
  seed?: number;
  /** Outside temperature the room drifts toward, °C (default 16). */
  ambient?: number;
  /** Starting room temperature, °C (default: ambient). */
  initial?: number;
  /** Heat loss rate k, per second (default 0.01: the room loses 1% of its excess over ambient per second). */
  loss?: number;
  /** Heating while the relay is on, °C per second (default 0.1; the room settles at ambient + heat / loss = 26 °C). */
  heat?: number;
  /** Peak sensor noise, °C (default 0.05; uniform in ±noise). */
  noise?: number;
  /** Simulated seconds per real second (default 1). */
  timeScale?: number;
}

/** xorshift32 (Marsaglia 2003): tiny, seedable, more than good enough for sensor noise. Not for secrets. */
export function xorshift32(seed: number): () => number {
  let state = seed >>> 0 || 0x9e3779b9;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x100000000;
  };
}

export class SimulatedThermostatBoard implements ThermostatBoard {
  private readonly clock: ClockPort;
  private readonly random: () => number;
  private readonly ambient: number;
  private readonly loss: number;
  private readonly heat: number;
  private readonly noise: number;
  private readonly timeScale: number;
  private temperature: number;
  private on = false;
  private last: number;
  /** Relay switches so far (tests and the simulator's log use it). */
  switches = 0;

  constructor(options: SimulatedThermostatOptions) {
    this.clock = options.clock;
    this.random = xorshift32(options.seed ?? 1);
    this.ambient = options.ambient ?? 16;
    this.loss = options.loss ?? 0.01;
    this.heat = options.heat ?? 0.1;
    this.noise = options.noise ?? 0.05;
    this.timeScale = options.timeScale ?? 1;
    this.temperature = options.initial ?? this.ambient;
    this.last = this.clock.monotonic();
  }

  /** The room's true temperature (no sensor noise), after advancing the model to now. */
  roomTemperature(): number {
    this.advance();
    return this.temperature;
  }

  readTemperature(): number {
    return this.roomTemperature() + (this.random() * 2 - 1) * this.noise;
  }

  setRelay(on: boolean): void {
    this.advance();
    if (on !== this.on) this.switches++;
    this.on = on;
  }

  relay(): boolean {
    return this.on;
  }

  private advance(): void {
    const now = this.clock.monotonic();
    const seconds = (Math.max(0, now - this.last) / 1000) * this.timeScale;
    this.last = now;
    if (seconds === 0) return;
    const equilibrium = this.ambient + (this.on ? this.heat / this.loss : 0);
    this.temperature = equilibrium + (this.temperature - equilibrium) * Math.exp(-this.loss * seconds);
  }
}
