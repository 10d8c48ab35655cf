// The device simulator: N Gatehouse devices in one Node process, each running the SAME device code as
// the ESP32 (sdk/device.ts and an example app) over the Node ports: its own identity and key, its own
// state, its own simulated board (boards/simulated: the provider the app opens its pins on, and the
// physical world behind them), NodeMqttTransport to the broker, nodeClock, nodeTimers, nodeCrypto.
//
//   const sim = await Simulator.start({ brokerUrl, devices: 3, example: "thermostat", identitiesDir });
//   await sim.waitOnline();
//   ...
//   await sim.stop();
//
// `example` is an example's name (host/sim/examples.ts) or a SimulatorApp (host/sim/apps.ts), an app
// factory: `example: sensorNodeApp({ batchSize: 4 })`. Names resolve through that registry; the
// simulator's own code knows no example.
//
// Identities: with `identitiesDir`, the provisioned identities found there are used (sorted by id);
// devices beyond those get ephemeral ones, trusting `trust` (default: the trust list of the first
// provisioned identity). With `stateDir`, each device keeps its state (publication sequence ceiling,
// replay windows) in a FileStorage under stateDir/<id>/, and its app's state (the smart lock's code
// hashes, say) under stateDir/<id>/app/, so both survive restarts; without it, state lives in memory and
// dies with the process.
//
// Updates: every device runs the update agent (sdk/update/agent.ts) over a file-backed update port: two
// slots and a boot record under stateDir/<id>/update/ (in memory without stateDir). A slot's bytes are a
// "build" (host/sim/build.ts): a header naming the firmware, which the birth reports, and a payload;
// slot 0 starts with the factory build of the app's firmware. The update trust comes from the identity
// (update-trust.cbor from `gatehouse provision --update-key`), or `updateTrust` for generated ones.
// When the agent restarts the device (into a trial build, or back after a rollback), the simulator does
// what a reset does: the app and the Device stop (the broker publishes the will), and a new Device boots
// from what the boot record says, with the same storage. A build flagged to crash restarts at once, before
// it can confirm; the next boot rolls it back.
//
// Memory: the per-device cost is the Device (session, runtime, doors, a bounded offline queue), the
// simulated board and one TCP socket; keys and trust lists are shared where they can be. Connects are
// staggered (`staggerMs` apart, default 5 ms above 20 devices) so a thousand devices do not hit the
// broker in the same millisecond.

import { join } from "node:path";
import { Device } from "../../sdk/device";
import type { BootInfo } from "../../sdk/ports/update";
import { UpdateAgent } from "../../sdk/update/agent";
import { FileUpdatePort, SLOT_FILES, type SlotFiles } from "../../sdk/update/file-port";
import { classNameOf, DEFAULT_VENDOR_NAME, nameUuid } from "../../sdk/update/ids";
import type { TransferSettings } from "../../sdk/update/transfer";
import type { UpdateTrustDocument } from "../../sdk/update/trust";
import { NodeSlotFiles } from "../../ports/node/update";
import { BUILD_FLAGS, readSimBuild, simBuild, SIM_BUILD_HEADER_BYTES, type SimBuild } from "./build";
import { MemorySlotFiles } from "./memory-slots";
import { publicKey, type CoseKey } from "../../sdk/cose/key";
import { fail } from "../../sdk/errors";
import type { StoragePort } from "../../sdk/ports/storage";
import type { SessionState } from "../../sdk/session/session";
import { TrustList } from "../../sdk/trust";
import { nodeCrypto } from "../../ports/node/crypto";
import { nodeClock, nodeTimers } from "../../ports/node/platform";
import { FileStorage, MemoryStorage } from "../../ports/node/storage";
import { NodeMqttTransport } from "../../ports/node/transport";
import { brokerCredentialsIfAny, tlsOptions, type BrokerCredentials } from "../broker/identities";
import { createSimulatedProvider, type SimulatedProvider, type SimulatedProviderOptions } from "../../boards/simulated/provider";
import { checkDeviceId, generateDeviceKey, listIdentities, readIdentity } from "../identity-files";
import { EXAMPLE_APPS, type InstalledApp, type SimulatorApp } from "./apps";
import { EXAMPLE_NAMES, isExampleName, type ExampleApps, type ExampleName } from "./examples";

/** The app type an `example` option installs. */
export type AppOf<E> = E extends ExampleName ? ExampleApps[E] : E extends SimulatorApp<infer A> ? A : InstalledApp;

