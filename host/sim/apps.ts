// The example apps as the simulator runs them: one factory per example, each giving a SimulatorApp that
// installs the app on a simulated device exactly as its Moddable entry would on a real one (the same app
// code, the same options object), with the simulated board as its provider. The simulator itself knows no
// example: it takes a SimulatorApp. Tests make their own with options (a faster loop, a smaller batch).

import type { Device } from "../../sdk/device";
import type { SecurityEventSettings } from "../../sdk/events";
import type { ClockPort } from "../../sdk/ports/clock";
import type { CryptoPort } from "../../sdk/ports/crypto";
import type { StoragePort } from "../../sdk/ports/storage";
import type { TimerPort } from "../../sdk/ports/timer";
import type { SimulatedProvider } from "../../boards/simulated/provider";
import { installThermostat, type Thermostat, type ThermostatOptions } from "../../examples/thermostat/app";
import { installSmartLock, SMART_LOCK_DEVICE_OPTIONS, type SmartLock, type SmartLockOptions } from "../../examples/smart-lock/app";
import { installSensorNode, type SensorNode, type SensorNodeOptions } from "../../examples/sensor-node/app";
import type { ExampleApps, ExampleName } from "./examples";

/** Everything a device in the simulator offers its app. */
export interface SimulatorAppContext {
  readonly id: string;
  readonly device: Device;
  readonly provider: SimulatedProvider;
  readonly clock: ClockPort;
  readonly timers: TimerPort;
  readonly crypto: CryptoPort;
  /** The app's own storage (apart from the Device's). */
  readonly storage: StoragePort;
  /** Trouble the app reports (a failed control step, a dropped sample): one line in the simulator's log. */
  onError(error: unknown): void;
}

/** An installed app: the simulator stops it before it stops the device. */
export interface InstalledApp {
  stop(): void;
}

export interface SimulatorApp<A extends InstalledApp = InstalledApp> {
  readonly name: string;
  /** Reported in the birth unless the simulator is given another. */
  readonly firmware: string;
  /** Device options the app needs (the smart lock records allowed attempts). */
  readonly deviceOptions?: { readonly events?: SecurityEventSettings };
  install(context: SimulatorAppContext): A;
}

type Tuning<O> = Omit<O, "device" | "provider" | "clock" | "timers" | "crypto" | "storage" | "onError">;

export function thermostatApp(options: Tuning<ThermostatOptions> = {}): SimulatorApp<Thermostat> {
  return {
    name: "thermostat",
    firmware: "thermostat-sim 0.1.0",
    install: (c) => installThermostat({ ...options, device: c.device, provider: c.provider, timers: c.timers, onError: (e) => c.onError(e) }),
  };
}

export function smartLockApp(options: Tuning<SmartLockOptions> = {}): SimulatorApp<SmartLock> {
  return {
    name: "smart-lock",
    firmware: "smart-lock-sim 0.1.0",
    deviceOptions: SMART_LOCK_DEVICE_OPTIONS,
    install: (c) =>
      installSmartLock({ ...options, device: c.device, provider: c.provider, clock: c.clock, timers: c.timers, crypto: c.crypto, storage: c.storage, onError: (e) => c.onError(e) }),
  };
}

export function sensorNodeApp(options: Tuning<SensorNodeOptions> = {}): SimulatorApp<SensorNode> {
  return {
    name: "sensor-node",
    firmware: "sensor-node-sim 0.1.0",
    install: (c) => installSensorNode({ ...options, device: c.device, provider: c.provider, clock: c.clock, timers: c.timers, onError: (e) => c.onError(e) }),
  };
}

/** Each example with its default options, by name. */
export const EXAMPLE_APPS: { readonly [N in ExampleName]: () => SimulatorApp<ExampleApps[N]> } = {
  thermostat: () => thermostatApp(),
  "smart-lock": () => smartLockApp(),
  "sensor-node": () => sensorNodeApp(),
};
