// Pieces the broker tests share: a real sdk Device over the Node ports, a counting door, and waiting.

import type { CoseKey } from "../../sdk/cose/key";
import { publicKey } from "../../sdk/cose/key";
import type { Device, DeviceOptions } from "../../sdk/device";
import type { CommandSettings } from "../../sdk/command/receiver";
import type { SecurityEventSettings } from "../../sdk/events";
import type { StoragePort } from "../../sdk/ports/storage";
import type { SessionSettings } from "../../sdk/session/session";
import { defineDoor, t as types } from "../../sdk/index";
import { TrustList } from "../../sdk/trust";
import { nodeCrypto } from "../../ports/node/crypto";
import { nodeClock, nodeTimers } from "../../ports/node/platform";
import { MemoryStorage } from "../../ports/node/storage";
import { NodeMqttTransport } from "../../ports/node/transport";

export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/** Polls `probe` until it gives a value (not undefined or false); fails after `ms` naming `what`. */
export async function until<T>(what: string, probe: () => T | undefined | false, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** A door that counts: `invoke.hit` with an index returns it; `tick` events carry a counter as telemetry. */
export const counterDoor = defineDoor({
  name: "counter",
  actions: { hit: { input: types.int({ min: 0, max: 100_000 }), output: types.int({ min: 0, max: 100_000 }), role: "operate" } },
  events: { tick: { data: types.int({ min: 0, max: 100_000 }), role: "view" } },
});

/** What a broker test changes of nodeDeviceOptions' defaults. */
export interface NodeDeviceOverrides {
  storage?: StoragePort;
  firmware?: string;
  session?: SessionSettings;
  events?: SecurityEventSettings;
  commands?: CommandSettings;
}

/** Options of a device on the Node ports (in-memory storage), trusting `operator` as "operate", reconnecting quickly. */
export function nodeDeviceOptions(brokerUrl: string, id: string, key: CoseKey, operator: CoseKey, overrides: NodeDeviceOverrides = {}): DeviceOptions {
  return {
    id,
    key,
    trust: new TrustList([{ key: publicKey(operator), role: "operate" }]),
    ports: { crypto: nodeCrypto, clock: nodeClock, timers: nodeTimers, storage: overrides.storage ?? new MemoryStorage(), transport: new NodeMqttTransport({ url: brokerUrl }) },
    firmware: { version: overrides.firmware ?? "test 1" },
    session: { backoffInitialMs: 50, backoffMaxMs: 500, ...overrides.session },
    events: overrides.events,
    commands: overrides.commands,
  };
}

/** Registers the counting door; `onHit` sees every executed `invoke.hit`. */
export function installCounter(device: Device, onHit: (index: number) => void) {
  return device.register(counterDoor, {
    invoke: {
      hit: (index) => {
        onHit(index);
        return index;
      },
    },
  });
}