export interface SimulatorOptions<E extends ExampleName | SimulatorApp<any> = ExampleName | SimulatorApp> {
  brokerUrl: string;
  /** How many devices (1 to 10,000). */
  devices: number;
  /** The app every device runs: an example's name, or an app factory (host/sim/apps.ts). */
  example: E;
  /**
   * Use the provisioned identities found here (DIR/<id>/device.key, trust.cbor); a device whose folder
   * holds a broker identity logs in with it (docs/broker.md).
   */
  identitiesDir?: string;
  /** The operators generated identities trust. */
  trust?: TrustList;
  /** Keep each device's state in stateDir/<id>/ (survives restarts). */
  stateDir?: string;
  /** Reported in the birth (default: the app's, e.g. "thermostat-sim 0.1.0"). */
  firmware?: string;
  /** Progress and trouble, one line each. */
  log?: (line: string) => void;
  /** Ids of generated identities: <prefix>-<n> (default "sim"). */
  idPrefix?: string;
  /** Milliseconds between device connects (default 0 up to 20 devices, 5 above). */
  staggerMs?: number;
  /** Passed to each simulated board's world (e.g. timeScale in tests); the seed is each device's own. */
  world?: Omit<SimulatedProviderOptions, "clock" | "seed">;
  /** Seconds (default 30). */
  keepAlive?: number;
  /** First reconnect delay bound in ms (default 500). */
  backoffInitialMs?: number;
  /** Told of every session state change of every device. */
  onStateChange?(device: SimulatedDevice<AppOf<E>>, state: SessionState, detail: string): void;
  /** The update trust of generated identities (default: the first provisioned identity's, if it has one). */
  updateTrust?: UpdateTrustDocument;
  /** The update agents' settings. */
  updates?: SimulatorUpdateOptions;
}

export interface SimulatorUpdateOptions {
  /** The devices' vendor and class ids (default: derived from "gatehouse vendor" and the app's name, sdk/update/ids.ts). */
  vendorId?: Uint8Array;
  classId?: Uint8Array;
  /** The size of each slot (default 32 MiB). */
  capacity?: number;
  maxBlockSize?: number;
  transfer?: TransferSettings;
  /** How long a trial build has to pass its health check (default 60 s). */
  healthDeadlineMs?: number;
  healthRetryMs?: number;
  /** A restart takes this long (default 50 ms); a crashing build crashes this long after it boots (default 200 ms). */
  restartDelayMs?: number;
  crashAfterMs?: number;
  /** Told of each agent's steps, one line each. */
  log?: (id: string, line: string) => void;
}

export interface SimulatedDevice<A = InstalledApp> {
  readonly id: string;
  readonly device: Device;
  readonly publicKey: CoseKey;
  /** The board the app runs on; `provider.simulation` is the world behind its pins. */
  readonly provider: SimulatedProvider;
  /** What the app's install returned. */
  readonly app: A;
  /** Whether the identity came from identitiesDir (false: generated for this run). */
  readonly provisioned: boolean;
  /** The update agent. */
  readonly agent: UpdateAgent;
  /** What this boot is (normal, trial, rolled-back) and which slot runs. */
  readonly boot: BootInfo;
  /** The running build's header (its firmware), and SHA-256 of the running slot's bytes. */
  readonly build: SimBuild & { readonly digest: Uint8Array; readonly size: number };
  /** Boots of this device since the simulator started (1: never restarted). */
  readonly boots: number;
}

/** What survives a simulated device's restarts: identity, storage, slots. */
interface DeviceParts {
  readonly index: number;
  readonly id: string;
  readonly key: CoseKey;
  readonly trust: TrustList;
  readonly updateTrust?: UpdateTrustDocument;
  readonly provisioned: boolean;
  /** Its broker login (username, password or client certificate, CA), when provisioned with one. */
  readonly broker?: BrokerCredentials;
  readonly storage: StoragePort;
  readonly appStorage: StoragePort;
  readonly slots: SlotFiles;
  boots: number;
}

const MAX_DEVICES = 10_000;

/** A small stable hash of a device id: each device gets its own noise and starting temperature. */
function seedOf(id: string): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  return h >>> 0;
}

export class Simulator<A extends InstalledApp = InstalledApp> {
  readonly devices: SimulatedDevice<A>[] = [];
  private readonly parts: DeviceParts[] = [];
  private readonly restartTimers = new Set<ReturnType<typeof setTimeout>>();
  /** Devices between the stop and the boot of a restart, by index. */
  private readonly resetting = new Set<number>();
  private readonly options: SimulatorOptions;
  private readonly app: SimulatorApp<A>;
  private readonly online = new Set<string>();
  private readonly waiters = new Set<() => void>();
  private readonly startTimers = new Set<ReturnType<typeof setTimeout>>();
  private stopped = false;

