// The device simulator: N Gatehouse devices in one Node process, each running the SAME device code as
// the ESP32 (sdk/device.ts and the example app) over the Node ports: its own identity and key, its own
// state, a simulated board, NodeMqttTransport to the broker, nodeClock, nodeTimers, nodeCrypto.
//
//   const sim = await Simulator.start({ brokerUrl, devices: 3, example: "thermostat", identitiesDir });
//   await sim.waitOnline();
//   ...
//   await sim.stop();
//
// Identities: with `identitiesDir`, the provisioned identities found there are used (sorted by id);
// devices beyond those get ephemeral ones, trusting `trust` (default: the trust list of the first
// provisioned identity). With `stateDir`, each device keeps its state (publication sequence ceiling,
// replay windows) in a FileStorage under stateDir/<id>/, so numbers keep increasing across restarts;
// without it, state lives in memory and dies with the process.
//
// Memory: the per-device cost is the Device (session, runtime, doors, a bounded offline queue), the
// board model and one TCP socket; keys and trust lists are shared where they can be. Connects are
// staggered (`staggerMs` apart, default 5 ms above 20 devices) so a thousand devices do not hit the
// broker in the same millisecond.

import { join } from "node:path";
import { Device } from "../../sdk/device";
import { publicKey, type CoseKey } from "../../sdk/cose/key";
import { fail } from "../../sdk/errors";
import type { StoragePort } from "../../sdk/ports/storage";
import type { SessionState } from "../../sdk/session/session";
import { TrustList } from "../../sdk/trust";
import { nodeCrypto } from "../../ports/node/crypto";
import { nodeClock, nodeTimers } from "../../ports/node/platform";
import { FileStorage, MemoryStorage } from "../../ports/node/storage";
import { NodeMqttTransport } from "../../ports/node/transport";
import { installThermostat, type Thermostat, type ThermostatOptions } from "../../examples/thermostat/app";
import { SimulatedThermostatBoard, type SimulatedThermostatOptions } from "../../boards/simulated/thermostat";
import { checkDeviceId, generateDeviceKey, listIdentities, readIdentity } from "../identity";

export const EXAMPLES = ["thermostat"] as const;
export type ExampleName = (typeof EXAMPLES)[number];

export interface SimulatorOptions {
  brokerUrl: string;
  /** How many devices (1 to 10,000). */
  devices: number;
  example: ExampleName;
  /** Use the provisioned identities found here (DIR/<id>/device.key, trust.cbor). */
  identitiesDir?: string;
  /** The operators generated identities trust. */
  trust?: TrustList;
  /** Keep each device's state in stateDir/<id>/ (survives restarts). */
  stateDir?: string;
  /** Reported in the birth (default "thermostat-sim 0.1.0"). */
  firmware?: string;
  /** Progress and trouble, one line each. */
  log?: (line: string) => void;
  /** Ids of generated identities: <prefix>-<n> (default "sim"). */
  idPrefix?: string;
  /** Milliseconds between device connects (default 0 up to 20 devices, 5 above). */
  staggerMs?: number;
  /** Passed to the example app (e.g. a faster control loop in tests). */
  thermostat?: ThermostatOptions;
  /** Passed to each simulated board (e.g. timeScale in tests). */
  board?: Omit<SimulatedThermostatOptions, "clock">;
  /** Seconds (default 30). */
  keepAlive?: number;
  /** First reconnect delay bound in ms (default 500). */
  backoffInitialMs?: number;
  /** Told of every session state change of every device. */
  onStateChange?(device: SimulatedDevice, state: SessionState, detail: string): void;
}

export interface SimulatedDevice {
  readonly id: string;
  readonly device: Device;
  readonly publicKey: CoseKey;
  readonly board: SimulatedThermostatBoard;
  readonly thermostat: Thermostat;
  /** Whether the identity came from identitiesDir (false: generated for this run). */
  readonly provisioned: boolean;
}

const MAX_DEVICES = 10_000;

/** A small stable hash of a device id: each device gets its own noise and starting temperature. */
function seedOf(id: string): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  return h >>> 0;
}

export class Simulator {
  readonly devices: SimulatedDevice[] = [];
  private readonly options: SimulatorOptions;
  private readonly online = new Set<string>();
  private readonly waiters = new Set<() => void>();
  private readonly startTimers = new Set<ReturnType<typeof setTimeout>>();
  private stopped = false;

  private constructor(options: SimulatorOptions) {
    this.options = options;
  }

