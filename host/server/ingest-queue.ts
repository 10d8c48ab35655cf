// The fleet server's ingest queue: what the MQTT message handler hands over, so that verifying and
// storing happen in batches off the hot path (issue 11: a flood made the server fall behind, and the
// broker dropped what queued up for it).
//
// One FIFO per key (a registered device's id; "" for every topic naming an unregistered device), taken
// round-robin: a flood on one device's topics fills that device's FIFO and no other. Bounded in messages
// per key and in bytes overall; what does not fit is dropped and counted per key, and the server records
// the counts as events (never a silent loss).

import type { PublicationKind } from "../../sdk/session/publications";

export interface Incoming {
  topic: string;
  device: string;
  /** The kind its topic names. */
  kind: PublicationKind;
  payload: Uint8Array;
  retain: boolean;
  /** Milliseconds since the epoch when the handler got it. */
  receivedAt: number;
  /** The size of a payload too large to keep (payload is then empty). */
  oversize?: number;
}

export interface IngestQueueOptions {
  /** Messages held per key (default 2000). */
  perKeyMessages?: number;
  /** Payload bytes held per key (default 8 MiB). */
  perKeyBytes?: number;
  /** Payload bytes held overall (default 64 MiB). */
  totalBytes?: number;
}

export interface Drops {
  count: number;
  bytes: number;
  /** A topic of the first drop, for the event's detail. */
  topic: string;
}

interface Fifo {
  items: Incoming[];
  head: number;
  bytes: number;
}

export class IngestQueue {
  private readonly fifos = new Map<string, Fifo>();
  /** Keys with items, in round-robin order. */
  private readonly ready: string[] = [];
  private readonly drops = new Map<string, Drops>();
  private readonly perKeyMessages: number;
  private readonly perKeyBytes: number;
  private readonly totalBytes: number;
  private bytes = 0;
  size = 0;

  constructor(options: IngestQueueOptions = {}) {
    this.perKeyMessages = options.perKeyMessages ?? 2000;
    this.perKeyBytes = options.perKeyBytes ?? 8 * 1024 * 1024;
    this.totalBytes = options.totalBytes ?? 64 * 1024 * 1024;
  }

  /** Queues `item` under `key`; false when a bound was hit (the item is dropped and counted). */
  push(key: string, item: Incoming): boolean {
    let fifo = this.fifos.get(key);
    const length = item.payload.length;
    const held = fifo ? fifo.items.length - fifo.head : 0;
    if (held >= this.perKeyMessages || (fifo?.bytes ?? 0) + length > this.perKeyBytes || this.bytes + length > this.totalBytes) {
      const drops = this.drops.get(key);
      if (drops) {
        drops.count++;
        drops.bytes += length;
      } else {
        this.drops.set(key, { count: 1, bytes: length, topic: item.topic });
      }
      return false;
    }
    if (!fifo) this.fifos.set(key, (fifo = { items: [], head: 0, bytes: 0 }));
    if (held === 0) this.ready.push(key);
    fifo.items.push(item);
    fifo.bytes += length;
    this.bytes += length;
    this.size++;
    return true;
  }

  /** The next item, round-robin over the keys. */
  take(): Incoming | undefined {
    const key = this.ready.shift();
    if (key === undefined) return undefined;
    const fifo = this.fifos.get(key) as Fifo;
    const item = fifo.items[fifo.head];
    fifo.items[fifo.head] = undefined as unknown as Incoming;
    fifo.head++;
    fifo.bytes -= item.payload.length;
    this.bytes -= item.payload.length;
    this.size--;
    if (fifo.head < fifo.items.length) {
      this.ready.push(key);
      // Compact now and then so a long-lived FIFO does not keep its consumed slots.
      if (fifo.head >= 1024 && fifo.head * 2 >= fifo.items.length) {
        fifo.items.splice(0, fifo.head);
        fifo.head = 0;
      }
    } else {
      this.fifos.delete(key);
    }
    return item;
  }

  /** The drops counted since the last call, per key. */
  takeDrops(): Map<string, Drops> {
    const drops = new Map(this.drops);
    this.drops.clear();
    return drops;
  }
}
