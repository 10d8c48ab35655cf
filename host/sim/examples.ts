// The examples the simulator can run, by name: what `gatehouse sim --example NAME` accepts and lists in its
// help. Light on purpose (names and one line each, no device code), so the CLI's help stays quick; the app
// factories themselves are in apps.ts.

import type { Thermostat } from "../../examples/thermostat/app";
import type { SmartLock } from "../../examples/smart-lock/app";
import type { SensorNode } from "../../examples/sensor-node/app";

export const EXAMPLES = {
  thermostat: "heater thermostat: temperature, relay and setpoint doors, a control loop",
  "smart-lock": "door lock: access codes kept as hashes, a lockout, admin-only code rotation",
  "sensor-node": "read-only telemetry: temperature and light readings in signed batches",
} as const;

export type ExampleName = keyof typeof EXAMPLES;

export const EXAMPLE_NAMES = Object.keys(EXAMPLES) as ExampleName[];

/** What each example's install returns, by name. */
export interface ExampleApps {
  thermostat: Thermostat;
  "smart-lock": SmartLock;
  "sensor-node": SensorNode;
}

export function isExampleName(name: string): name is ExampleName {
  return Object.hasOwn(EXAMPLES, name);
}
