// The sensor node application: samples temperature and light every `sampleEveryMs` and publishes them in
// batches of `batchSize`, so ONE signature (the most expensive thing the node does: a P-256 signature
// costs an ESP32 tens of milliseconds) covers several readings. Signed telemetry only: its door
// (doors.ts) has nothing to write or invoke. Device code (runs on XS): hardware only through the board's
// `temperature` and `light` pins, time only through the ClockPort and TimerPort.
//
//   const node = installSensorNode({ device, provider: board, clock, timers, batchSize: 6, sampleEveryMs: 10_000 });
//
// Memory is bounded: the pending batch never holds more than batchSize (at most 32) readings. A batch that
// cannot be published (the device's offline queue refused it, say) is reported and dropped, not kept.
// A temperature outside -50..150 °C (an open or shorted sensor) is a fault: that sample is dropped and
// counted (`settings.faults`), never published as a reading.

import { GatehouseError, type ClockPort, type Device, type Infer, type LocalDoor, type TimerHandle, type TimerPort } from "gatehouse/sdk";
import { LightSensor, Thermometer, type BoardProvider, type LightSensorOptions, type ThermometerOptions } from "gatehouse/boards";
import { environmentDoor, MAX_BATCH, SENSOR_RANGE, type READING } from "./doors";

export type Reading = Infer<typeof READING>;

export interface SensorNodeOptions {
  device: Device;
  /** The board: its `temperature` and `light` pins are used. */
  provider: BoardProvider;
  clock: ClockPort;
  timers: TimerPort;
  /** Readings per signed batch, 1 to 32 (default 6). */
  batchSize?: number;
  /** Sampling period, ms, 100 ms to a day (default 10 s: with the default batch, one signature a minute). */
  sampleEveryMs?: number;
  /** Sensor kind and calibration of the thermometer (the pin comes from the board). */
  thermometer?: Omit<ThermometerOptions, "io" | "pin">;
  /** The light sensor's averaging (the pin comes from the board). */
  light?: Omit<LightSensorOptions, "io" | "pin">;
  /** Told of a dropped sample (sensor fault) or a batch that could not be published. */
  onError?(error: unknown): void;
}

export interface SensorNode {
  /** Stops sampling; readings not yet batched are dropped. */
  stop(): void;
  /** Takes one sample, and publishes the batch when it is full (as the timer does). */
  sample(): void;
  /** Readings waiting for their batch. */
  readonly pending: number;
  readonly door: LocalDoor<typeof environmentDoor>;
}

/** Two decimals are plenty for a room and keep the batch short. */
function round(value: number): number {
  return Math.round(value * 100) / 100;
}

export function installSensorNode(options: SensorNodeOptions): SensorNode {
  const { device, provider, clock, timers } = options;
  const batchSize = options.batchSize ?? 6;
  const sampleEveryMs = options.sampleEveryMs ?? 10_000;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH) throw new GatehouseError("invalid-options", `batchSize must be an integer from 1 to ${MAX_BATCH}`);
  if (!Number.isInteger(sampleEveryMs) || sampleEveryMs < 100 || sampleEveryMs > 86_400_000) throw new GatehouseError("invalid-options", "sampleEveryMs must be an integer from 100 to 86400000");
  const thermometer = new Thermometer({ ...options.thermometer, io: provider.io.Analog, pin: provider.pin.temperature });
  let light: LightSensor;
  try {
    light = new LightSensor({ ...options.light, io: provider.io.Analog, pin: provider.pin.light });
  } catch (e) {
    thermometer.close();
    throw e;
  }

  let batch: Reading[] = [];
  let latest: Reading | undefined;
  let faults = 0;
  let timer: TimerHandle | undefined;
  let stopped = false;

  const door = device.register(environmentDoor, {
    read: {
      latest: () => {
        if (!latest) throw new GatehouseError("no-reading", "no reading yet");
        return latest;
      },
      settings: () => ({ batchSize, sampleEveryMs, faults }),
    },
    write: {},
    invoke: {},
  });

  function sample(): void {
    const celsius = round(thermometer.read());
    if (!(celsius >= SENSOR_RANGE.min && celsius <= SENSOR_RANGE.max)) {
      faults++;
      throw new GatehouseError("sensor-fault", `temperature sensor reports ${celsius} °C: sample dropped`);
    }
    const reading: Reading = { uptime: Math.floor(clock.monotonic()), celsius, light: round(light.read()) };
    const time = clock.wallTime();
    if (time !== undefined) reading.time = Math.floor(time);
    latest = reading;
    batch.push(reading);
    if (batch.length < batchSize) return;
    const full = batch;
    batch = []; // dropped, not kept, if publishing fails: memory stays bounded
    door.emit("batch", full);
  }

  function loop(): void {
    timer = undefined;
    if (stopped) return;
    try {
      sample();
    } catch (e) {
      options.onError?.(e);
    }
    if (!stopped) timer = timers.set(loop, sampleEveryMs);
  }

  timer = timers.set(loop, sampleEveryMs);

  return {
    stop() {
      stopped = true;
      if (timer !== undefined) timers.clear(timer);
      timer = undefined;
      batch = [];
    },
    sample,
    get pending() {
      return batch.length;
    },
    door,
  };
}
