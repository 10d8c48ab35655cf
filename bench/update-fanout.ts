// Update fan-out: a 1 MiB signed update to 100 simulated devices through mosquitto, against moving the
// same bytes with plain MQTT clients, in the same run (issue 7 item 9; goal: ratio >= 0.5).
//
//   node --import tsx bench/update-fanout.ts [--devices 100] [--kib 1024] [--block 4096] [--no-disk] [--reads N]
//                                            [--window N] [--rate N] [--burst N]
//
// --window, --rate, --burst and --reads override the transfer's bounds (the devices' window of
// outstanding requests; the server's per-device token bucket and its image reads in flight), to find
// which one bounds the transfer; without them the defaults are measured.
//
// Both sides move devices x image bytes through the same broker on this machine:
// - update: the fleet server offers the update to every device (one rollout, one wave); each device
//   verifies the envelope (2 of 2 ES256 signatures), pulls the image in blocks (CBOR requests and
//   answers, QoS 0), hashes it as it writes its slot file and checks the signed digest. Timed from the
//   rollout's start until every device's signed status says `verified` (the bytes moved and checked; the
//   restart into the new build and its health check come after and are not part of the transfer).
// - plain: one MQTT client publishes the image to each of N subscriber clients, in messages of the same
//   block size, QoS 1 (so none is dropped), no CBOR, no signatures, no hashing, no files. Timed from the
//   first publish until every subscriber received all its bytes.
// ratio = plain time / update time (the update's throughput as a fraction of plain MQTT's).
//
// Two topologies, both sides alike. Split (the ratio): the devices run in their own process
// (bench/fanout-peer.ts), apart from the fleet server, as they are deployed, and the plain subscribers
// apart from their publisher. One process: the server and all devices share one event loop (and the
// publisher its subscribers'); reported beside it, without a goal. On a 2-core machine the split gives
// each side one core, shared with mosquitto.
//
// The devices keep their slots and records in memory for the ratio (each real device has its own flash;
// here a hundred share one disk and one event loop, where every synchronous fsync of one device's
// progress record stalls all the others and the server). A second run with slot files on disk (durable
// writes, as the power-loss trials use) is reported beside it, without a goal.
//
// Machine-readable lines:
//   update fanout 100 devices x 1024 KiB: update 5.0 s (20.0 MiB/s), plain 2.8 s (35.9 MiB/s), ratio 0.56
//   update fanout in one process (server and devices, publisher and subscribers): update 3.7 s, plain 1.2 s, ratio 0.33
//   BENCH_RESULT {"bench":"update-fanout",...}

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { MqttClient } from "mqtt";
import { connectMqtt, endMqtt } from "../host/client/mqtt";
import { FleetServer } from "../host/server/fleet-server";
import { Simulator } from "../host/sim/simulator";
import { thermostatApp } from "../host/sim/apps";
import { startMosquitto } from "../test/support/brokers";
import { provisionFleet, simUpdate, trustDocument, updateKeys } from "../test/support/updates";

function argument(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  return value;
}

const N = argument("devices", 100);
const KIB = argument("kib", 1024);
const BLOCK = argument("block", 4096);
const GOAL = 0.5;
/** --no-disk: skip the run with slot files on disk. */
const SKIP_DISK = process.argv.includes("--no-disk");
/** --reads N: the server's image reads in flight, all devices together (its default is 64). */
const READS = process.argv.includes("--reads") ? argument("reads", 64) : undefined;
const WINDOW = process.argv.includes("--window") ? argument("window", 2) : undefined;
const RATE = process.argv.includes("--rate") ? argument("rate", 200) : undefined;
const BURST = process.argv.includes("--burst") ? argument("burst", 64) : undefined;
const TIMEOUT_MS = 600_000;
const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/** Polls every `everyMs` (the update side polls slowly: its polls run in the same process as the devices). */
async function until(what: string, ready: () => boolean, everyMs = 10): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

const broker = await startMosquitto();
const work = mkdtempSync(join(tmpdir(), "gh-fanout-"));
const mib = (N * KIB) / 1024;

