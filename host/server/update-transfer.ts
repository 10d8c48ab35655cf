// The server's side of the update transfer (docs/protocol.md section 8): it offers an envelope to a
// device and serves the device's block requests from the image, bounded and rate-limited per device. It
// never signs or checks a signature: the device verifies the envelope (k of n) and checks every byte
// against the signed size and digest. The fleet server owns one (fleet-server.ts), wires the broker to it
// and stores the signed `update` statuses the devices publish.
//
//   offer  <prefix>/<device>/update/offer  QoS 1   { rollout, envelope, ? blockSize }
//   stop   <prefix>/<device>/update/offer  QoS 1   { rollout, stop: true }
//   trust  <prefix>/<device>/update/trust  QoS 1   { rollout, trust }
//   get    <prefix>/<device>/update/get    QoS 0   (from the device) { rollout, offset, length }
//   block  <prefix>/<device>/update/block  QoS 0   { rollout, offset, data }
//
// A request is served only when it names the rollout the device was offered last, lies within the
// image, and asks for at most the block size (and MAX_BLOCK_SIZE). Anything else is refused as a server
// event (update-block-unexpected, update-offer-malformed: rate-limited per device by the fleet server).
// Bounds, all constant:
// - a device's rate: a token bucket, default 200 requests per second, bursts of 64;
// - image reads in flight, all devices together: default 64;
// - requests waiting, per device: MAX_WINDOW (8), the most a device's transfer has outstanding.
// A request beyond the rate, or that finds every read busy, waits (in arrival order, all devices in one
// queue) for a token and a read instead of being dropped: a drop costs a device its whole retry wait
// (2 s by default), which is what bounded the fan-out benchmark (bench/update-fanout.ts). A device with
// more requests waiting than any transfer's window has them dropped silently (limited); it asks again
// after its timeout, with backoff. So a device that floods requests gets no more than its rate, and at
// most 8 entries of the queue.
//
// A stop (an aborted rollout) goes on the offer topic, behind the offer it cancels: the device cancels
// its download and says `aborted`. Its requests for the stopped rollout that were on their way are
// dropped and counted (stopped()), not refused as events; while they keep coming (the stop was lost, or
// the device restarted and resumed), the stop is sent again, at most every STOP_RESEND_MS.

import type { MqttClient } from "mqtt";
import { open, type FileHandle } from "node:fs/promises";
import { errorCode, fail } from "../../sdk/errors";
import type { ErrorCode } from "../../sdk/error-codes";
import { decodeBlockRequest, encodeBlock, encodeOffer, encodeStop, encodeTrustMessage, MAX_BLOCK_SIZE, MAX_ROLLOUT, MIN_BLOCK_SIZE, UPDATE_TOPICS } from "../../sdk/update/messages";
import { DEFAULT_BLOCK_SIZE } from "../../sdk/update/agent";
import { MAX_WINDOW } from "../../sdk/update/transfer";
import { checkTopicLevel } from "../client/mqtt";
import { readUpdatePackage, type UpdatePackage } from "./update-package";

/** "A device's update state changed": raised after the change was stored, with the device's id. */
export class UpdateSignal {
  private readonly listeners = new Set<(device: string) => void>();

