// An independent MQTT.js subscriber that verifies every device publication it sees with the key registered
// for that device (the simulator tests' eyes on the broker).

import { connectAsync, type MqttClient } from "mqtt";
import type { CborMap } from "../../sdk/cbor/types";
import type { CoseKey } from "../../sdk/cose/key";
import { verifyPublication, type PublicationKind } from "../../sdk/session/publications";
import { nodeCrypto } from "../../ports/node/crypto";

const KINDS: Record<string, PublicationKind> = { birth: "birth", death: "death", result: "result", telemetry: "telemetry", events: "event" };
const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

export interface Seen {
  device: string;
  kind: PublicationKind;
  body: CborMap;
}

/** An MQTT.js client that verifies every device publication it sees with the key registered for it. */
export class Watcher {
  readonly seen: Seen[] = [];
  readonly failures: string[] = [];
  readonly keys = new Map<string, CoseKey>();
  private constructor(readonly client: MqttClient) {}

  static async start(url: string): Promise<Watcher> {
    const client = await connectAsync(url, { protocolVersion: 4, clean: true, reconnectPeriod: 0 });
    const watcher = new Watcher(client);
    client.on("message", (topic, payload) => watcher.message(topic, new Uint8Array(payload)));
    await client.subscribeAsync("gh/#", { qos: 1 });
    return watcher;
  }

  private message(topic: string, payload: Uint8Array): void {
    const [, device, suffix] = topic.split("/");
    const kind = KINDS[suffix];
    if (!kind) return; // commands
    const key = this.keys.get(device);
    if (!key) {
      this.failures.push(`${topic}: no key`);
      return;
    }
    try {
      this.seen.push({ device, kind, body: verifyPublication(nodeCrypto, payload, key, kind, device) });
    } catch (e) {
      this.failures.push(`${topic}: ${(e as Error).message}`);
    }
  }

  of(device: string, kind: PublicationKind): CborMap[] {
    return this.seen.filter((s) => s.device === device && s.kind === kind).map((s) => s.body);
  }

  async until(what: string, ready: () => boolean, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!ready()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(20);
    }
  }

  stop(): Promise<void> {
    return this.client.endAsync();
  }
}
