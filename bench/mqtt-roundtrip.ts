// Network benchmark: a signed command round trip through a real broker against a plain MQTT request and
// response through the same broker, with the same message sizes and the same concurrency.
//
//   node --import tsx bench/mqtt-roundtrip.ts [--n 500] [--rounds 10] [--concurrency 1,8] [--operator-alg EdDSA|ES256]
//
// The broker is a mosquitto the benchmark starts (test/support/brokers.ts startMosquitto: loopback, its
// own port and temp dir, TCP_NODELAY on). Everything else runs in this one process, so both paths share
// the same CPU:
// - Baseline ("unsigned"): two plain MQTT.js clients. The requester publishes a request (QoS 1) carrying
//   an 8-byte correlation id, the responder answers on another topic (QoS 1) with the same id, and the
//   requester waits for it. Payload sizes are those of the signed path's command and result. No CBOR, no
//   COSE, no signature.
// - Signed: host/client/command-client.ts (MQTT.js) signs `read.target` with an EdDSA (Ed25519) operator
//   key (--operator-alg ES256 for a P-256 one), a real sdk Device (Node ports: NodeMqttTransport, MemoryStorage, nodeCrypto) with an ES256
//   (P-256) device key verifies it, runs it through its door and signs the result, and the client
//   verifies the result with the device's public key (verified: true).
// For each concurrency (round trips in flight at once, each "worker" doing one after the other), both
// paths are warmed up, then alternate for `rounds` rounds (the order within a round alternates too), each
// round timing `n` round trips. Reported: the median round trips/s of each path, ratio = signed /
// unsigned, and the latency percentiles of every signed round trip timed.
//
// Machine-readable lines (one per concurrency):
//   mqtt signed/unsigned ratio 0.62 (concurrency 1)
//   mqtt signed p50 3.1 ms p99 7.9 ms (concurrency 1)
//   BENCH_RESULT {"bench":"mqtt-roundtrip",...}

import { randomBytes } from "node:crypto";
import type { MqttClient } from "mqtt";
import { utf8 } from "../sdk/cbor/encode";
import { signCommand } from "../sdk/command/sender";
import { publicKey } from "../sdk/cose/key";
import { Device } from "../sdk/device";
import { TrustList } from "../sdk/trust";
import { nodeCrypto } from "../ports/node/crypto";
import { nodeClock, nodeTimers } from "../ports/node/platform";
import { MemoryStorage } from "../ports/node/storage";
import { NodeMqttTransport } from "../ports/node/transport";
import { CommandClient } from "../host/client/command-client";
import { connectMqtt, endMqtt } from "../host/client/mqtt";
import { generateDeviceKey } from "../host/identity-files";
import { setpointDoor } from "../test/conformance/doors.cases";
import { startMosquitto } from "../test/support/brokers";

function argument(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? String(process.argv[at + 1]) : fallback;
}

