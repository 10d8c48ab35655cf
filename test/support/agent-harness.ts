// The update agent on one Device without a broker: a transport the test plays the broker with (QoS 1
// acknowledged at once), a file-backed update port over slot files in memory, real Node timers and clock
// (tests wait for conditions). A "server" answers the device's block requests from an image the test
// chooses (or forges). reboot() does what a reset does: a new port (its boot step), Device and agent over
// the same storage and slots.

import type { ExecutionContext } from "ava";
import { until } from "./devices";
import { Device, type DeviceOptions } from "../../sdk/device";
import { publicKey, type CoseKey } from "../../sdk/cose/key";
import { utf8 } from "../../sdk/cbor/encode";
import type { CborMap } from "../../sdk/cbor/types";
import { decodePublication, verifyPublication } from "../../sdk/session/publications";
import type { StoragePort } from "../../sdk/ports/storage";
import type { MqttConnectOptions, QoS, TransportHandlers, TransportPort } from "../../sdk/ports/transport";
import { TrustList } from "../../sdk/trust";
import { UpdateAgent, type UpdateAgentOptions } from "../../sdk/update/agent";
import { FileUpdatePort, SLOT_FILES } from "../../sdk/update/file-port";
import { decodeBlockRequest, encodeBlock, encodeOffer, encodeTrustMessage } from "../../sdk/update/messages";
import type { UpdateTrustDocument } from "../../sdk/update/trust";
import { nodeClock, nodeTimers } from "../../ports/node/platform";
import { nodeCrypto } from "../../ports/node/crypto";
import { MemorySlotFiles } from "../../host/sim/memory-slots";
import { readSimBuild, simBuild, SIM_BUILD_HEADER_BYTES } from "../../host/sim/build";
import { exampleIds } from "./updates";

export const DEVICE_ID = "agent-1";
const PREFIX = `gh/${DEVICE_ID}/`;

export class MemoryStorage implements StoragePort {
  readonly data = new Map<string, Uint8Array>();
  read(key: string) {
    return this.data.get(key)?.slice();
  }
  write(key: string, value: Uint8Array) {
    this.data.set(key, value.slice());
  }
  remove(key: string) {
    this.data.delete(key);
  }
}

export interface Published {
  readonly kind: string;
  readonly body: CborMap;
}

/** The broker side of one connection: what the device sent, and a way to deliver messages to it. */
class PlayedTransport implements TransportPort {
  handlers: TransportHandlers | undefined;
  connected = false;
  constructor(private readonly harness: AgentHarness) {}
  open(_options: MqttConnectOptions, handlers: TransportHandlers): void {
    this.handlers = handlers;
    if (this.harness.linkUp) {
      setImmediate(() => {
        this.connected = true;
        handlers.onConnected(true);
      });
    } else setImmediate(() => handlers.onClosed("no broker"));
  }
  publish(topic: string, payload: Uint8Array, qos: QoS, _retain: boolean, packetId: number): void {
    if (!this.connected) return;
    this.harness.sent(topic.slice(PREFIX.length), payload.slice());
    if (qos === 1) setImmediate(() => this.connected && this.handlers?.onAcknowledged(packetId));
  }
  subscribe(): void {}
  close(): void {
    if (!this.connected) return;
    this.connected = false;
    const h = this.handlers;
    setImmediate(() => h?.onClosed("closed"));
  }
  deliver(level: string, payload: Uint8Array): void {
    if (this.connected) this.handlers?.onMessage(PREFIX + level, payload, 1, false);
  }
  drop(): void {
    if (!this.connected) return;
    this.connected = false;
    this.handlers?.onClosed("link dropped");
  }
}

export interface BlockServer {
  /** Answers a request (offset, length) with these bytes, or undefined for no answer. */
  answer(rollout: string, offset: number, length: number): Uint8Array | undefined;
}

export interface HarnessOptions {
  readonly trust?: UpdateTrustDocument;
  readonly app?: string;
  readonly agent?: Partial<Omit<UpdateAgentOptions, "device" | "port" | "storage" | "crypto" | "clock" | "timers">>;
  readonly capacity?: number;
  /** Patches of door logic on the Device (sdk/patch); none by default. */
  readonly patches?: DeviceOptions["patches"];
  /** The app: registers its doors on each boot's Device, before it starts. */
  readonly setup?: (device: Device) => void;
}

export class AgentHarness {
  readonly storage = new MemoryStorage();
  readonly slots = new MemorySlotFiles();
  readonly key: CoseKey = nodeCrypto.generateKey("ES256", utf8(DEVICE_ID));
  /** Every publication the device made (verified and decoded), over all its boots. */
  readonly publications: Published[] = [];
  /** Block requests the device sent: [rollout, offset, length]. */
  readonly requests: [string, number, number][] = [];
  linkUp = true;
  /** The image the "server" serves; a test may replace the answering function. */
  server: BlockServer | undefined;
  boots = 0;
  device!: Device;
  agent!: UpdateAgent;
  port!: FileUpdatePort;
  transport!: PlayedTransport;
  private readonly options: HarnessOptions;
  /** Whether the agent asked the port to restart (the test decides when the "reset" happens, or autoRestart). */
  restartRequested = 0;
  autoRestart = true;
  lines: string[] = [];

