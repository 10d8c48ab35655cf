// The Moddable ports, each on Moddable's lin simulator: crypto (RFC 6979 vectors byte-exact, signatures
// for Node to verify, r and s range-checked before Moddable's verify), storage held to the ESP32 NVS limits,
// the clock and timers, and the MQTT transport against the suite's mosquitto. Each case reports
// {kind: "case", name, ok, error?}; device-made signatures go out as {kind: "signature", ...} for the
// Node side to verify with node:crypto.

import Instrumentation from "instrumentation";
import { decodeKey, fromHex, toHex, type CoseKey, type QoS } from "gatehouse/sdk";
import { Ecma419MqttTransport, moddableClock, moddableCrypto, moddableTimers, nvs, PreferenceStorage, type NetworkMqtt } from "gatehouse/ports/moddable";
import { Rfc6979Nonces } from "../../../ports/moddable/rfc6979";
import { signHash } from "../../../ports/moddable/crypto";
import { decode } from "../../../sdk/cbor/decode";
import { encode } from "../../../sdk/cbor/encode";
import { CborTag, type CborValue } from "../../../sdk/cbor/types";
import vectors from "../../fixtures/rfc6979/p256-sha256.json" with { type: "json" };
import { describe, env, exit, report } from "./report";

const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

function hex(text: string): Uint8Array {
  const bytes = fromHex(text);
  if (!bytes) throw new Error(`not hex: ${text}`);
  return bytes;
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

function equalHex(actual: Uint8Array, expected: string, what: string): void {
  check(toHex(actual) === expected.toLowerCase(), `${what}: expected ${expected.toLowerCase()}, got ${toHex(actual)}`);
}

function refused(action: () => unknown, code: string, what: string): void {
  try {
    action();
  } catch (e) {
    const actual = (e as { code?: string }).code;
    check(actual === code, `${what}: expected refusal ${code}, got ${describe(e)}`);
    return;
  }
  throw new Error(`${what}: expected refusal ${code}, but it succeeded`);
}

function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

const utf8 = (text: string) => new TextEncoder().encode(text);
const vectorKey: CoseKey = { alg: "ES256", kid: utf8("rfc6979"), x: hex(vectors.Ux), y: hex(vectors.Uy), d: hex(vectors.x) };

type Case = [name: string, run: () => void | Promise<void>];

const STACK = Instrumentation.map("XS Stack Used");

/**
 * The XS stack's peak (in slots) while `run` runs from a timer callback. Moddable resets the peak once a
 * second (this build is instrumented), so the callback waits past a reset: the peak is then this run's.
 */
function stackPeak(run: () => void): Promise<number> {
  return new Promise((done) =>
    moddableTimers.set(() => {
      run();
      done((Instrumentation.get(STACK!) ?? NaN) / 32);
    }, 1100),
  );
}

/** `levels` arrays, maps and tags, one inside the other. */
function nested(levels: number): CborValue {
  let value: CborValue = 0;
  for (let i = 0; i < levels; i++) value = i % 3 === 0 ? [value] : i % 3 === 1 ? new Map([[i, value]]) : new CborTag(1000 + i, value);
  return value;
}

const cases: Case[] = [
  [
    "rfc6979: the nonces k of A.2.5 (P-256, SHA-256) byte-exact",
    () => {
      for (const v of vectors.signatures) {
        const k = new Rfc6979Nonces(hex(vectors.x), moddableCrypto.sha256(utf8(v.message)), N).next();
        check(k.toString(16).padStart(64, "0") === v.k, `k for "${v.message}": expected ${v.k}, got ${k.toString(16)}`);
      }
    },
  ],
  [
    "rfc6979: ES256 signatures of A.2.5 byte-exact through the crypto port",
    () => {
      for (const v of vectors.signatures) equalHex(moddableCrypto.sign("ES256", vectorKey, utf8(v.message)), v.r + v.s, `r||s for "${v.message}"`);
    },
  ],
  [
    "es256: device signatures go to Node for node:crypto to verify; they verify here too",
    () => {
      const key = decodeKey(hex(env("GATEHOUSE_DEVICE_KEY")));
      const messages = [new Uint8Array(0), utf8("gatehouse"), bytes(100, 1), bytes(5000, 2)];
      messages.forEach((message, i) => {
        for (const k of [key, vectorKey]) {
          const signature = moddableCrypto.sign("ES256", k, message);
          check(moddableCrypto.verify("ES256", k, message, signature), `own signature ${i} does not verify`);
          report({ kind: "signature", x: toHex(k.x), y: toHex(k.y!), message: toHex(message), signature: toHex(signature) });
        }
      });
    },
  ],
  [
    "es256: a tampered message or signature does not verify",
    () => {
      const message = utf8("sample");
      const signature = moddableCrypto.sign("ES256", vectorKey, message);
      check(!moddableCrypto.verify("ES256", vectorKey, utf8("samplf"), signature), "tampered message verified");
      const bad = signature.slice();
      bad[40] ^= 1;
      check(!moddableCrypto.verify("ES256", vectorKey, message, bad), "tampered s verified");
    },
  ],
  [
    "es256: r and s outside [1, n-1] are refused before Moddable's verify (which never returns for s = 0)",
    () => {
      const message = utf8("sample");
      const good = moddableCrypto.sign("ES256", vectorKey, message);
      const n = hex(N.toString(16));
      const zero = new Uint8Array(32);
      const ones = new Uint8Array(32).fill(0xff);
      const with_ = (r: Uint8Array, s: Uint8Array) => {
        const sig = new Uint8Array(64);
        sig.set(r, 0);
        sig.set(s, 32);
        return sig;
      };
      const r = good.subarray(0, 32);
      const s = good.subarray(32);
      for (const [what, sig] of [["s = 0", with_(r, zero)], ["s = n", with_(r, n)], ["s = 2^256-1", with_(r, ones)], ["r = 0", with_(zero, s)], ["r = n", with_(n, s)]] as const) {
        check(moddableCrypto.verify("ES256", vectorKey, message, sig) === false, `${what} did not return false`);
      }
      check(moddableCrypto.verify("ES256", vectorKey, message, good.subarray(0, 63)) === false, "a 63-byte signature did not return false");
    },
  ],
  [
    "es256: a hash at or above n signs with e = hash - n (and RFC 6979's h1 unreduced) and verifies",
    () => {
      const hash = new Uint8Array(32).fill(0xff);
      const d = BigInt("0x" + vectors.x);
      const signature = signHash(d, hash);
      check(signature.length === 64, "signature length");
      report({ kind: "hash-signature", x: vectors.Ux, y: vectors.Uy, hash: toHex(hash), signature: toHex(signature) });
    },
  ],
  [
    "crypto: EdDSA is refused with alg-unsupported (stock Moddable has no Ed25519); keys are checked",
    () => {
      const ed: CoseKey = { alg: "EdDSA", kid: utf8("ed"), x: new Uint8Array(32), d: new Uint8Array(32) };
      refused(() => moddableCrypto.sign("EdDSA", ed, utf8("x")), "alg-unsupported", "EdDSA sign");
      refused(() => moddableCrypto.verify("EdDSA", ed, utf8("x"), new Uint8Array(64)), "alg-unsupported", "EdDSA verify");
      refused(() => moddableCrypto.sign("ES256", { ...vectorKey, d: new Uint8Array(32) }, utf8("x")), "key-invalid", "d = 0");
      refused(() => moddableCrypto.verify("ES256", { ...vectorKey, y: bytes(32, 9) }, utf8("x"), new Uint8Array(64).fill(1)), "key-invalid", "a point off the curve");
    },
  ],
  [
    "crypto: SHA-256 of the empty string and of 'abc' (FIPS 180-2 examples)",
    () => {
      equalHex(moddableCrypto.sha256(new Uint8Array(0)), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "SHA-256('')");
      equalHex(moddableCrypto.sha256(utf8("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "SHA-256('abc')");
    },
  ],
  [
    "storage: NVS limits enforced on lin (domain and key <= 15 printable ASCII, values <= 4000 bytes, int32 only)",
    () => {
      refused(() => nvs.set("a-domain-of-16-c", "k", 1), "storage-domain", "16-character domain");
      refused(() => nvs.set("gh-test", "a-key-of-16-char", 1), "storage-key", "16-character key");
      refused(() => nvs.set("gh-test", "", 1), "storage-key", "empty key");
      refused(() => nvs.set("gh-test", "sp ace", 1), "storage-key", "key with a space");
      refused(() => nvs.set("gh-test", "k", new ArrayBuffer(4001)), "storage-value", "4001-byte buffer");
      refused(() => nvs.set("gh-test", "k", "x".repeat(4001)), "storage-value", "4001-byte string");
      refused(() => nvs.set("gh-test", "k", "é".repeat(2001)), "storage-value", "4002 bytes of UTF-8 in 2001 characters");
      refused(() => nvs.set("gh-test", "k", 1.5), "storage-value", "a float");
      refused(() => nvs.set("gh-test", "k", 2 ** 31), "storage-value", "2^31");
      refused(() => nvs.get("gh-test", "a-key-of-16-char"), "storage-key", "reading a 16-character key");
      nvs.set("gh-test", "max-name-of-15c", 1);
      nvs.set("gh-test", "int-min", -(2 ** 31));
      nvs.set("gh-test", "int-max", 2 ** 31 - 1);
      const buffer = new ArrayBuffer(4000);
      new Uint8Array(buffer).set(bytes(4000, 3));
      nvs.set("gh-test", "buffer", buffer);
      nvs.set("gh-test", "text", "x".repeat(4000));
      check(nvs.get("gh-test", "int-min") === -(2 ** 31) && nvs.get("gh-test", "int-max") === 2 ** 31 - 1, "int32 limits round trip");
      const back = nvs.get("gh-test", "buffer");
      check(back instanceof ArrayBuffer && toHex(new Uint8Array(back)) === toHex(bytes(4000, 3)), "4000-byte buffer round trip");
      check(nvs.keys("gh-test").indexOf("max-name-of-15c") >= 0, "keys() lists the 15-character key");
      nvs.delete("gh-test", "buffer");
      check(nvs.get("gh-test", "buffer") === undefined, "deleted");
    },
  ],
  [
    "storage: PreferenceStorage round-trips bytes, refuses foreign values, and keeps what an earlier run wrote",
    () => {
      const storage = new PreferenceStorage("gh-test-port");
      const run = env("GATEHOUSE_RUN");
      const earlier = storage.read("last-run");
      report({ kind: "persisted", value: earlier === undefined ? null : new TextDecoder().decode(earlier) });
      storage.write("last-run", utf8(run));
      equalHex(storage.read("last-run")!, toHex(utf8(run)), "read back");
      storage.write("empty", new Uint8Array(0));
      check(storage.read("empty")?.length === 0, "an empty value is a value");
      storage.remove("empty");
      check(storage.read("empty") === undefined, "removed");
      nvs.set("gh-test-port", "foreign", "text");
      refused(() => storage.read("foreign"), "storage-corrupt", "a string in the port's domain");
      refused(() => new PreferenceStorage("a-domain-of-16-c"), "storage-domain", "16-character domain");
    },
  ],
  [
    "clock: monotonic counts from its first reading (Time.ticks is epoch ms on lin) and never goes back; wall time is trusted",
    () => {
      const first = moddableClock.monotonic();
      check(first === 0, `first monotonic reading is ${first}, not 0`);
      let last = first;
      for (let i = 0; i < 1000; i++) {
        const now = moddableClock.monotonic();
        check(now >= last, "monotonic went back");
        last = now;
      }
      const wall = moddableClock.wallTime();
      check(wall !== undefined && wall > Date.UTC(2025, 0, 1), `wall time ${wall}`);
    },
  ],
  [
    "timers: set fires once, after its delay; clear stops one that has not fired",
    () =>
      new Promise<void>((done, failed) => {
        const start = moddableClock.monotonic();
        let fired = 0;
        let clearedFired = false;
        const cleared = moddableTimers.set(() => (clearedFired = true), 30);
        moddableTimers.clear(cleared);
        moddableTimers.set(() => {
          fired++;
          const waited = moddableClock.monotonic() - start;
          moddableTimers.set(() => {
            if (fired !== 1) failed(new Error(`fired ${fired} times`));
            else if (clearedFired) failed(new Error("a cleared timer fired"));
            else if (waited < 50) failed(new Error(`fired after ${waited} ms, before its 50 ms`));
            else done();
          }, 100);
        }, 50);
      }),
  ],
  [
    // A device's stack is small (512 slots on an ESP32) and XS aborts when it overflows: the codec reads and
    // writes nested items in a loop. (Recursion took about 77 slots a level to encode, 21 to decode.)
    "cbor on XS 17: 16 levels of nesting take no more stack than 3, to encode and to decode",
    async () => {
      check(STACK !== undefined, "this build has no instrumentation (mcconfig -i)");
      // Three levels (an array, a map, a tag: every kind of container once) against sixteen.
      const shallow = nested(3);
      const deep = nested(16);
      const shallowBytes = encode(shallow);
      const deepBytes = encode(deep);
      const peaks = {
        encodeShallow: await stackPeak(() => encode(shallow)),
        encodeDeep: await stackPeak(() => encode(deep)),
        decodeShallow: await stackPeak(() => decode(shallowBytes)),
        decodeDeep: await stackPeak(() => decode(deepBytes)),
      };
      check(peaks.encodeShallow > 0 && peaks.decodeShallow > 0, `no stack figures: ${JSON.stringify(peaks)}`);
      check(peaks.encodeDeep <= peaks.encodeShallow + 4, `encode: 16 levels peaked at ${peaks.encodeDeep} slots, 3 levels at ${peaks.encodeShallow}`);
      check(peaks.decodeDeep <= peaks.decodeShallow + 4, `decode: 16 levels peaked at ${peaks.decodeDeep} slots, 3 levels at ${peaks.decodeShallow}`);
    },
  ],
  [
    "transport: connect with a will, subscribe, QoS 1 publish acknowledged and received back through mosquitto; an oversized message is skipped and reported",
    () => transportRoundTrip(),
  ],
];

function transportRoundTrip(): Promise<void> {
  const network = (globalThis as unknown as { device: { network: { mqtt: NetworkMqtt } } }).device.network.mqtt;
  const transport = new Ecma419MqttTransport({ network, host: "127.0.0.1", port: Number(env("GATEHOUSE_BROKER_PORT")) });
  const id = env("GATEHOUSE_CLIENT_ID");
  const topic = `gh-test/${id}/echo`;
  const payload = bytes(3000, 5); // larger than one TCP segment's worth of small writes
  const big = bytes(20 * 1024, 6);
  return new Promise<void>((done, failed) => {
    const got: string[] = [];
    let acknowledged = false;
    let oversized = 0;
    let finished = false;
    const timeout = moddableTimers.set(() => finish(new Error(`timed out: received ${got.length}, acknowledged ${acknowledged}, oversized ${oversized}`)), 20_000);
    function finish(error?: Error) {
      if (finished) return;
      finished = true;
      moddableTimers.clear(timeout);
      // Ungraceful: the broker then publishes the will, which the suite checks after the app has ended.
      transport.close(false);
      if (error) failed(error);
      else done();
    }
    transport.open(
      {
        clientId: id,
        keepAlive: 10,
        cleanSession: true,
        will: { topic: `gh-test/${id}/will`, payload: utf8(`will of ${id}`), qos: 1, retain: false },
      },
      {
        onConnected: () => {
          transport.subscribe([topic], 1, 1);
          transport.publish(topic, payload, 1 as QoS, false, 2, false);
          transport.publish(topic, big, 0, false, 3, false);
        },
        onMessage: (t, message) => {
          got.push(t);
          if (t !== topic || toHex(message) !== toHex(payload)) return finish(new Error(`unexpected message on ${t} (${message.length} bytes)`));
          if (acknowledged && oversized === big.length) finish();
        },
        onOversized: (t, size) => {
          oversized = size;
          if (t !== topic) return finish(new Error(`oversized on ${t}`));
          if (acknowledged && got.length === 1) finish();
        },
        onAcknowledged: (packetId) => {
          if (packetId !== 2) return finish(new Error(`PUBACK for ${packetId}`));
          acknowledged = true;
          if (got.length === 1 && oversized === big.length) finish();
        },
        onClosed: (reason) => finish(new Error(`closed: ${reason}`)),
      },
    );
  });
}

export async function runPorts(): Promise<void> {
  report({ kind: "cases", names: cases.map((c) => c[0]) });
  for (const [name, run] of cases) {
    try {
      await run();
      report({ kind: "case", name, ok: true });
    } catch (e) {
      report({ kind: "case", name, ok: false, error: describe(e) });
    }
  }
  report({ kind: "done" });
  // The will goes out when the socket drops; give the close a moment to reach the broker first.
  moddableTimers.set(() => exit(0), 200);
}
