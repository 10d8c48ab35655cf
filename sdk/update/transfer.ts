// Pulling an image in blocks over MQTT (docs/protocol.md section 8): the device asks for the blocks it
// wants (`get`, QoS 0) and takes only what it asked for (`block`, QoS 0), in constant memory.
//
// - A bounded window of outstanding requests (default 4, at most MAX_WINDOW). It hides the round trip
//   through the broker and the server; it costs the device no memory (blocks are written as they come,
//   and only their lengths are kept), and the server queues no more than MAX_WINDOW of a device's
//   requests (host/server/update-transfer.ts). 2 left devices idle between answers: measured with
//   bench/update-fanout.ts (--window). A request that gets no answer in time is sent
//   again, each time after a longer wait (doubling up to a maximum): a busy server or a lossy link slows
//   the transfer down instead of flooding it.
// - A block is taken only when it answers an outstanding request exactly (its rollout, offset and
//   length); anything else is refused as a security event (rate-limited by the device) and dropped:
//   a block past the signed size is suit-image-too-long, any other stray one update-block-unexpected.
//   The late answer to a request that was asked again, for a block already taken, is dropped silently.
// - Blocks are written to the inactive slot where they belong as they arrive, but hashed strictly in
//   order (a block that arrives early is read back from the slot once the ones before it are in), so one
//   SHA-256 state and one block are all the memory a transfer holds, whatever the image's size.
// - Offline: outstanding requests are forgotten (a QoS 0 answer is lost with the link) and asked again
//   once back online.
// - The hashed prefix grows block by block; the caller records it every few blocks (after sync()), so a
//   restart re-hashes the prefix from the slot and goes on from there.
// - When every byte is in, the ImageReceiver checks the size and the signed digest.
//
// Device code: timers through the TimerPort only.

import { errorCode, GatehouseError } from "../errors";
import type { ErrorCode } from "../error-codes";
import type { ClockPort } from "../ports/clock";
import type { TimerHandle, TimerPort } from "../ports/timer";
import type { UpdatePort } from "../ports/update";
import type { ImageReceiver } from "../suit/receiver";
import { decodeBlock, encodeBlockRequest } from "./messages";

/** The most block requests a transfer has outstanding (its window's upper bound): the server queues no more per device. */
export const MAX_WINDOW = 8;
export const DEFAULT_WINDOW = 4;

export interface TransferSettings {
  /** Outstanding block requests at once (default DEFAULT_WINDOW, 1 to MAX_WINDOW). */
  window?: number;
  /** First wait for an answer, in ms (default 2000); doubles per retry of the same block up to maxRetryMs. */
  retryMs?: number;
  /** The longest wait between retries of one block, in ms (default 30 s). */
  maxRetryMs?: number;
}

export interface TransferOptions extends TransferSettings {
  readonly rollout: string;
  readonly size: number;
  readonly blockSize: number;
  /** Bytes already hashed (a resumed download): the receiver has been given them. */
  readonly start: number;
  readonly receiver: ImageReceiver;
  readonly port: UpdatePort;
  readonly timers: TimerPort;
  readonly clock: ClockPort;
  /** Sends a block request; false when offline. */
  send(request: Uint8Array): boolean;
  /** A refused block, as a security event. */
  refuse(code: ErrorCode): void;
  /** The hashed prefix grew to `received` bytes. */
  progress(received: number): void;
}

interface Outstanding {
  readonly offset: number;
  readonly length: number;
  attempts: number;
  deadline: number;
}

export class BlockTransfer {
  /** Settles when the transfer is over: every byte in and the digest right, or why not. */
  readonly done: Promise<void>;
  private readonly o: TransferOptions;
  private rollout: string;
  private readonly window: number;
  private readonly retryMs: number;
  private readonly maxRetryMs: number;
  /** End of the hashed prefix. */
  private hashed: number;
  /** The next offset not yet asked for. */
  private nextRequest: number;
  private readonly outstanding: Outstanding[] = [];
  /** Blocks written ahead of the hashed prefix, by offset: their lengths. */
  private readonly ahead = new Map<number, number>();
  private timer: TimerHandle | undefined;
  private connected = false;
  private finished = false;
  private resolve!: () => void;
  private reject!: (error: unknown) => void;

