// The far end of bench/update-fanout.ts in its own process: the devices (or the plain subscribers), as
// they would be on their own hardware, apart from the server (or the publisher). It speaks to the
// benchmark in lines: `ready` once connected, `done` (subscribers) once every one holds every byte;
// it stops when its stdin ends.
//
//   node --import tsx bench/fanout-peer.ts devices --broker URL --identities DIR --devices N [--window N] [--state DIR]
//   node --import tsx bench/fanout-peer.ts subscribers --broker URL --devices N --bytes N

import type { MqttClient } from "mqtt";
import { connectMqtt, endMqtt } from "../host/client/mqtt";
import { thermostatApp } from "../host/sim/apps";
import { Simulator } from "../host/sim/simulator";

function text(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

function count(name: string): number | undefined {
  const value = text(name);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
  return n;
}

const mode = process.argv[2];
const broker = text("broker");
const devices = count("devices");
if ((mode !== "devices" && mode !== "subscribers") || !broker || !devices) {
  console.error("usage: fanout-peer.ts devices|subscribers --broker URL --devices N ...");
  process.exit(2);
}

/** Resolves when the benchmark closes our stdin (it is done with us). */
const released = new Promise<void>((done) => {
  process.stdin.on("end", done);
  process.stdin.resume();
});

if (mode === "devices") {
  const identitiesDir = text("identities");
  if (!identitiesDir) throw new Error("--identities is required");
  const sim = await Simulator.start({
    example: thermostatApp({ tickMs: 5000 }),
    brokerUrl: broker,
    devices,
    identitiesDir,
    // The same settings as the one-process run (bench/update-fanout.ts).
    stateDir: text("state"),
    updates: { healthDeadlineMs: 60_000, transfer: { retryMs: 2000, window: count("window") } },
  });
  await sim.waitOnline(devices, 120_000);
  console.log("ready");
  await released;
  await sim.stop();
} else {
  const bytes = count("bytes") ?? 0;
  const received = new Array<number>(devices).fill(0);
  let complete = 0;
  const subscribers: MqttClient[] = [];
  for (let i = 0; i < devices; i++) {
    const client = await connectMqtt(broker, {
      clientId: `plain-sub-${i}`,
      clean: true,
      onMessage: (_topic, payload) => {
        received[i] += payload.length;
        if (received[i] === bytes && ++complete === devices) console.log("done");
      },
    });
    await client.subscribeAsync(`plain/${i}/block`, { qos: 1 });
    subscribers.push(client);
  }
  console.log("ready");
  await released;
  for (const client of subscribers) await endMqtt(client);
}
process.exit(0);