/** The update: N simulated devices, one rollout. */
async function updateRun(onDisk: boolean, split: boolean): Promise<number> {
  const keys = updateKeys(2);
  const ids = Array.from({ length: N }, (_, i) => `fan-${String(i + 1).padStart(3, "0")}`);
  const fleet = provisionFleet(ids, trustDocument(keys, 2));
  const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", identitiesDir: fleet.identitiesDir, clientId: "fanout-server", updates: { maxReadsInFlight: READS, requestsPerSecond: RATE, requestBurst: BURST } });
  // One process: the devices share the server's event loop. Split: they run in their own (fanout-peer.ts).
  const sim = split
    ? undefined
    : await Simulator.start({
        example: thermostatApp({ tickMs: 5000 }),
        brokerUrl: broker.url,
        devices: N,
        identitiesDir: fleet.identitiesDir,
        // In memory: the slots and the devices' records, as each device's own flash would hold them. On disk:
        // files written durably (fsync), all devices' on one disk and in one event loop.
        stateDir: onDisk ? join(work, "state") : undefined,
        updates: { healthDeadlineMs: 60_000, transfer: { retryMs: 2000, window: WINDOW } },
      });
  const devices = split
    ? await startPeer(["devices", "--broker", broker.url, "--identities", fleet.identitiesDir, "--devices", String(N), ...(WINDOW ? ["--window", String(WINDOW)] : []), ...(onDisk ? ["--state", join(work, "state")] : [])])
    : undefined;
  try {
    if (devices) await devices.line("ready");
    else await sim!.waitOnline(N, 120_000);
    await until("births with update state", () => ids.every((id) => server.updateState(id)?.installed), 200);
    const update = simUpdate({ app: "thermostat", firmware: "thermostat-sim 1.0.0", seq: 1, keys, payloadBytes: KIB * 1024 - 40 });
    const t0 = performance.now();
    const rollout = await server.createRollout({ file: update.file, devices: "all", blockSize: BLOCK });
    const passed = (state: string) => state === "verified" || state === "installed" || state === "confirmed";
    // Blocks served per device, read while it is offered (a device that confirmed is no longer offered).
    const served = new Map<string, { served: number; limited: number; waited: number }>();
    await until("every device verified", () => {
      for (const id of ids) {
        const o = server.transfer.offered(id);
        if (o) served.set(id, { served: o.served, limited: o.limited, waited: o.waited });
      }
      return server.rollout(rollout.id)!.devices.every((d) => passed(d.state));
    }, 100);
    const seconds = (performance.now() - t0) / 1000;
    const total = [...served.values()].reduce((sum, o) => sum + o.served, 0);
    const limited = [...served.values()].reduce((sum, o) => sum + o.limited, 0);
    const waited = [...served.values()].reduce((sum, o) => sum + o.waited, 0);
    const needed = N * Math.ceil(update.image.length / BLOCK);
    console.log(`  ${onDisk ? "on disk" : "in memory"}: ${total} blocks served for ${needed} needed (counted while each device is offered: a device that confirmed early is missing), ${waited} requests waited for a token or a read, ${limited} dropped (more than the window waiting)`);
    await until("the rollout done", () => server.rollout(rollout.id)?.state === "done", 200);
    return seconds;
  } finally {
    await sim?.stop();
    await devices?.stop();
    await server.stop();
    fleet.cleanup();
  }
}

