// The thermostat on an ESP32 with Moddable: the device entry. It wires the real ports (NVS storage,
// Moddable's timers and clock, native ECDSA, the ECMA-419 MQTT client) and the board the build selected
// ("gatehouse/boards/board", boards/manifest.json) to the same Device class and the same app the simulator
// runs on Node.
//
// Not run on an ESP32 yet (no device here); the ports it uses are tested on Moddable's lin simulator by
// `npm run test:device`. Build it with examples/thermostat/manifest.json (see README.md there).
//
// Configuration (mc/config: the manifest's "config" block, or key=value on the mcconfig command line):
//   ssid, password          Wi-Fi (Moddable's setup/network connects before this module runs)
//   broker, brokerport      the MQTT broker (host name or address; port default 1883)
//   sensor                  "tmp36" (default) or "ntc"; relayactivelow "true" for low-level relay modules
//                           (the pins are the board's: boards/README.md)
//   devicekey, trust        the identity from `gatehouse provision`, as hex (xxd -p -c0 device.key), needed
//                           on the first boot only: they are then kept in NVS (domain "gh-identity") and
//                           later firmware may be built without them.

/// <reference path="../../boards/board.d.ts" />
import config from "mc/config";
import { decodeKey, decodeTrust, Device, fromHex } from "gatehouse/sdk";
import { Ecma419MqttTransport, moddableClock, moddableCrypto, moddableTimers, nvs, PreferenceStorage, type NetworkMqtt } from "gatehouse/ports/moddable";
import board from "gatehouse/boards/board";
import { installThermostat } from "./app";

// The host provider Moddable installs as a global (modules/io/system), extended with `network.mqtt` by
// the MQTT client's preloaded config. Declared here, for this module only, with the part used.
declare const device: {
  readonly network: { readonly mqtt: NetworkMqtt };
};

/** XS's console output (a global on Moddable), declared for this module. */
declare function trace(...items: unknown[]): void;

const FIRMWARE = "thermostat 0.1.0 (esp32)";
const IDENTITY_DOMAIN = "gh-identity";

function text(name: string, fallback?: string): string {
  const value = config[name];
  if (value === undefined || value === "") {
    if (fallback !== undefined) return fallback;
    throw new Error(`config ${name} is missing (mcconfig ... ${name}=...)`);
  }
  return String(value);
}

/** An identity part from NVS; on the first boot, from config (hex), then kept in NVS. */
function identityPart(name: "key" | "trust", configName: string): Uint8Array {
  const stored = nvs.get(IDENTITY_DOMAIN, name);
  if (stored instanceof ArrayBuffer) return new Uint8Array(stored);
  const bytes = fromHex(text(configName));
  if (!bytes) throw new Error(`config ${configName} is not hex`);
  nvs.set(IDENTITY_DOMAIN, name, bytes.slice().buffer);
  return bytes;
}

const key = decodeKey(identityPart("key", "devicekey"));
if (!key.d) throw new Error("devicekey is a public key; the device needs its private key (device.key)");
if (key.alg !== "ES256") throw new Error("stock Moddable signs and verifies ES256 only; provision with --alg ES256");
const trust = decodeTrust(identityPart("trust", "trust"));
const id = new TextDecoder().decode(key.kid); // a device's kid is the UTF-8 of its id

const thermostatDevice = new Device({
  id,
  key,
  trust,
  ports: {
    crypto: moddableCrypto,
    clock: moddableClock,
    timers: moddableTimers,
    storage: new PreferenceStorage("gatehouse"),
    transport: new Ecma419MqttTransport({ network: device.network.mqtt, host: text("broker"), port: Number(text("brokerport", "1883")) }),
  },
  firmware: { version: FIRMWARE },
  session: { onStateChange: (state, detail) => trace(`gatehouse: ${state} (${detail})\n`) },
});

installThermostat({
  device: thermostatDevice,
  provider: board,
  timers: moddableTimers,
  thermometer: { sensor: { kind: text("sensor", "tmp36") === "ntc" ? "ntc" : "tmp36" } },
  heater: { activeLow: text("relayactivelow", "false") === "true" },
  onError: (e) => trace(`thermostat: ${(e as Error)?.message ?? e}\n`),
});
thermostatDevice.start();
trace(`gatehouse: ${id} starting, ${trust.entries().length} trusted operator(s)\n`);