  private constructor(options: SimulatorOptions, app: SimulatorApp<A>) {
    this.options = options;
    this.app = app;
  }

  static async start<const E extends ExampleName | SimulatorApp<any>>(options: SimulatorOptions<E>): Promise<Simulator<AppOf<E> & InstalledApp>> {
    if (!Number.isInteger(options.devices) || options.devices < 1 || options.devices > MAX_DEVICES) {
      fail("usage", `devices must be an integer from 1 to ${MAX_DEVICES}, not ${options.devices}`);
    }
    let app: SimulatorApp<any>;
    if (typeof options.example === "string") {
      if (!isExampleName(options.example)) fail("usage", `unknown example ${JSON.stringify(options.example)} (known: ${EXAMPLE_NAMES.join(", ")})`);
      app = EXAMPLE_APPS[options.example]();
    } else {
      app = options.example;
    }
    // The URL is checked once, before any device exists (the transport throws transport-url).
    new NodeMqttTransport({ url: options.brokerUrl });
    const sim = new Simulator<AppOf<E> & InstalledApp>(options as SimulatorOptions, app);
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
    for (const timer of [...this.startTimers, ...this.restartTimers]) clearTimeout(timer);
    this.startTimers.clear();
    this.restartTimers.clear();
    for (const d of this.devices) {
      d.app.stop();
      d.agent.stop();
      d.device.stop(graceful);
    }
    this.online.clear();
    // Let the sockets write their last packets (death, DISCONNECT) before the caller moves on.
    await new Promise<void>((resolve) => setTimeout(resolve, 20));
  }

  /** The device `id` as it runs now (a restart replaces the entry). */
  device(id: string): SimulatedDevice<A> {
    const entry = this.devices.find((d) => d.id === id);
    if (entry === undefined) return fail("usage", `no simulated device ${id}`);
    return entry;
  }