/** The same bytes with plain MQTT: one publisher, N subscribers (split: in their own process), QoS 1, messages of BLOCK bytes. */
async function plainRun(split: boolean): Promise<number> {
  const image = new Uint8Array(KIB * 1024).map((_, i) => i & 0xff);
  const received = new Array<number>(N).fill(0);
  const subscribers: MqttClient[] = [];
  const peer = split ? await startPeer(["subscribers", "--broker", broker.url, "--devices", String(N), "--bytes", String(image.length)]) : undefined;
  if (peer) await peer.line("ready");
  else {
    for (let i = 0; i < N; i++) {
      const client = await connectMqtt(broker.url, { clientId: `plain-sub-${i}`, clean: true, onMessage: (_topic, payload) => (received[i] += payload.length) });
      await client.subscribeAsync(`plain/${i}/block`, { qos: 1 });
      subscribers.push(client);
    }
  }
  const publisher = await connectMqtt(broker.url, { clientId: "plain-pub", clean: true, onMessage: () => {} });
  try {
    const t0 = performance.now();
    const everyByte = peer ? peer.line("done") : until("every subscriber received the image", () => received.every((n) => n === image.length));
    const sends: Promise<unknown>[] = [];
    for (let offset = 0; offset < image.length; offset += BLOCK) {
      const chunk = Buffer.from(image.subarray(offset, offset + BLOCK));
      for (let i = 0; i < N; i++) sends.push(publisher.publishAsync(`plain/${i}/block`, chunk, { qos: 1 }));
    }
    await Promise.all(sends);
    await everyByte;
    return (performance.now() - t0) / 1000;
  } finally {
    await endMqtt(publisher);
    for (const client of subscribers) await endMqtt(client);
    await peer?.stop();
  }
}

/** fanout-peer.ts in a child process: `line(text)` resolves when it prints that line; stop() ends it. */
async function startPeer(args: string[]): Promise<{ line(text: string): Promise<void>; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "fanout-peer.ts"), ...args], { stdio: ["pipe", "pipe", "inherit"] });
  const seen = new Set<string>();
  const waiting = new Map<string, () => void>();
  const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
  createInterface({ input: child.stdout! }).on("line", (text) => {
    seen.add(text);
    waiting.get(text)?.();
  });
  return {
    line: (text) =>
      Promise.race([
        new Promise<void>((done) => (seen.has(text) ? done() : waiting.set(text, done))),
        exited.then((code) => Promise.reject(new Error(`fanout-peer ${args[0]} exited (${code}) before "${text}"`))),
        sleep(TIMEOUT_MS).then(() => Promise.reject(new Error(`fanout-peer ${args[0]}: no "${text}" in time`))),
      ]),
    stop: async () => {
      child.stdin!.end();
      await exited;
    },
  };
}

try {
  // Split first (the headline: server and devices on their own, as deployed), then one process.
  const plain = await plainRun(true);
  const update = await updateRun(false, true);
  const ratio = plain / update;
  console.log(
    `update fanout ${N} devices x ${KIB} KiB: update ${update.toFixed(1)} s (${(mib / update).toFixed(1)} MiB/s), plain ${plain.toFixed(1)} s (${(mib / plain).toFixed(1)} MiB/s), ratio ${ratio.toFixed(2)}${ratio < GOAL ? `   BELOW GOAL ${GOAL}` : ""}`,
  );
  const plainOne = await plainRun(false);
  const updateOne = await updateRun(false, false);
  console.log(`update fanout in one process (server and devices, publisher and subscribers): update ${updateOne.toFixed(1)} s, plain ${plainOne.toFixed(1)} s, ratio ${(plainOne / updateOne).toFixed(2)}`);
  const disk = SKIP_DISK ? undefined : await updateRun(true, true);
  if (disk !== undefined) console.log(`update fanout with slot files on disk (fsync): update ${disk.toFixed(1)} s, ratio ${(plain / disk).toFixed(2)}`);
  console.log(
    `BENCH_RESULT ${JSON.stringify({ bench: "update-fanout", devices: N, kib: KIB, block: BLOCK, updateSeconds: Number(update.toFixed(3)), plainSeconds: Number(plain.toFixed(3)), ratio: Number(ratio.toFixed(3)), goal: GOAL, oneProcessRatio: Number((plainOne / updateOne).toFixed(3)), diskSeconds: disk === undefined ? null : Number(disk.toFixed(3)), diskRatio: disk === undefined ? null : Number((plain / disk).toFixed(3)) })}`,
  );
} finally {
  await broker.stop();
  rmSync(work, { recursive: true, force: true });
}
process.exit(0);
