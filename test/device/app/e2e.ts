// A whole Gatehouse device on Moddable's lin simulator: the SDK's Device over the Moddable ports, with a
// small test door, against the suite's mosquitto. The Node side (test/device/e2e.test.ts) sends it signed
// commands, verifies its results and events with its public key, forges and replays commands, restarts
// the broker, and finally ends it with a signed `invoke.exit`.
//
// Identity and broker come from the environment (GATEHOUSE_DEVICE_KEY: hex of device.key,
// GATEHOUSE_TRUST: hex of trust.cbor, GATEHOUSE_BROKER_PORT; optionally the broker identity
// GATEHOUSE_BROKER_USER and GATEHOUSE_BROKER_PASSWORD, and for mqtts GATEHOUSE_BROKER_CA, hex of the CA's DER,
// with GATEHOUSE_BROKER_HOST, the name the broker's certificate must carry: built with manifest_tls.json).
// Session changes and, in an instrumented
// build, peak memory (./memory) are reported as trace lines; `read.memory` returns the figures as a result too.

import { decodeKey, decodeTrust, defineDoor, Device, fromHex, t } from "gatehouse/sdk";
import { Ecma419MqttTransport, moddableClock, moddableCrypto, moddableTimers, PreferenceStorage, type NetworkMqtt } from "gatehouse/ports/moddable";
import { peak, sampleMemory, watchMemory } from "./memory";
import { env, exit, report } from "./report";

const probeDoor = defineDoor({
  name: "probe",
  properties: {
    count: { type: t.int({ min: 0, max: 1_000_000 }), read: "view" },
    memory: { type: t.record({ chunks: t.int(), slots: t.int(), samples: t.int() }), read: "view" },
  },
  actions: {
    increment: { input: t.int({ min: 1, max: 100 }), output: t.int({ min: 0, max: 1_000_000 }), role: "operate" },
    exit: { input: t.int({ min: 0, max: 255 }), output: t.bool(), role: "administer" },
  },
});

function bytes(name: string): Uint8Array {
  const value = fromHex(env(name));
  if (!value || value.length === 0) throw new Error(`${name} is not hex`);
  return value;
}

export function runE2e(): void {
  const key = decodeKey(bytes("GATEHOUSE_DEVICE_KEY"));
  const trust = decodeTrust(bytes("GATEHOUSE_TRUST"));
  const id = new TextDecoder().decode(key.kid);
  const networks = (globalThis as unknown as { device: { network: { mqtt: NetworkMqtt; mqtts?: NetworkMqtt } } }).device.network;
  const ca = env("GATEHOUSE_BROKER_CA");
  const network = ca ? networks.mqtts : networks.mqtt;
  if (!network) throw new Error("GATEHOUSE_BROKER_CA needs the build of manifest_tls.json (device.network.mqtts)");
  const user = env("GATEHOUSE_BROKER_USER");
  const password = env("GATEHOUSE_BROKER_PASSWORD");
  const gatehouse = new Device({
    id,
    key,
    trust,
    ports: {
      crypto: moddableCrypto,
      clock: moddableClock,
      timers: moddableTimers,
      storage: new PreferenceStorage("gh-e2e"),
      transport: new Ecma419MqttTransport({ network, host: env("GATEHOUSE_BROKER_HOST") || "127.0.0.1", port: Number(env("GATEHOUSE_BROKER_PORT")), tls: ca ? { certificate: bytes("GATEHOUSE_BROKER_CA").slice().buffer } : undefined }),
    },
    firmware: { version: "gatehouse device suite" },
    session: {
      keepAlive: 5,
      backoffInitialMs: 200,
      backoffMaxMs: 1000,
      ...(user ? { username: user, password: new TextEncoder().encode(password) } : {}),
      onStateChange: (state, detail) => report({ kind: "state", state, detail }),
    },
  });
  let count = 0;
  gatehouse.register(probeDoor, {
    read: {
      count: () => count,
      memory: () => {
        sampleMemory();
        return { ...peak };
      },
    },
    invoke: {
      increment: (by) => {
        sampleMemory();
        count += by;
        report({ kind: "executed", count });
        return count;
      },
      exit: (code) => {
        // After the result has gone out (it is published when this returns).
        moddableTimers.set(() => exit(code), 300);
        return true;
      },
    },
  });
  watchMemory();
  gatehouse.start();
  report({ kind: "started", id });
}