  constructor(options: TransferOptions) {
    this.o = options;
    this.rollout = options.rollout;
    this.window = Math.min(MAX_WINDOW, Math.max(1, Math.floor(options.window ?? DEFAULT_WINDOW)));
    this.retryMs = Math.max(10, options.retryMs ?? 2000);
    this.maxRetryMs = Math.max(this.retryMs, options.maxRetryMs ?? 30_000);
    this.hashed = options.start;
    this.nextRequest = options.start;
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** Bytes hashed so far. */
  get received(): number {
    return this.hashed;
  }

  /** Starts (or goes on after a reconnect): asks for the next blocks. Finishes at once when nothing is left. */
  online(): void {
    this.connected = true;
    if (this.finished) return;
    if (this.hashed >= this.o.size) {
      this.complete();
      return;
    }
    const now = this.o.clock.monotonic();
    for (const request of this.outstanding) this.ask(request, now);
    this.fill(now);
  }

  /** The link is gone: answers to outstanding requests are lost with it. */
  offline(): void {
    this.connected = false;
    this.outstanding.length = 0;
    this.nextRequest = this.hashed;
    this.ahead.clear();
    this.stopTimer();
  }

  /**
   * The same image under another rollout name (the server offered it again as a new job): answers are
   * taken under that name from now on; outstanding requests are asked again under it.
   */
  retarget(rollout: string): void {
    this.rollout = rollout;
    this.outstanding.length = 0;
    this.ahead.clear();
    this.nextRequest = this.hashed;
    this.stopTimer();
  }

  /** Ends the transfer with `error` (a newer offer took its place, the device stops). */
  cancel(error: unknown): void {
    this.end(error);
  }

  /** A `block` message. Never throws: a block it did not ask for is refused and dropped. */
  onBlock(message: Uint8Array): void {
    if (this.finished) return;
    let code: ErrorCode | undefined;
    let request: Outstanding | undefined;
    try {
      const block = decodeBlock(message, this.o.blockSize);
      const at = this.outstanding.findIndex((r) => r.offset === block.offset);
      if (block.offset + block.data.length > this.o.size) code = "suit-image-too-long";
      // The late answer to a request asked again: already taken, dropped silently (as a QoS duplicate).
      else if (block.rollout === this.rollout && at < 0 && (block.offset < this.hashed || this.ahead.has(block.offset))) return;
      else if (block.rollout !== this.rollout || at < 0 || this.outstanding[at].length !== block.data.length) code = "update-block-unexpected";
      else {
        request = this.outstanding.splice(at, 1)[0];
        this.take(block.offset, block.data);
      }
    } catch (e) {
      const failed = errorCode(e);
      // A malformed block is the sender's fault; a slot or digest failure ends the transfer.
      if (failed === "update-offer-malformed") code = failed;
      else {
        this.end(e);
        return;
      }
    }
    if (code !== undefined) {
      this.o.refuse(code);
      return;
    }
    if (request !== undefined && !this.finished) {
      if (this.hashed >= this.o.size) this.complete();
      else this.fill(this.o.clock.monotonic());
    }
  }

  /** Writes a block where it belongs; hashes it, and what was written ahead of it, when it is next. */
  private take(offset: number, data: Uint8Array): void {
    if (offset === this.hashed) {
      this.o.receiver.accept(data);
      this.o.port.write(offset, data);
      this.hashed += data.length;
      // Blocks that came early: read back from the slot, in order.
      for (let length = this.ahead.get(this.hashed); length !== undefined; length = this.ahead.get(this.hashed)) {
        this.ahead.delete(this.hashed);
        this.o.receiver.accept(this.o.port.read("inactive", this.hashed, length));
        this.hashed += length;
      }
      this.o.progress(this.hashed);
    } else {
      this.o.port.write(offset, data);
      this.ahead.set(offset, data.length);
    }
  }

  /** Asks for blocks until the window is full. */
  private fill(now: number): void {
    while (this.connected && this.outstanding.length < this.window && this.nextRequest < this.o.size) {
      const length = Math.min(this.o.blockSize, this.o.size - this.nextRequest);
      const request: Outstanding = { offset: this.nextRequest, length, attempts: 0, deadline: 0 };
      this.nextRequest += length;
      this.outstanding.push(request);
      this.ask(request, now);
    }
    this.armTimer(now);
  }

  private ask(request: Outstanding, now: number): void {
    request.deadline = now + Math.min(this.maxRetryMs, this.retryMs * 2 ** Math.min(request.attempts, 16));
    request.attempts++;
    this.o.send(encodeBlockRequest({ rollout: this.rollout, offset: request.offset, length: request.length }));
  }

  private armTimer(now: number): void {
    this.stopTimer();
    if (this.finished || !this.connected || this.outstanding.length === 0) return;
    let first = this.outstanding[0].deadline;
    for (const r of this.outstanding) first = Math.min(first, r.deadline);
    this.timer = this.o.timers.set(() => this.expire(), Math.max(0, first - now));
  }

  private expire(): void {
    this.timer = undefined;
    if (this.finished || !this.connected) return;
    const now = this.o.clock.monotonic();
    for (const request of this.outstanding) if (request.deadline <= now) this.ask(request, now);
    this.armTimer(now);
  }

  private stopTimer(): void {
    if (this.timer !== undefined) this.o.timers.clear(this.timer);
    this.timer = undefined;
  }

  private complete(): void {
    try {
      this.o.receiver.finish();
    } catch (e) {
      this.end(e);
      return;
    }
    this.end(undefined);
  }

  private end(error: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.stopTimer();
    this.outstanding.length = 0;
    this.ahead.clear();
    if (error === undefined) this.resolve();
    else this.reject(error instanceof GatehouseError ? error : new GatehouseError("internal", String((error as Error)?.message ?? error)));
  }
}
