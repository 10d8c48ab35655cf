// The device entry every Gatehouse app on Moddable shares: it reads the broker and the identity from the
// build's config (mc/config), keeps the identity in Preference, builds the Device on the Moddable ports,
// and hands the app its board, its ports and the Device. An example's main.ts is then a few lines:
//
//   import board from "gatehouse/boards/board";
//   import { startDevice } from "gatehouse/ports/moddable";
//   import { installThermostat } from "./app";
//   startDevice({ name: "thermostat", firmware: "thermostat 0.2.0", provider: board,
//     install: (c) => installThermostat({ ...c }) });
//
// Config (mcconfig key=value, the same keys for every app; Wi-Fi's ssid and password are Moddable's own):
//   broker=HOST brokerport=PORT    the MQTT broker (port default 1883, 8883 with brokerca)
//   devicekey=HEX trust=HEX        hex of device.key and trust.cbor from `gatehouse provision`
//   brokeruser=NAME brokerpassword=PW  the device's broker identity (docs/broker.md): its id and broker-password
//   brokerca=HEX                   mqtts: hex of broker-ca.der, the CA the broker's certificate must chain to;
//                                  the app's manifest must include Moddable's mqttsclient (device.network.mqtts)
//   brokercert=HEX brokerclientkey=HEX  optional client certificate: hex of broker-cert.der and broker-key.der
//   keepalive=SECONDS              optional MQTT keep-alive (default 30): how soon a dead link is noticed
//   updatetrust=HEX                signed updates: hex of update-trust.cbor (gatehouse provision --update-key);
//                                  the app's manifest must include ports/moddable/manifest_update.json
//   vendorid=UUID classid=UUID     optional update ids (default: derived from "gatehouse vendor" and the app's name)
//   updatedir=PATH updatecapacity=BYTES  lin only: the slot folder and a slot's size (update-lin/port.ts)
//   healthdeadline=SECONDS         optional: how long a trial build has to pass its health check (default 60)
// The identity and the update trust are kept in Preference (domain "gh-identity"), so a later build may
// leave devicekey, trust and updatetrust out; a build that gives them replaces what is stored (re-provisioning). Nothing is written when the
// stored bytes are the same: flash is not worn on every boot.
//
// A configuration that cannot work (no broker, no identity, a key that is not a private ES256 key) stops
// the app before it starts, with one trace line `<name>: error <code>: <message>`. Device code.

import config from "mc/config";
import { bytesEqual, decodeKey, decodeTrust, Device, fail, fromHex, GatehouseError, type ClockPort, type CryptoPort, type SecurityEventSettings, type StoragePort, type TimerPort } from "gatehouse/sdk";
import { moddableCrypto } from "./crypto";
import { moddableClock, moddableTimers } from "./platform";
import { nvs, PreferenceStorage } from "./storage";
import { Ecma419MqttTransport, type MqttTlsOptions, type NetworkMqtt } from "./transport";

// The host provider Moddable installs as a global (modules/io/system), extended with `network.mqtt` by the
// ECMA-419 MQTT client's preloaded config (manifest_mqttclient.json). Declared here with the part used.
declare const device: { readonly network: { readonly mqtt: NetworkMqtt; readonly mqtts?: NetworkMqtt } };

/** XS's console output (a global on Moddable), declared for this module. */
declare function trace(...items: unknown[]): void;

/** Preference domains: the identity, the Device's own state, and the app's. */
export const IDENTITY_DOMAIN = "gh-identity";
export const DEVICE_DOMAIN = "gatehouse";
export const APP_DOMAIN = "gh-app";

/** What an app is given: the same parts the host simulator gives it (host/sim/apps.ts). */
export interface DeviceAppContext<P> {
  readonly id: string;
  readonly device: Device;
  /** The board the build selected (boards/manifest.json). */
  readonly provider: P;
  readonly clock: ClockPort;
  readonly timers: TimerPort;
  readonly crypto: CryptoPort;
  /** The app's own storage (Preference domain "gh-app"), apart from the Device's. */
  readonly storage: StoragePort;
  /** An app-specific config value (mcconfig name=value) as text, or `fallback` when it is absent or empty. */
  option(name: string, fallback?: string): string | undefined;
  /** Trouble the app reports (a failed control step, a dropped sample): one trace line. */
  onError(error: unknown): void;
}