  /** Calls `listener` on every change until the returned function is called. */
  listen(listener: (device: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  raise(device: string): void {
    for (const listener of this.listeners) listener(device);
  }
}

/** Where an image's bytes come from: memory, or a file read on demand (a 16 MiB image need not sit in RAM). */
export interface ImageSource {
  readonly size: number;
  read(offset: number, length: number): Uint8Array | Promise<Uint8Array>;
}

export function bytesImage(bytes: Uint8Array): ImageSource {
  return { size: bytes.length, read: (offset, length) => bytes.subarray(offset, offset + length) };
}

/** An image in a file, read block by block (the handle stays open until close()). */
export async function fileImage(path: string): Promise<ImageSource & { close(): Promise<void> }> {
  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch (e) {
    return fail("file", `cannot open ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const { size } = await handle.stat();
  return {
    size,
    async read(offset, length) {
      const out = new Uint8Array(length);
      const { bytesRead } = await handle.read(out, 0, length, offset);
      return bytesRead === length ? out : out.subarray(0, bytesRead);
    },
    close: () => handle.close(),
  };
}

/** An update file read for offering (update-package.ts), with the image it offers. */
export interface PreparedUpdate extends UpdatePackage {
  readonly source: ImageSource;
}

/**
 * Reads an update file (`gatehouse update create`'s, with or without its image integrated) and pairs it
 * with its image: the integrated one, or `image`. The image's size must be the signed one (an integrated
 * image is checked against the digest too; devices check every image's digest themselves).
 */
export function prepareUpdate(file: Uint8Array, image?: ImageSource): PreparedUpdate {
  const update = readUpdatePackage(file);
  const source = image ?? (update.image !== undefined ? bytesImage(update.image) : undefined);
  if (source === undefined) return fail("suit-image-missing", "the update file carries no image: give one");
  if (source.size !== update.imageSize) fail("suit-image-size-mismatch", `the image is ${source.size} bytes, the manifest says ${update.imageSize}`);
  return { ...update, source };
}

export interface OfferRequest {
  readonly device: string;
  /** The server's name for the job (1 to 64 characters): statuses and block requests carry it. */
  readonly rollout: string;
  /** The envelope without integrated payloads (update-package.ts strips them). */
  readonly envelope: Uint8Array;
  /** The image the manifest names: its size must be the signed one (the device checks the digest). */
  readonly image: ImageSource;
  /** Block size to offer (default 4096; the device may take smaller ones). */
  readonly blockSize?: number;
}

export interface UpdateTransferOptions {
  readonly topicPrefix: string;
  /** Block requests served per second and device (default 200), and at once after a quiet spell (default 64). */
  readonly requestsPerSecond?: number;
  readonly requestBurst?: number;
  /** Image reads in flight, all devices together (default 64). */
  readonly maxReadsInFlight?: number;
  /** A stop is sent again when requests for the stopped rollout still come this long after it, in ms (default STOP_RESEND_MS). */
  readonly stopResendMs?: number;
  /** A request the server refuses: the fleet server records it as a server event (rate-limited). */
  onRefused?(device: string, code: ErrorCode, detail: string): void;
  log?(line: string): void;
}

/** A stop is sent again when requests for the stopped rollout still come this long after it (ms). */
export const STOP_RESEND_MS = 5000;

interface Stopped {
  readonly rollout: string;
  /** Requests for the stopped rollout after the stop was sent: dropped, not served. */
  refused: number;
  sentAt: number;
}

interface Offered {
  readonly rollout: string;
  readonly image: ImageSource;
  readonly blockSize: number;
  tokens: number;
  refilled: number;
  /** Blocks served; requests that had to wait (for a token or a read); requests dropped (over MAX_WINDOW waiting). For tests and benchmarks. */
  served: number;
  waited: number;
  limited: number;
  /** Its requests waiting now (at most MAX_WINDOW). */
  waiting: number;
}

/** A request waiting for a token of its device's bucket and a read. */
interface Waiting {
  readonly device: string;
  readonly offered: Offered;
  readonly offset: number;
  readonly length: number;
}

export class UpdateTransfer {
  private readonly o: UpdateTransferOptions;
  private readonly offers = new Map<string, Offered>();
  /** Per device, the rollout stopped last (a stop replaces it): one small record per device at most. */
  private readonly stops = new Map<string, Stopped>();
  private readonly rate: number;
  private readonly burst: number;
  private readonly maxReads: number;
  private reads = 0;
  /** Requests waiting, oldest first: at most MAX_WINDOW per offered device. */
  private readonly queue: Waiting[] = [];
  /** Set while the queue waits for a device's next token. */
  private tokenTimer: ReturnType<typeof setTimeout> | undefined;
  private client: MqttClient | undefined;

  constructor(options: UpdateTransferOptions) {
    this.o = options;
    this.rate = options.requestsPerSecond ?? 200;
    this.burst = options.requestBurst ?? 64;
    this.maxReads = options.maxReadsInFlight ?? 64;
  }

  /** The broker connection to publish on (the fleet server's). */
  attach(client: MqttClient): void {
    this.client = client;
  }

  /** The filter to subscribe to for block requests (QoS 0). */
  get requestFilter(): string {
    return `${this.o.topicPrefix}/+/update/${UPDATE_TOPICS.get}`;
  }

  /**
   * Offers an envelope to a device (QoS 1: the broker keeps it while the device is away) and serves its
   * block requests from `image` until another offer to that device, or withdraw(), replaces it.
   */
  async offer(request: OfferRequest): Promise<void> {
    const client = this.connected();
    const device = checkTopicLevel(request.device, "device");
    if (typeof request.rollout !== "string" || request.rollout.length === 0 || request.rollout.length > MAX_ROLLOUT) fail("invalid-input", `rollout must be text of 1 to ${MAX_ROLLOUT} characters`);
    const blockSize = request.blockSize ?? DEFAULT_BLOCK_SIZE;
    if (!Number.isSafeInteger(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE) fail("invalid-input", `blockSize must be ${MIN_BLOCK_SIZE} to ${MAX_BLOCK_SIZE}`);
    this.offers.set(device, { rollout: request.rollout, image: request.image, blockSize, tokens: this.burst, refilled: Date.now(), served: 0, waited: 0, limited: 0, waiting: 0 });
    await client.publishAsync(this.topic(device, UPDATE_TOPICS.offer), Buffer.from(encodeOffer({ rollout: request.rollout, envelope: request.envelope, blockSize })), { qos: 1 });
  }

  /** Sends a trust update (from `gatehouse update trust`) to a device (QoS 1). */
  async sendTrust(device: string, rollout: string, trust: Uint8Array): Promise<void> {
    const client = this.connected();
    checkTopicLevel(device, "device");
    if (rollout.length === 0 || rollout.length > MAX_ROLLOUT) fail("invalid-input", `rollout must be text of 1 to ${MAX_ROLLOUT} characters`);
    await client.publishAsync(this.topic(device, UPDATE_TOPICS.trust), Buffer.from(encodeTrustMessage({ rollout, trust })), { qos: 1 });
  }

  /** Stops serving a device's blocks (its rollout ended). */
  withdraw(device: string): void {
    this.offers.delete(device);
  }

  /**
   * Stops a device's download of `rollout` (the rollout was aborted): its blocks are no longer served,
   * and the device is told to stop (QoS 1, on the offer topic). Settles when the broker has the stop.
   */
  async stop(device: string, rollout: string): Promise<void> {
    checkTopicLevel(device, "device");
    if (this.offers.get(device)?.rollout === rollout) this.offers.delete(device);
    const stopped: Stopped = { rollout, refused: 0, sentAt: Date.now() };
    this.stops.set(device, stopped);
    await this.sendStop(device, stopped);
  }

  /** The rollout stopped last for a device, and how many of its requests came after the stop. */
  stopped(device: string): { rollout: string; refused: number } | undefined {
    const s = this.stops.get(device);
    return s && { rollout: s.rollout, refused: s.refused };
  }

  /**
   * What is offered to a device now, and how it went: blocks served, requests that waited for a token or
   * a read, requests dropped (more than MAX_WINDOW waiting), requests waiting now.
   */
  offered(device: string): { rollout: string; size: number; blockSize: number; served: number; waited: number; limited: number; waiting: number } | undefined {
    const o = this.offers.get(device);
    return o && { rollout: o.rollout, size: o.image.size, blockSize: o.blockSize, served: o.served, waited: o.waited, limited: o.limited, waiting: o.waiting };
  }

  /** A block request from `device` (the message on <prefix>/<device>/update/get). Never throws. */
  onRequest(device: string, payload: Uint8Array): void {
    let request;
    try {
      request = decodeBlockRequest(payload);
    } catch (e) {
      this.o.onRefused?.(device, errorCode(e) as ErrorCode, `a block request that does not parse: ${(e as Error).message}`);
      return;
    }
    const offered = this.offers.get(device);
    const { rollout, offset, length } = request;
    const stopped = this.stops.get(device);
    if (offered?.rollout !== rollout && stopped?.rollout === rollout) {
      // On its way before the device had the stop, or the stop was lost: told again, now and then.
      stopped.refused++;
      const now = Date.now();
      if (now - stopped.sentAt >= (this.o.stopResendMs ?? STOP_RESEND_MS)) {
        stopped.sentAt = now;
        this.sendStop(device, stopped).catch((e: unknown) => this.o.log?.(`update: cannot send the stop to ${device} again: ${(e as Error).message}`));
      }
      return;
    }
    if (offered === undefined || offered.rollout !== rollout) {
      this.o.onRefused?.(device, "update-block-unexpected", `a block request for rollout ${JSON.stringify(rollout)}, which is not offered to ${device}`);
      return;
    }
    if (length === 0 || length > offered.blockSize || offset + length > offered.image.size) {
      this.o.onRefused?.(device, "update-block-unexpected", `a block request for ${length} bytes at ${offset}: the image is ${offered.image.size} bytes in blocks of ${offered.blockSize}`);
      return;
    }
    if (offered.waiting === 0 && this.reads < this.maxReads && this.take(offered, Date.now())) {
      this.serve(device, offered, offset, length);
      return;
    }
    if (offered.waiting >= MAX_WINDOW) {
      offered.limited++;
      return;
    }
    offered.waiting++;
    offered.waited++;
    this.queue.push({ device, offered, offset, length });
    this.pump();
  }

  /** Serves what waits, oldest first, while reads are free and its device has a token; else waits for one. */
  private pump(): void {
    const now = Date.now();
    let kept = 0;
    let nextToken = Infinity;
    let i = 0;
    for (; i < this.queue.length && this.reads < this.maxReads; i++) {
      const w = this.queue[i];
      if (this.offers.get(w.device) !== w.offered) {
        w.offered.waiting--; // withdrawn or offered again: dropped
        continue;
      }
      if (this.take(w.offered, now)) {
        w.offered.waiting--;
        this.serve(w.device, w.offered, w.offset, w.length);
        continue;
      }
      nextToken = Math.min(nextToken, ((1 - w.offered.tokens) * 1000) / this.rate);
      this.queue[kept++] = w;
    }
    for (; i < this.queue.length; i++) this.queue[kept++] = this.queue[i];
    this.queue.length = kept;
    // Reads free, but every device waiting is out of tokens: look again when the first has one.
    if (kept > 0 && this.reads < this.maxReads && nextToken < Infinity && this.tokenTimer === undefined) {
      this.tokenTimer = setTimeout(() => {
        this.tokenTimer = undefined;
        this.pump();
      }, Math.max(1, Math.ceil(nextToken)));
      this.tokenTimer.unref?.();
    }
  }

  private serve(device: string, offered: Offered, offset: number, length: number): void {
    this.reads++;
    const { rollout } = offered;
    Promise.resolve()
      .then(() => offered.image.read(offset, length))
      .then(
        (data) => {
          this.reads--;
          if (this.offers.get(device) === offered && this.client) {
            offered.served++;
            this.client.publish(this.topic(device, UPDATE_TOPICS.block), Buffer.from(encodeBlock({ rollout, offset, data })), { qos: 0 });
          }
          if (this.queue.length > 0) this.pump();
        },
        (e: unknown) => {
          this.reads--;
          this.o.log?.(`update: cannot read the image for ${device} at ${offset}: ${(e as Error).message}`);
          if (this.queue.length > 0) this.pump();
        },
      );
  }

  private async sendStop(device: string, stopped: Stopped): Promise<void> {
    await this.connected().publishAsync(this.topic(device, UPDATE_TOPICS.offer), Buffer.from(encodeStop({ rollout: stopped.rollout })), { qos: 1 });
  }

  /** A token of the device's bucket, if it has one. */
  private take(offered: Offered, now: number): boolean {
    offered.tokens = Math.min(this.burst, offered.tokens + ((now - offered.refilled) * this.rate) / 1000);
    offered.refilled = now;
    if (offered.tokens < 1) return false;
    offered.tokens -= 1;
    return true;
  }

  private connected(): MqttClient {
    if (!this.client) return fail("server-stopped", "the server is not connected to its broker");
    return this.client;
  }

  private topic(device: string, level: string): string {
    return `${this.o.topicPrefix}/${device}/update/${level}`;
  }
}