  /**
   * Restarts a device as a reset would (a power cycle): its app and Device stop without a goodbye (the
   * broker publishes the will), and it boots again from what its boot record says, with its storage.
   */
  restart(id: string): void {
    const entry = this.device(id);
    this.reset(this.parts[this.devices.indexOf(entry)]);
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  private reset(parts: DeviceParts): void {
    const entry = this.devices[parts.index];
    if (this.stopped || entry === undefined || this.resetting.has(parts.index)) return;
    this.resetting.add(parts.index);
    entry.app.stop();
    entry.agent.stop();
    entry.device.stop(false);
    this.online.delete(parts.id);
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      this.resetting.delete(parts.index);
      if (this.stopped) return;
      this.startDevice(this.boot(parts));
    }, this.options.updates?.restartDelayMs ?? 50);
    this.restartTimers.add(timer);
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
    const updateTrust = o.updateTrust ?? identities[0]?.updateTrust;
    for (const identity of identities) this.add(identity.id, identity.key, identity.trust, identity.updateTrust, true, brokerCredentialsIfAny(join(o.identitiesDir as string, identity.id)));
    for (let n = 1; this.devices.length < o.devices; n++) {
      const id = checkDeviceId(`${prefix}-${String(n).padStart(width, "0")}`);
      if (!taken.has(id)) this.add(id, generateDeviceKey(id), trust, updateTrust, false);
    }
  }

  private add(id: string, key: CoseKey, trust: TrustList, updateTrust: UpdateTrustDocument | undefined, provisioned: boolean, broker?: BrokerCredentials): void {
    const o = this.options;
    const parts: DeviceParts = {
      index: this.parts.length,
      id,
      key,
      trust,
      updateTrust,
      provisioned,
      broker,
      storage: o.stateDir ? new FileStorage(join(o.stateDir, id)) : new MemoryStorage(),
      appStorage: o.stateDir ? new FileStorage(join(o.stateDir, id, "app")) : new MemoryStorage(),
      slots: o.stateDir ? new NodeSlotFiles(join(o.stateDir, id, "update")) : new MemorySlotFiles(),
      boots: 0,
    };
    this.parts.push(parts);
    // The factory build, before the first boot ever.
    if (parts.slots.read(SLOT_FILES[0], 0, 1) === undefined) parts.slots.write(SLOT_FILES[0], 0, simBuild(o.firmware ?? this.app.firmware));
    this.boot(parts);
  }

  /** Boots a device: the update port's boot step, then the Device, its update agent and its app. */
  private boot(parts: DeviceParts): SimulatedDevice<A> {
    const o = this.options;
    const u = o.updates ?? {};
    const { id, key, trust, storage, appStorage, provisioned, broker } = parts;
    parts.boots++;
    const port = new FileUpdatePort({ files: parts.slots, capacity: u.capacity ?? 32 * 1024 * 1024, restart: () => this.reset(parts) });
    const boot = port.boot();
    const build = this.runningBuild(port);
    const seed = seedOf(id);
    const provider = createSimulatedProvider({
      ...o.world,
      room: { initial: (o.world?.room?.ambient ?? 16) + (seed % 400) / 100, ...o.world?.room }, // 0 to 4 °C above ambient
      seed,
      clock: nodeClock,
    });
    let entry: SimulatedDevice<A> | undefined;
    const device = new Device({
      id,
      key,
      trust,
      ports: { crypto: nodeCrypto, clock: nodeClock, timers: nodeTimers, storage, transport: new NodeMqttTransport({ url: o.brokerUrl, tls: broker && tlsOptions(broker) }) },
      firmware: { version: build.firmware },
      events: this.app.deviceOptions?.events,
      session: {
        keepAlive: o.keepAlive,
        backoffInitialMs: o.backoffInitialMs,
        ...(broker ? { username: broker.username, ...(broker.password !== undefined ? { password: new TextEncoder().encode(broker.password) } : {}) } : {}),
        onStateChange: (state, detail) => {
          if (entry && this.devices[parts.index] === entry) this.stateChanged(entry, state, detail);
        },
      },
    });
    const agent = new UpdateAgent({
      device,
      port,
      storage,
      crypto: nodeCrypto,
      clock: nodeClock,
      timers: nodeTimers,
      vendorId: u.vendorId ?? nameUuid(nodeCrypto, DEFAULT_VENDOR_NAME),
      classId: u.classId ?? nameUuid(nodeCrypto, classNameOf(this.app.name)),
      trust: parts.updateTrust,
      maxBlockSize: u.maxBlockSize,
      transfer: u.transfer,
      healthDeadlineMs: u.healthDeadlineMs,
      healthRetryMs: u.healthRetryMs,
      healthCheck: () => (build.flags & BUILD_FLAGS.unhealthy ? `${build.firmware} is a build that fails its health check` : undefined),
      log: u.log ? (line) => u.log?.(id, line) : undefined,
    });
    const app = this.app.install({
      id,
      device,
      provider,
      clock: nodeClock,
      timers: nodeTimers,
      crypto: nodeCrypto,
      storage: appStorage,
      onError: (e) => this.log(`${id}: ${this.app.name}: ${(e as Error)?.message ?? e}`),
    });
    entry = { id, device, publicKey: publicKey(key), provider, app, provisioned, agent, boot, build, boots: parts.boots };
    this.devices[parts.index] = entry;
    if (build.flags & BUILD_FLAGS.crash) {
      // It crashes before it can confirm itself: the next boot finds the trial unconfirmed and rolls back.
      const timer = setTimeout(() => {
        this.restartTimers.delete(timer);
        this.log(`${id}: ${build.firmware} crashed`);
        this.reset(parts);
      }, u.crashAfterMs ?? 200);
      this.restartTimers.add(timer);
    }
    return entry;
  }

  /** The running slot's build: its header, size and SHA-256 (streamed). */
  private runningBuild(port: FileUpdatePort): SimBuild & { digest: Uint8Array; size: number } {
    const header = readSimBuild(port.read("running", 0, SIM_BUILD_HEADER_BYTES));
    if (header === undefined) return fail("update-slot", "the running slot holds no build");
    const hash = nodeCrypto.createSha256();
    let size = 0;
    for (;;) {
      const piece = port.read("running", size, 1 << 20);
      if (piece.length === 0) break;
      hash.update(piece);
      size += piece.length;
    }
    return { ...header, digest: hash.digest(), size };
  }

  private connectAll(): void {
    const stagger = this.options.staggerMs ?? (this.devices.length > 20 ? 5 : 0);
    this.devices.forEach((d, i) => {
      if (stagger === 0 || i === 0) {
        this.startDevice(d);
        return;
      }
      const timer = setTimeout(() => {
        this.startTimers.delete(timer);
        if (!this.stopped && this.devices[i] === d) this.startDevice(d);
      }, i * stagger);
      this.startTimers.add(timer);
    });
  }

  /** Connects a booted device, unless its build crashes at boot (it never gets that far). */
  private startDevice(d: SimulatedDevice<A>): void {
    if (!(d.build.flags & BUILD_FLAGS.crash)) d.device.start();
  }

  private stateChanged(d: SimulatedDevice<A>, state: SessionState, detail: string): void {
    if (state === "online") this.online.add(d.id);
    else this.online.delete(d.id);
    this.options.onStateChange?.(d, state, detail);
    if (state === "online") for (const check of [...this.waiters]) check();
  }
}
