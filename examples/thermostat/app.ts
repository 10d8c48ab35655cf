// The thermostat application: registers its three doors on a Device and runs the control loop.
// Device code (runs on XS): hardware only through the board it is given (board.ts opens the heater relay
// and the thermometer on the board's named pins), time only through the TimerPort.
//
//   const thermostat = installThermostat({ device, provider: board, timers });
//
// Control: every tick (1 s) the loop reads the temperature, switches the relay on below
// target - hysteresis and off above target + hysteresis (a dead band, so the relay does not chatter;
// inside the band the relay keeps its state, which is also why an operator's manual switch holds until
// the temperature leaves the band), and every `readingEvery` ticks (5 s) it emits a `reading` event,
// which the device publishes as signed telemetry. A sensor that fails or reports something implausible
// switches the heater off: a thermostat that cannot measure must not heat.

import { GatehouseError, type Device, type LocalDoor, type TimerHandle, type TimerPort } from "gatehouse/sdk";
import type { BoardProvider } from "gatehouse/boards";
import { openThermostatHardware, type HeaterSettings, type ThermostatHardware, type ThermometerSettings } from "./board";
import { relayDoor, SENSOR_RANGE, setpointDoor, TARGET_RANGE, temperatureDoor } from "./doors";

export interface Limits {
  min: number;
  max: number;
}

export interface ThermostatOptions {
  device: Device;
  /** The board: its `heater` and `temperature` pins are used. */
  provider: BoardProvider;
  timers: TimerPort;
  /** Sensor kind and calibration (default: a TMP36 on Moddable's ESP32 ADC scale, see boards/drivers). */
  thermometer?: ThermometerSettings;
  /** How the heater relay is driven (default: on at a high level). */
  heater?: HeaterSettings;
  /** Control loop period in ms (default 1000). */
  tickMs?: number;
  /** Emit a `reading` every this many ticks (default 5, i.e. every 5 s); the first tick emits one. */
  readingEvery?: number;
  /** Half-width of the dead band around the target, in °C (default 0.5). */
  hysteresis?: number;
  /** Initial target in °C (default 20). */
  target?: number;
  /** Initial limits (default 10..30). */
  limits?: Limits;
  /**
   * Told when a control step failed: the sensor could not be read (the relay has been switched off), or
   * the reading could not be published. The loop goes on either way.
   */
  onError?(error: unknown): void;
}

export interface Thermostat {
  /** Stops the control loop (the doors stay registered; the device keeps answering reads). */
  stop(): void;
  /** One control step, as the timer runs it. */
  tick(): void;
  /** The relay and thermometer the app drives (for the simulator's log and tests). */
  readonly hardware: ThermostatHardware;
  readonly doors: {
    readonly temperature: LocalDoor<typeof temperatureDoor>;
    readonly relay: LocalDoor<typeof relayDoor>;
    readonly setpoint: LocalDoor<typeof setpointDoor>;
  };
}

/** Two decimals are plenty for a room and keep telemetry short. */
function round(celsius: number): number {
  return Math.round(celsius * 100) / 100;
}

function checkLimits(limits: Limits): void {
  if (limits.min > limits.max) throw new GatehouseError("invalid-limits", `limits min ${limits.min} is above max ${limits.max}`);
}

export function installThermostat(options: ThermostatOptions): Thermostat {
  const { device, timers } = options;
  const tickMs = options.tickMs ?? 1000;
  const readingEvery = Math.max(1, Math.floor(options.readingEvery ?? 5));
  const hysteresis = options.hysteresis ?? 0.5;
  const limits: Limits = { min: options.limits?.min ?? 10, max: options.limits?.max ?? 30 };
  checkLimits(limits);
  if (limits.min < TARGET_RANGE.min || limits.max > TARGET_RANGE.max) throw new GatehouseError("invalid-limits", `limits must lie within ${TARGET_RANGE.min}..${TARGET_RANGE.max}`);
  let target = Math.min(limits.max, Math.max(limits.min, options.target ?? 20));
  const hardware = openThermostatHardware(options);
  const { heater, thermometer } = hardware;
  /** The latest good reading; undefined before the first one and after a sensor fault. */
  let celsius: number | undefined;
  let ticks = 0;
  let timer: TimerHandle | undefined;
  let stopped = false;

  function measure(): number {
    const value = round(thermometer.read());
    if (!(value >= SENSOR_RANGE.min && value <= SENSOR_RANGE.max)) throw new GatehouseError("sensor-fault", `sensor reports ${value} °C`);
    return value;
  }

  const temperature = device.register(temperatureDoor, {
    read: { celsius: () => celsius ?? measure() },
    write: {},
    invoke: {},
  });

  const relay = device.register(relayDoor, {
    read: { on: () => heater.on },
    write: { on: (on) => heater.set(on) },
    invoke: {},
  });

  const setpoint = device.register(setpointDoor, {
    read: {
      target: () => target,
      limits: () => ({ min: limits.min, max: limits.max }),
    },
    write: {
      target: (value) => {
        if (value < limits.min || value > limits.max) {
          throw new GatehouseError("out-of-limits", `target ${value} °C is outside the limits ${limits.min}..${limits.max} °C`);
        }
        target = value;
        control();
      },
      limits: (value) => {
        checkLimits(value);
        limits.min = value.min;
        limits.max = value.max;
        // The target follows the limits in, so it is always one an operator could have set.
        target = Math.min(limits.max, Math.max(limits.min, target));
        control();
      },
    },
    invoke: {},
  });

  /** Switches the relay (through its door, like anyone else) when the reading leaves the dead band. */
  function control(): void {
    if (celsius === undefined) return;
    const on = heater.on;
    if (!on && celsius < target - hysteresis) relay.write("on", true);
    else if (on && celsius > target + hysteresis) relay.write("on", false);
  }

  function tick(): void {
    let value: number;
    try {
      value = measure();
    } catch (e) {
      celsius = undefined;
      if (heater.on) relay.write("on", false);
      options.onError?.(e);
      return;
    }
    celsius = value;
    control();
    if (ticks % readingEvery === 0) temperature.emit("reading", value);
    ticks++;
  }

  function loop(): void {
    timer = undefined;
    if (stopped) return;
    try {
      tick();
    } catch (e) {
      // A publication that could not be signed or stored, say: the loop that keeps the room safe must
      // not die with one bad step (and an exception escaping a timer would end a Node process).
      options.onError?.(e);
    }
    if (!stopped) timer = timers.set(loop, tickMs);
  }

  timer = timers.set(loop, 0);

  return {
    stop() {
      stopped = true;
      if (timer !== undefined) timers.clear(timer);
      timer = undefined;
    },
    tick,
    hardware,
    doors: { temperature, relay, setpoint },
  };
}
