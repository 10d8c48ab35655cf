// The thermostat's doors: the only way in, for the operator console and for the app's own code alike.
// Device code (runs on XS).
//
//   door         member           type                       read   write / role
//   temperature  celsius          number (-50..150 °C)       view   -
//                event reading    number (°C)                view   (telemetry)
//   relay        on               bool                       view   operate
//   setpoint     target           number (5..35 °C)          view   operate  (also within the current limits)
//                limits           {min: int, max: int}       view   administer
//
// So an operator may move the target and switch the relay, and only an administrator may widen or
// narrow the limits the target has to stay within.

import { defineDoor, t } from "gatehouse/sdk";

/** The schema range of a target; the current limits narrow it further at run time. */
export const TARGET_RANGE = { min: 5, max: 35 } as const;

/** What a sensor can plausibly report; anything else is a fault, not a temperature. */
export const SENSOR_RANGE = { min: -50, max: 150 } as const;

export const temperatureDoor = defineDoor({
  name: "temperature",
  description: "the room temperature, measured every second",
  properties: {
    celsius: { type: t.number(SENSOR_RANGE), read: "view", description: "the latest reading, in °C" },
  },
  events: {
    reading: { data: t.number(SENSOR_RANGE), role: "view", description: "a periodic reading, in °C (telemetry)" },
  },
});

export const relayDoor = defineDoor({
  name: "relay",
  description: "the heater relay; the control loop switches it, an operator may too",
  properties: {
    on: { type: t.bool(), read: "view", write: "operate", description: "true while the heater runs" },
  },
});

export const setpointDoor = defineDoor({
  name: "setpoint",
  description: "the target temperature and the limits it must stay within",
  properties: {
    target: {
      type: t.number(TARGET_RANGE),
      read: "view",
      write: "operate",
      description: "°C; refused with out-of-limits outside the current limits",
    },
    limits: {
      type: t.record({ min: t.int(TARGET_RANGE), max: t.int(TARGET_RANGE) }),
      read: "view",
      write: "administer",
      description: "the range an operator may set the target in (min <= max)",
    },
  },
});

export const THERMOSTAT_DOORS = [temperatureDoor, relayDoor, setpointDoor] as const;
