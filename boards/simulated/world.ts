// The physical world behind the simulated board: a room with a heater, a door with a lock bolt, and the
// daylight a sensor node sees. The simulated provider (provider.ts) wires its pins to these models; tests
// and the host simulator also look at them directly ("what is the room's true temperature?").
//
// Time comes only from the ClockPort (monotonic ms), scaled by `timeScale` into simulated seconds of a
// day that starts at `startHour`. Every model advances lazily, on every read and before every change, and
// is solved exactly between those moments, so any step size gives the same result. Noise comes from a
// seeded PRNG, so a run with the same seed and the same clock is the same run.
//
// Room (Newton's law of cooling, a constant heater, an outside temperature that may swing over the day):
//   dT/dt = -k (T - A(t)) + (heater ? H : 0),   A(t) = ambient + swing sin(w (t - 9 h)),  w = 2 pi / day
// (the outside is warmest at 15:00). A linear equation with a sinusoidal input has the exact solution
//   T(t1) = C + P(t1) + (T(t0) - C - P(t0)) e^(-k (t1 - t0)),   C = ambient + (heater ? H / k : 0),
//   P(t) = swing (k^2 sin(w (t - 9 h)) - k w cos(w (t - 9 h))) / (k^2 + w^2).
// With swing 0 (the default) this is the plain exponential approach of today's thermostat model.
//
// Door: a bolt that a fail-secure actuator retracts while energised and a spring throws otherwise, taking
// `boltTravelMs` (simulated) from one end to the other. The door opens only with the bolt fully
// retracted, and a thrown bolt stops it from closing (it hits the frame).
//
// Daylight: 0 between 18:00 and 06:00, sin(w (t - 6 h)) between (full at noon), as a % light level.
//
// No Node built-ins: this runs on XS too (Moddable's lin simulator has no ECMA-419 IO, so there the
// simulated provider is the board).

import { GatehouseError } from "../../sdk/errors";
import type { ClockPort } from "../../sdk/ports/clock";

export const DAY_SECONDS = 86_400;
const HOUR = 3600;
const OMEGA = (2 * Math.PI) / DAY_SECONDS;

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

export interface RoomOptions {
  /** Mean outside temperature the room drifts toward, °C (default 16). */
  ambient?: number;
  /** Half the day/night swing of the outside temperature, °C (default 0: a constant outside). */
  swing?: number;
  /** Starting room temperature, °C (default: the outside temperature at the start). */
  initial?: number;
  /** Heat loss rate k, per second (default 0.01: the room loses 1% of its excess over outside per second). */
  loss?: number;
  /** Heating while the heater is on, °C per second (default 0.1: the heater alone holds the room 10 °C above outside). */
  heat?: number;
  /** Peak noise of the temperature sensor, °C (default 0.05; uniform in ±noise). */
  noise?: number;
}

export interface DoorOptions {
  /** Simulated milliseconds the bolt needs from one end to the other (default 200). */
  boltTravelMs?: number;
  /** The door is closed at the start (default true). */
  closed?: boolean;
}

export interface LightOptions {
  /** Peak noise of the light sensor, % (default 0.5). */
  noise?: number;
}

export interface WorldOptions {
  clock: ClockPort;
  /** PRNG seed for the sensor noise (default 1). */
  seed?: number;
  /** Simulated seconds per real second (default 1). */
  timeScale?: number;
  /** Hour of the day at the start, 0 to 24 (default 9). */
  startHour?: number;
  room?: RoomOptions;
  door?: DoorOptions;
  light?: LightOptions;
}

/** Simulated time: seconds since midnight of day 0, from the ClockPort. */
class SimulatedTime {
  private readonly clock: ClockPort;
  private readonly origin: number;
  private readonly start: number;
  private readonly scale: number;

  constructor(clock: ClockPort, startHour: number, timeScale: number) {
    if (!(timeScale > 0) || !(startHour >= 0 && startHour <= 24)) throw new GatehouseError("invalid-options", "timeScale must be above 0 and startHour within 0..24");
    this.clock = clock;
    this.origin = clock.monotonic();
    this.start = startHour * HOUR;
    this.scale = timeScale;
  }

  /** Seconds since midnight of day 0. */
  now(): number {
    return this.start + (Math.max(0, this.clock.monotonic() - this.origin) / 1000) * this.scale;
  }
}

export class Room {
  private readonly time: SimulatedTime;
  private readonly random: () => number;
  private readonly meanAmbient: number;
  private readonly swing: number;
  private readonly loss: number;
  private readonly heat: number;
  private readonly noise: number;
  private temperature: number;
  private last: number;
  private heating = false;
  /** Heater switches so far. */
  switches = 0;

  constructor(time: SimulatedTime, random: () => number, options: RoomOptions = {}) {
    this.time = time;
    this.random = random;
    this.meanAmbient = options.ambient ?? 16;
    this.swing = options.swing ?? 0;
    this.loss = options.loss ?? 0.01;
    this.heat = options.heat ?? 0.1;
    this.noise = options.noise ?? 0.05;
    if (!(this.loss > 0)) throw new GatehouseError("invalid-options", "room loss must be above 0");
    this.last = time.now();
    this.temperature = options.initial ?? this.ambientAt(this.last);
  }