export interface DeviceApp<P> {
  /** Names the app in trace output. */
  readonly name: string;
  /** Reported in the birth. */
  readonly firmware: string;
  readonly provider: P;
  /** Device options the app needs (the smart lock records allowed attempts). */
  readonly deviceOptions?: { readonly events?: SecurityEventSettings };
  /** Registers the app's doors and starts its loops; the Device connects once this returns. */
  install(context: DeviceAppContext<P>): void;
}

function option(name: string, fallback?: string): string | undefined {
  const value = config[name];
  return value === undefined || value === null || value === "" ? fallback : String(value);
}

function required(name: string, hint: string): string {
  return option(name) ?? fail("config-missing", `config ${name} is missing: build with ${name}=${hint}`);
}

/**
 * One part of the identity: from config (checked by `parse`, then stored unless the same bytes are stored
 * already), else from Preference; undefined when neither has it. `parse` runs on stored bytes too: damage
 * is reported, not used.
 */
function storedPart<T>(part: "key" | "trust" | "update-trust", configName: string, parse: (bytes: Uint8Array) => T): T | undefined {
  const given = option(configName);
  const stored = nvs.get(IDENTITY_DOMAIN, part);
  if (given !== undefined) {
    const bytes = fromHex(given);
    if (!bytes || bytes.length === 0) return fail("config-invalid", `config ${configName} is not hex`);
    const value = parse(bytes);
    if (!(stored instanceof ArrayBuffer && bytesEqual(new Uint8Array(stored), bytes))) nvs.set(IDENTITY_DOMAIN, part, bytes.slice().buffer);
    return value;
  }
  if (stored instanceof ArrayBuffer) return parse(new Uint8Array(stored));
  if (stored !== undefined) return fail("storage-corrupt", `preference ${IDENTITY_DOMAIN}/${part} holds a ${typeof stored}, not bytes`);
  return undefined;
}

function identityPart<T>(part: "key" | "trust", configName: string, parse: (bytes: Uint8Array) => T): T {
  return storedPart(part, configName, parse) ?? fail("identity-missing", `no ${configName} is stored on this device: build once with ${configName}=HEX (from gatehouse provision)`);
}

/**
 * ./updates.ts, which only builds that include manifest_update.json have. Named through a variable so
 * that an app without updates type-checks and builds without it; it loads only when it is used.
 */
const UPDATES_MODULE: string = "gatehouse/ports/moddable/updates";
interface UpdatesModule {
  startUpdates(context: { name: string; device: Device; trust: Uint8Array; crypto: CryptoPort; clock: ClockPort; timers: TimerPort; storage: StoragePort; option: typeof option; log(line: string): void }): unknown;
}

/** A DER value given in config as hex. */
function derOption(name: string): ArrayBuffer | undefined {
  const text = option(name);
  if (text === undefined) return undefined;
  const bytes = fromHex(text);
  if (!bytes || bytes.length === 0) return fail("config-invalid", `config ${name} is not hex`);
  return bytes.slice().buffer;
}

/** The TLS options from config (brokerca, brokercert, brokerclientkey); undefined without brokerca: plain MQTT. */
function brokerTls(): MqttTlsOptions | undefined {
  const certificate = derOption("brokerca");
  const cert = derOption("brokercert");
  const key = derOption("brokerclientkey");
  if ((cert === undefined) !== (key === undefined)) fail("config-invalid", "give brokercert and brokerclientkey together");
  if (certificate === undefined) {
    if (cert !== undefined) fail("config-invalid", "a client certificate (brokercert) needs TLS: give brokerca too");
    return undefined;
  }
  return { certificate, ...(cert && key ? { clientCertificates: [cert], clientKey: key } : {}) };
}

