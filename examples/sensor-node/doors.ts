// The sensor node's door: read-only. An operator can read the latest reading and the node's settings,
// and the node publishes its readings in signed batches; nothing on it can be written or invoked, so
// a stolen operator key can read what the fleet server already receives and change nothing. Device code.
//
//   member          type                                               role
//   read.latest     Reading (below)                                    view   (refused with no-reading before the first)
//   read.settings   {batchSize, sampleEveryMs, faults}                 view
//   event batch     Reading[1..32]                                     view   (telemetry: ONE signature per batch)
//
//   Reading = {uptime: int ms since boot, time?: int ms since the epoch (when the node has trusted time),
//              celsius: number, light: number 0..100 (% of full scale)}

import { defineDoor, t } from "gatehouse/sdk";

/** The most readings one batch (one signature) may cover: bounds the message (about 60 bytes each: 32 make 1.9 KB). */
export const MAX_BATCH = 32;

/** What a temperature sensor can plausibly report; anything else is a fault, not a reading. */
export const SENSOR_RANGE = { min: -50, max: 150 } as const;

export const READING = t.record({
  uptime: t.int({ min: 0 }),
  time: t.optional(t.int({ min: 0 })),
  celsius: t.number(SENSOR_RANGE),
  light: t.number({ min: 0, max: 100 }),
});

export const environmentDoor = defineDoor({
  name: "environment",
  description: "temperature and light, sampled periodically and published in signed batches",
  properties: {
    latest: { type: READING, read: "view", description: "the latest reading" },
    settings: {
      type: t.record({
        batchSize: t.int({ min: 1, max: MAX_BATCH }),
        sampleEveryMs: t.int({ min: 100, max: 86_400_000 }),
        faults: t.int({ min: 0 }),
      }),
      read: "view",
      description: "readings per batch, the sampling period, and how many samples were dropped as sensor faults",
    },
  },
  events: {
    batch: { data: t.array(READING, { maxItems: MAX_BATCH }), role: "view", description: "batchSize readings, oldest first, under one signature" },
  },
});