  /** The outside temperature now, °C. */
  ambient(): number {
    return this.ambientAt(this.time.now());
  }

  /** The room's true temperature now (no sensor noise), °C. */
  celsius(): number {
    this.advance();
    return this.temperature;
  }

  /** What the temperature sensor sees: the true temperature plus noise. */
  sensed(): number {
    return this.celsius() + (this.random() * 2 - 1) * this.noise;
  }

  get heaterOn(): boolean {
    return this.heating;
  }

  setHeater(on: boolean): void {
    this.advance();
    if (on !== this.heating) this.switches++;
    this.heating = on;
  }

  private ambientAt(t: number): number {
    return this.meanAmbient + this.swing * Math.sin(OMEGA * (t - 9 * HOUR));
  }

  /** The steady response to the outside's swing (P(t) above). */
  private periodic(t: number): number {
    if (this.swing === 0) return 0;
    const k = this.loss;
    const phase = OMEGA * (t - 9 * HOUR);
    return (this.swing * (k * k * Math.sin(phase) - k * OMEGA * Math.cos(phase))) / (k * k + OMEGA * OMEGA);
  }

  private advance(): void {
    const now = this.time.now();
    const seconds = now - this.last;
    if (seconds <= 0) return;
    const base = this.meanAmbient + (this.heating ? this.heat / this.loss : 0);
    this.temperature = base + this.periodic(now) + (this.temperature - base - this.periodic(this.last)) * Math.exp(-this.loss * seconds);
    this.last = now;
  }
}

export class Door {
  private readonly time: SimulatedTime;
  private readonly travelSeconds: number;
  /** 0 retracted .. 1 thrown. Unpowered at the start: the spring has thrown it. */
  private position = 1;
  private energised = false;
  private last: number;
  private isClosed: boolean;

  constructor(time: SimulatedTime, options: DoorOptions = {}) {
    this.time = time;
    this.travelSeconds = (options.boltTravelMs ?? 200) / 1000;
    if (!(this.travelSeconds >= 0)) throw new GatehouseError("invalid-options", "boltTravelMs must be at least 0");
    this.isClosed = options.closed ?? true;
    this.last = time.now();
  }

  /** Where the bolt is: 0 fully retracted, 1 fully thrown. */
  bolt(): number {
    this.advance();
    return this.position;
  }

  /** The door is closed and the bolt fully thrown: nobody gets in without breaking something. */
  secured(): boolean {
    return this.closed && this.bolt() === 1;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get actuatorEnergised(): boolean {
    return this.energised;
  }

  /** The actuator's drive: energised retracts the bolt, released lets the spring throw it. */
  setActuator(energised: boolean): void {
    this.advance();
    this.energised = energised;
  }

  /** Someone pulls the door: it opens only when the bolt is fully retracted. Returns whether it opened. */
  open(): boolean {
    if (this.bolt() > 0) return false;
    this.isClosed = false;
    return true;
  }

  /** Someone pushes the door shut: a thrown bolt hits the frame. Returns whether it closed. */
  close(): boolean {
    if (this.isClosed) return true;
    if (this.bolt() > 0) return false;
    this.isClosed = true;
    return true;
  }

  private advance(): void {
    const now = this.time.now();
    const seconds = now - this.last;
    this.last = now;
    if (seconds <= 0) return;
    const target = this.energised ? 0 : 1;
    const step = this.travelSeconds === 0 ? 1 : seconds / this.travelSeconds;
    this.position = target > this.position ? Math.min(target, this.position + step) : Math.max(target, this.position - step);
  }
}

export class Daylight {
  private readonly time: SimulatedTime;
  private readonly random: () => number;
  private readonly noise: number;

  constructor(time: SimulatedTime, random: () => number, options: LightOptions = {}) {
    this.time = time;
    this.random = random;
    this.noise = options.noise ?? 0.5;
  }

  /** The true light level now, % (no noise). */
  level(): number {
    return 100 * Math.max(0, Math.sin(OMEGA * (this.time.now() - 6 * HOUR)));
  }

  /** What the light sensor sees, %, within 0..100. */
  sensed(): number {
    return Math.min(100, Math.max(0, this.level() + (this.random() * 2 - 1) * this.noise));
  }
}

/** The whole simulated world of one device. */
export class World {
  readonly room: Room;
  readonly door: Door;
  readonly daylight: Daylight;
  private readonly time: SimulatedTime;
  private readonly random: () => number;

  constructor(options: WorldOptions) {
    this.time = new SimulatedTime(options.clock, options.startHour ?? 9, options.timeScale ?? 1);
    this.random = xorshift32(options.seed ?? 1);
    this.room = new Room(this.time, this.random, options.room);
    this.door = new Door(this.time, options.door);
    this.daylight = new Daylight(this.time, this.random, options.light);
  }

  /** The simulated hour of the day, 0 <= hour < 24. */
  hour(): number {
    return (this.time.now() % DAY_SECONDS) / HOUR;
  }

  /** A random bit: what a floating input reads. */
  noiseBit(): 0 | 1 {
    return this.random() < 0.5 ? 0 : 1;
  }
}