  constructor(options: HarnessOptions = {}) {
    this.options = options;
    this.slots.write(SLOT_FILES[0], 0, simBuild("factory 1.0"));
    this.boot();
  }

  /** A new boot: the port's boot step, a Device and its agent, started. */
  boot(): void {
    this.boots++;
    this.port = new FileUpdatePort({
      files: this.slots,
      capacity: this.options.capacity ?? 1 << 20,
      restart: () => {
        this.restartRequested++;
        if (this.autoRestart) setImmediate(() => this.reboot());
      },
    });
    this.transport = new PlayedTransport(this);
    this.device = new Device({
      id: DEVICE_ID,
      key: this.key,
      trust: new TrustList(),
      ports: { crypto: nodeCrypto, clock: nodeClock, timers: nodeTimers, storage: this.storage, transport: this.transport },
      firmware: { version: this.firmware() },
      session: { backoffInitialMs: 20 },
      patches: this.options.patches,
    });
    this.options.setup?.(this.device);
    const ids = exampleIds(this.options.app ?? "thermostat");
    this.agent = new UpdateAgent({
      ...ids,
      trust: this.options.trust,
      healthDeadlineMs: 3000,
      healthRetryMs: 50,
      restartGraceMs: 1000,
      transfer: { retryMs: 100, maxRetryMs: 400 },
      ...this.options.agent,
      device: this.device,
      port: this.port,
      storage: this.storage,
      crypto: nodeCrypto,
      clock: nodeClock,
      timers: nodeTimers,
      log: (line) => this.lines.push(`[boot ${this.boots}] ${line}`),
    });
    this.device.start();
  }

  /** A reset: everything stops without a goodbye, and boots again from the same storage and slots. */
  reboot(): void {
    this.agent.stop();
    this.device.stop(false);
    this.transport.drop();
    this.boot();
  }

  /** Stops for good (test teardown). */
  stop(): void {
    this.autoRestart = false;
    this.agent.stop();
    this.device.stop(false);
    this.transport.drop();
  }

  /** The running build's firmware text (its slot's header). */
  firmware(): string {
    const info = this.port.boot();
    return readSimBuild(this.slots.read(SLOT_FILES[info.slot], 0, SIM_BUILD_HEADER_BYTES) ?? new Uint8Array(0))?.firmware ?? "?";
  }

  sent(level: string, payload: Uint8Array): void {
    if (level === "update/get") {
      const r = decodeBlockRequest(payload);
      this.requests.push([r.rollout, r.offset, r.length]);
      const data = this.server?.answer(r.rollout, r.offset, r.length);
      if (data !== undefined) {
        const transport = this.transport;
        setImmediate(() => transport.deliver("update/block", encodeBlock({ rollout: r.rollout, offset: r.offset, data })));
      }
      return;
    }
    const kind = level === "update/status" ? "update" : level === "events" ? "event" : level;
    if (["update", "event", "birth", "death"].indexOf(kind) < 0) return;
    const body = verifyPublication(nodeCrypto, payload, publicKey(this.key), kind as "update", DEVICE_ID);
    decodePublication(kind as "update", body);
    this.publications.push({ kind, body });
  }

  /** Serves `image` honestly for `rollout` (and any other rollout name, as a careless server would). */
  serve(image: Uint8Array): void {
    this.server = { answer: (_rollout, offset, length) => image.slice(offset, offset + length) };
  }

  offer(rollout: string, envelope: Uint8Array, blockSize?: number): void {
    this.transport.deliver("update/offer", encodeOffer({ rollout, envelope, blockSize }));
  }

  deliver(level: string, payload: Uint8Array): void {
    this.transport.deliver(level, payload);
  }

  sendTrust(rollout: string, trust: Uint8Array): void {
    this.transport.deliver("update/trust", encodeTrustMessage({ rollout, trust }));
  }

  /** The update statuses, as [state, code?] pairs (code only when present). */
  statuses(): string[] {
    return this.publications.filter((p) => p.kind === "update").map((p) => (p.body.get("code") ? `${p.body.get("state")}:${p.body.get("code")}` : String(p.body.get("state"))));
  }

  /** The codes of the security events. */
  events(): string[] {
    return this.publications.filter((p) => p.kind === "event").map((p) => String(p.body.get("code")));
  }

  births(): CborMap[] {
    return this.publications.filter((p) => p.kind === "birth").map((p) => p.body);
  }
}

/** A harness for one test, stopped when the test ends. */
export function harnessFor(t: ExecutionContext, options: ConstructorParameters<typeof AgentHarness>[0]): AgentHarness {
  const h = new AgentHarness(options);
  t.teardown(() => h.stop());
  return h;
}

/** Waits until the harness's device is online. */
export async function untilOnline(h: AgentHarness): Promise<void> {
  await until("online", () => h.device.state === "online");
}