function describe(error: unknown): string {
  if (error instanceof GatehouseError) return `error ${error.code}: ${error.message}`;
  return `error internal: ${(error as Error)?.message ?? String(error)}`;
}

/**
 * Builds the Device of `app` from the build's config and the Moddable ports, installs the app and starts
 * the Device. Returns the Device, or undefined when the configuration stopped it (traced).
 */
export function startDevice<P>(app: DeviceApp<P>): Device | undefined {
  const onError = (error: unknown) => trace(`${app.name}: ${describe(error)}\n`);
  let gatehouse: Device;
  let updateTrust: Uint8Array | undefined;
  const storage = new PreferenceStorage(DEVICE_DOMAIN);
  try {
    const broker = required("broker", "HOST");
    const tls = brokerTls();
    const network = tls ? device.network.mqtts : device.network.mqtt;
    if (!network) fail("config-invalid", "brokerca asks for mqtts, but this build has no TLS MQTT client: include $(MODDABLE)/examples/io/tcp/mqttsclient/manifest_mqttsclient.json");
    const port = Number(option("brokerport", tls ? "8883" : "1883"));
    if (!Number.isInteger(port) || port < 1 || port > 65535) fail("config-invalid", `config brokerport ${option("brokerport")} is not a port number`);
    const key = identityPart("key", "devicekey", (bytes) => {
      const parsed = decodeKey(bytes);
      if (!parsed.d) fail("key-invalid", "devicekey is a public key: the device needs its private key (device.key)");
      if (parsed.alg !== "ES256") fail("alg-unsupported", "stock Moddable signs ES256 only: provision the device with --alg ES256");
      return parsed;
    });
    const trust = identityPart("trust", "trust", decodeTrust);
    const keepAlive = Number(option("keepalive", "30"));
    if (!Number.isInteger(keepAlive) || keepAlive < 1 || keepAlive > 65535) fail("config-invalid", `config keepalive ${option("keepalive")} is not 1 to 65535 seconds`);
    const password = option("brokerpassword");
    gatehouse = new Device({
      id: new TextDecoder().decode(key.kid), // a device's kid is the UTF-8 of its id (gatehouse provision)
      key,
      trust,
      ports: {
        crypto: moddableCrypto,
        clock: moddableClock,
        timers: moddableTimers,
        storage,
        transport: new Ecma419MqttTransport({ network, host: broker, port, tls }),
      },
      firmware: { version: app.firmware },
      events: app.deviceOptions?.events,
      session: {
        keepAlive,
        username: option("brokeruser"),
        password: password === undefined ? undefined : new TextEncoder().encode(password),
        onStateChange: (state, detail) => trace(`${app.name}: ${state} (${detail})\n`),
      },
    });
    updateTrust = storedPart("update-trust", "updatetrust", (bytes) => bytes);
    app.install({
      id: gatehouse.id,
      device: gatehouse,
      provider: app.provider,
      clock: moddableClock,
      timers: moddableTimers,
      crypto: moddableCrypto,
      storage: new PreferenceStorage(APP_DOMAIN),
      option,
      onError,
    });
  } catch (e) {
    onError(e);
    return undefined;
  }
  const start = (device: Device) => {
    device.start();
    trace(`${app.name}: ${device.id} starting, ${app.firmware}\n`);
  };
  if (updateTrust === undefined) start(gatehouse);
  else {
    // The agent attaches before the device starts, so the first birth names the running build's update state.
    const trust = updateTrust;
    import(UPDATES_MODULE)
      .then((updates: UpdatesModule) => {
        updates.startUpdates({ name: app.name, device: gatehouse, trust, crypto: moddableCrypto, clock: moddableClock, timers: moddableTimers, storage, option, log: (line) => trace(`${line}\n`) });
        start(gatehouse);
      })
      .catch(onError);
  }
  return gatehouse;
}