  static async start(options: SimulatorOptions): Promise<Simulator> {
    if (!Number.isInteger(options.devices) || options.devices < 1 || options.devices > MAX_DEVICES) {
      fail("usage", `devices must be an integer from 1 to ${MAX_DEVICES}, not ${options.devices}`);
    }
    if (!(EXAMPLES as readonly string[]).includes(options.example)) fail("usage", `unknown example ${JSON.stringify(options.example)} (known: ${EXAMPLES.join(", ")})`);
    // The URL is checked once, before any device exists (the transport throws transport-url).
    new NodeMqttTransport(options.brokerUrl);
    const sim = new Simulator(options);
    sim.build();
    sim.connectAll();
    return sim;
  }

  /** How many devices are online now. */
  get onlineCount(): number {
    return this.online.size;
  }

  isOnline(id: string): boolean {
    return this.online.has(id);
  }

  /** Resolves when `count` devices (default all) are online at once; rejects after `timeoutMs`. */
  waitOnline(count = this.devices.length, timeoutMs = 30_000): Promise<void> {
    if (this.online.size >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.online.size < count) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`only ${this.online.size} of ${count} devices came online within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  /**
   * Stops every device. `graceful` (default): each publishes its death and disconnects cleanly, so the
   * broker drops its will; otherwise connections are dropped and the broker publishes the wills.
   */
  async stop(graceful = true): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.startTimers) clearTimeout(timer);
    this.startTimers.clear();
    for (const d of this.devices) {
      d.thermostat.stop();
      d.device.stop(graceful);
    }
    this.online.clear();
    // Let the sockets write their last packets (death, DISCONNECT) before the caller moves on.
    await new Promise<void>((resolve) => setTimeout(resolve, 20));
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  private build(): void {
    const o = this.options;
    const provisioned = o.identitiesDir ? listIdentities(o.identitiesDir).slice(0, o.devices) : [];
    const identities = provisioned.map((id) => readIdentity(join(o.identitiesDir as string, id)));
    const taken = new Set(identities.map((i) => i.id));
    const trust = o.trust ?? identities[0]?.trust ?? new TrustList();
    if (identities.length < o.devices && trust.entries().length === 0) {
      this.log("warning: the generated identities trust no operator, so those devices will refuse every command (give them operators to trust, or provisioned identities)");
    }
    const prefix = o.idPrefix ?? "sim";
    const width = String(o.devices).length;
    for (const identity of identities) this.add(identity.id, identity.key, identity.trust, true);
    for (let n = 1; this.devices.length < o.devices; n++) {
      const id = checkDeviceId(`${prefix}-${String(n).padStart(width, "0")}`);
      if (!taken.has(id)) this.add(id, generateDeviceKey(id), trust, false);
    }
  }

  private add(id: string, key: CoseKey, trust: TrustList, provisioned: boolean): void {
    const o = this.options;
    const storage: StoragePort = o.stateDir ? new FileStorage(join(o.stateDir, id)) : new MemoryStorage();
    const seed = seedOf(id);
    const board = new SimulatedThermostatBoard({
      seed,
      initial: (o.board?.ambient ?? 16) + (seed % 400) / 100, // 0 to 4 °C above ambient
      ...o.board,
      clock: nodeClock,
    });
    let entry: SimulatedDevice | undefined;
    const device = new Device({
      id,
      key,
      trust,
      crypto: nodeCrypto,
      clock: nodeClock,
      timers: nodeTimers,
      storage,
      transport: new NodeMqttTransport(o.brokerUrl),
      firmware: o.firmware ?? "thermostat-sim 0.1.0",
      keepAlive: o.keepAlive,
      backoffInitialMs: o.backoffInitialMs,
      onStateChange: (state, detail) => {
        if (entry) this.stateChanged(entry, state, detail);
      },
    });
    const thermostat = installThermostat(device, board, nodeTimers, {
      ...o.thermostat,
      onError: (e) => this.log(`${id}: control step failed: ${(e as Error)?.message ?? e}`),
    });
    entry = { id, device, publicKey: publicKey(key), board, thermostat, provisioned };
    this.devices.push(entry);
  }

  private connectAll(): void {
    const stagger = this.options.staggerMs ?? (this.devices.length > 20 ? 5 : 0);
    this.devices.forEach((d, i) => {
      if (stagger === 0 || i === 0) {
        d.device.start();
        return;
      }
      const timer = setTimeout(() => {
        this.startTimers.delete(timer);
        if (!this.stopped) d.device.start();
      }, i * stagger);
      this.startTimers.add(timer);
    });
  }

  private stateChanged(d: SimulatedDevice, state: SessionState, detail: string): void {
    if (state === "online") this.online.add(d.id);
    else this.online.delete(d.id);
    this.options.onStateChange?.(d, state, detail);
    if (state === "online") for (const check of [...this.waiters]) check();
  }
}