function positive(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer, not ${JSON.stringify(text)}`);
  return value;
}

const N = positive("n", argument("n", "500"));
const ROUNDS = positive("rounds", argument("rounds", "10"));
const CONCURRENCY = argument("concurrency", "1,8")
  .split(",")
  .map((c) => positive("concurrency", c));
const OPERATOR_ALG = argument("operator-alg", "EdDSA");
if (OPERATOR_ALG !== "EdDSA" && OPERATOR_ALG !== "ES256") throw new Error("--operator-alg must be EdDSA or ES256");
const GOAL = 0.5;
const DEVICE = "bench-rt";
const DOOR = "setpoint";

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

// ---- set-up ------------------------------------------------------------------------------------------

const broker = await startMosquitto();
const operatorKey = nodeCrypto.generateKey(OPERATOR_ALG, utf8("bench-operator"));
const deviceKey = generateDeviceKey(DEVICE); // ES256
const devicePublic = publicKey(deviceKey);
const state = { target: 20 };
const device = new Device({
  id: DEVICE,
  key: deviceKey,
  trust: new TrustList([{ key: publicKey(operatorKey), role: "operate" }]),
  ports: { crypto: nodeCrypto, clock: nodeClock, timers: nodeTimers, storage: new MemoryStorage(), transport: new NodeMqttTransport({ url: broker.url }) },
  firmware: { version: "bench 1" },
  session: { backoffInitialMs: 50 },
});
device.register(setpointDoor, {
  read: { target: () => state.target, mode: () => "heat", label: () => "bench" },
  write: { target: (v) => void (state.target = v), mode: () => {} },
  invoke: { setLimits: () => true, reset: () => {}, broken: () => 0 },
});
device.start();
for (let waited = 0; device.state !== "online"; waited += 10) {
  if (waited > 10_000) throw new Error(`the device did not come online: ${device.state}`);
  await sleep(10);
}
const client = await CommandClient.connect({ brokerUrl: broker.url, key: operatorKey });

async function signedRoundTrip(latencies?: number[]): Promise<void> {
  const t0 = performance.now();
  const reply = await client.send({ device: DEVICE, door: DOOR, op: "read.target", deviceKey: devicePublic, timeoutMs: 10_000 });
  if (!reply.ok || !reply.verified || reply.value !== 20) throw new Error(`signed round trip failed: ${JSON.stringify({ ...reply, result: undefined })}`);
  latencies?.push(performance.now() - t0);
}

// The sizes the baseline copies: one command as CommandClient signs it, one result as the device signs it.
const sampleCommand = signCommand(nodeCrypto, operatorKey, { device: DEVICE, door: DOOR, op: "read.target", seq: Date.now() * 1000, issuedAt: Math.floor(Date.now() / 1000), expiresAt: Math.floor(Date.now() / 1000) + 60 });
const sampleReply = await client.send({ device: DEVICE, door: DOOR, op: "read.target", deviceKey: devicePublic });
const REQUEST_BYTES = sampleCommand.length;
const RESPONSE_BYTES = sampleReply.result.length;

// Baseline: two plain MQTT.js clients, connected like the host tools connect (host/client/mqtt.ts).
const requestTopic = `bench/${DEVICE}/request`;
const responseTopic = `bench/${DEVICE}/response`;
const waiting = new Map<string, () => void>();
const requester: MqttClient = await connectMqtt(broker.url, {
  onMessage: (_topic, payload) => {
    const id = Buffer.from(payload.subarray(0, 8)).toString("hex");
    const done = waiting.get(id);
    if (done) {
      waiting.delete(id);
      done();
    }
  },
});
let responder: MqttClient | undefined;
const responseBody = randomBytes(RESPONSE_BYTES);
responder = await connectMqtt(broker.url, {
  onMessage: (_topic, payload) => {
    const response = Buffer.from(responseBody); // a fresh buffer per response, as a device would build one
    Buffer.from(payload.buffer, payload.byteOffset, 8).copy(response, 0);
    responder?.publish(responseTopic, response, { qos: 1 });
  },
});
await responder.subscribeAsync(requestTopic, { qos: 1 });
await requester.subscribeAsync(responseTopic, { qos: 1 });
const requestBody = randomBytes(REQUEST_BYTES);
let nextId = 0n;

function unsignedRoundTrip(): Promise<void> {
  const request = Buffer.from(requestBody);
  request.writeBigUInt64BE(nextId++, 0);
  const id = request.subarray(0, 8).toString("hex");
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      waiting.delete(id);
      reject(new Error("unsigned round trip: no response within 10 s"));
    }, 10_000);
    waiting.set(id, () => {
      clearTimeout(timer);
      resolve();
    });
    requester.publish(requestTopic, request, { qos: 1 });
  });
}

/** Seconds for `n` round trips with `concurrency` in flight. */
async function timed(n: number, concurrency: number, one: () => Promise<void>): Promise<number> {
  let started = 0;
  const worker = async () => {
    while (started < n) {
      started++;
      await one();
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return (performance.now() - t0) / 1000;
}

// ---- measurement -------------------------------------------------------------------------------------

interface ConcurrencyResult {
  concurrency: number;
  unsignedPerSec: number;
  signedPerSec: number;
  ratio: number;
  pairedRatio: number;
  p50: number;
  p90: number;
  p99: number;
  unsignedP50: number;
  spread: number;
}

async function measure(concurrency: number): Promise<ConcurrencyResult> {
  const warm = Math.max(100, 20 * concurrency);
  await timed(warm, concurrency, unsignedRoundTrip);
  await timed(warm, concurrency, () => signedRoundTrip());
  const unsigned: number[] = [];
  const signed: number[] = [];
  const paired: number[] = [];
  const latencies: number[] = [];
  const unsignedLatencies: number[] = [];
  const unsignedOne = async () => {
    const t0 = performance.now();
    await unsignedRoundTrip();
    unsignedLatencies.push(performance.now() - t0);
  };
  for (let r = 0; r < ROUNDS; r++) {
    let u: number;
    let s: number;
    if (r % 2 === 0) {
      u = await timed(N, concurrency, unsignedOne);
      s = await timed(N, concurrency, () => signedRoundTrip(latencies));
    } else {
      s = await timed(N, concurrency, () => signedRoundTrip(latencies));
      u = await timed(N, concurrency, unsignedOne);
    }
    unsigned.push(N / u);
    signed.push(N / s);
    paired.push(u / s);
  }
  const unsignedPerSec = median(unsigned);
  const signedPerSec = median(signed);
  return {
    concurrency,
    unsignedPerSec,
    signedPerSec,
    ratio: signedPerSec / unsignedPerSec,
    pairedRatio: median(paired),
    p50: quantile(latencies, 0.5),
    p90: quantile(latencies, 0.9),
    p99: quantile(latencies, 0.99),
    unsignedP50: quantile(unsignedLatencies, 0.5),
    spread: (quantile(unsigned, 0.9) - quantile(unsigned, 0.1)) / unsignedPerSec,
  };
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
console.log(`mqtt round trip through mosquitto on loopback: ${N} round trips per round, ${ROUNDS} alternating rounds, medians (node ${process.version})`);
console.log(`  signed: operator ${OPERATOR_ALG === "EdDSA" ? "EdDSA (Ed25519)" : "ES256 (P-256)"} -> device ES256 (P-256) -> result verified with the device key; command ${REQUEST_BYTES} B, result ${RESPONSE_BYTES} B`);
console.log(`  unsigned: plain MQTT.js request ${REQUEST_BYTES} B / response ${RESPONSE_BYTES} B, QoS 1 both ways`);
const results: ConcurrencyResult[] = [];
for (const concurrency of CONCURRENCY) {
  const r = await measure(concurrency);
  results.push(r);
  console.log(`  concurrency ${concurrency}: unsigned ${fmt(r.unsignedPerSec).padStart(6)} rt/s (p50 ${r.unsignedP50.toFixed(2)} ms)   signed ${fmt(r.signedPerSec).padStart(6)} rt/s   median of per-round ratios ${r.pairedRatio.toFixed(2)}`);
  console.log(`  concurrency ${concurrency}: signed latency p50 ${r.p50.toFixed(2)} ms  p90 ${r.p90.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms`);
  console.log(`  concurrency ${concurrency}: unsigned spread p10-p90 ${(100 * r.spread).toFixed(0)}% of the median${r.spread > 0.15 ? "   (busy machine: figures unreliable, run again on an idle one)" : ""}`);
  console.log(`mqtt signed/unsigned ratio ${r.ratio.toFixed(2)} (concurrency ${concurrency})${r.ratio < GOAL ? `   BELOW GOAL ${GOAL}` : ""}`);
  console.log(`mqtt signed p50 ${r.p50.toFixed(1)} ms p99 ${r.p99.toFixed(1)} ms (concurrency ${concurrency})`);
}
console.log(
  `BENCH_RESULT ${JSON.stringify({
    bench: "mqtt-roundtrip",
    n: N,
    rounds: ROUNDS,
    goal: GOAL,
    requestBytes: REQUEST_BYTES,
    responseBytes: RESPONSE_BYTES,
    operatorAlg: OPERATOR_ALG,
    deviceAlg: "ES256",
    results: results.map((r) => ({
      concurrency: r.concurrency,
      unsignedPerSec: Math.round(r.unsignedPerSec),
      signedPerSec: Math.round(r.signedPerSec),
      ratio: Number(r.ratio.toFixed(4)),
      pairedRatio: Number(r.pairedRatio.toFixed(4)),
      signedP50Ms: Number(r.p50.toFixed(3)),
      signedP90Ms: Number(r.p90.toFixed(3)),
      signedP99Ms: Number(r.p99.toFixed(3)),
      unsignedP50Ms: Number(r.unsignedP50.toFixed(3)),
      unsignedSpread: Number(r.spread.toFixed(3)),
    })),
  })}`,
);

await client.close();
await endMqtt(requester);
await endMqtt(responder);
device.stop(true);
await sleep(50);
await broker.stop();
