// The update agent: signed OTA updates on the device (issue 7; docs/protocol.md section 8, docs/suit.md).
// A device service (Device.attach): topics under <prefix>/<device>/update/, its own signed publication
// kind `update` (the status of every step), and the installed update state in every birth.
//
//   const agent = new UpdateAgent({ device, port, storage, crypto, clock, timers, vendorId, classId, trust });
//
// An update, in order:
// 1. offer (server -> device): the envelope is verified, k of n update keys, BEFORE the manifest is parsed
//    (sdk/suit verifyEnvelope, then parseManifest); a device without update trust refuses every offer.
// 2. The SUIT interpreter runs the manifest's update procedure with this agent as its SuitHost: the shared
//    sequence checks vendor and class, the setup the sequence number (newer than the running build's),
//    every directive the security epoch (not below the device's minimum); fetch is the block transfer
//    (sdk/update/transfer.ts) into the inactive slot through the UpdatePort, never more than the signed
//    size, hashed as written; the job and its progress are persisted, so it resumes after a disconnect
//    and after a restart (the written prefix is re-hashed: a hash state does not survive a restart, the
//    bytes do). A bad final digest empties the slot. Then image-match and the validate sequence.
// 3. Only when the whole procedure passed: the image is marked to boot on trial, and the device restarts.
// 4. On the trial boot the manifest is verified again and its invocation procedure runs (validate:
//    image-match of the RUNNING build; invoke); then the health check: the session comes online, the
//    doors' self-tests pass, and the app's own check, within a deadline. Passed: confirm. Failed, or no
//    confirmation (a crash, a restart): the previous build runs again (rolled back), unless it is below
//    the minimum security epoch: then the trial build is kept, confirmed at once, and the status says why.
// 5. A stop (the server aborted the rollout; on the offer topic) naming the rollout being downloaded
//    cancels the transfer, empties the slot and reports `aborted` (with how far it got). A stop for
//    another rollout, with nothing in progress, or once the image was installed (a trial is never
//    stopped by a server: only its health check decides) is ignored, and the log says why.
// Every step is a signed `update` status (offered, downloading n %, verified, installed, confirmed,
// rolled-back, aborted, refused: code); every refusal is also a security event, and the refused status goes out
// only when that event passed the device's rate limit, so a flood of bad offers cannot make the device
// sign without bound. Trust updates (`trust`, sdk/update/trust.ts) rotate the update keys and raise the
// minimum security epoch.
//
// What each restart finds, and does (the job record's phase against the port's boot; a power cut at
// any point lands in one of these):
//   no job                                   nothing (a trial boot without one is confirmed after its health check)
//   download                                 verify the stored envelope again, re-hash the prefix, go on
//   trial, trial boot of the job's slot      the health check, then confirm or roll back
//   trial, normal boot of the job's slot     it was confirmed before the restart: report confirmed
//   trial, rolled-back                       report rolled-back (why: the agent's recorded failure, or the port's)
//   trial, normal boot of the other slot     it was never marked: measure the slot again, mark, restart
//
// Device code: no timers but the TimerPort, memory independent of the image's size.
//
// Refusals (stable codes): update-no-trust, update-offer-malformed, update-busy, update-superseded,
// update-uri-unsupported, update-block-unexpected, update-unhealthy, update-trial-crashed,
// update-no-rollback (a status code, not a refusal), the SUIT codes (docs/suit.md), the trust-update codes.

import { bytesEqual } from "../bytes";
import type { Device, DeviceService, ServiceBirthFields, ServiceLink } from "../device";
import { errorCode, fail, GatehouseError } from "../errors";
import type { ErrorCode } from "../error-codes";
import type { ClockPort } from "../ports/clock";
import type { CryptoPort } from "../ports/crypto";
import { BoundedStorage, MAX_STORAGE_VALUE, type StoragePort } from "../ports/storage";
import type { TimerHandle, TimerPort } from "../ports/timer";
import type { BootInfo, UpdatePort } from "../ports/update";
import type { PublicationFields, UpdateAgentState, UpdateState } from "../session/publications";
import type { SessionState } from "../session/session";
import type { SuitComponentId } from "../suit/commands";
import { verifyEnvelope } from "../suit/envelope";
import type { SuitComponent, SuitCopyRequest, SuitFetchRequest, SuitHost, SuitImageMeasurement, SuitInvokeRequest, SuitMeasureRequest } from "../suit/host";
import { parseManifest, type SuitManifest } from "../suit/manifest";
import { processManifest, type SuitProcedure } from "../suit/processor";
import { ImageReceiver } from "../suit/receiver";
import { decodeOffer, decodeStop, decodeTrustMessage, UPDATE_TOPICS, type Stop } from "./messages";
import { readJob, readSlotRecord, RECORD_KEYS, writeJob, writeSlotRecord, type JobRecord, type SlotRecord } from "./records";
import { BlockTransfer, type TransferSettings } from "./transfer";
import { isPatchManifest, MAX_PATCH_SOURCE_BYTES } from "../patch/format";
import { PatchDownloadHost } from "../patch/host";
import type { Patches } from "../patch/patches";
import { PatchSourceBuffer } from "../patch/source-buffer";
import { acceptTrustUpdate, decodeTrustDocument, encodeTrustDocument, MAX_TRUST_UPDATE_BYTES, trustOf, type UpdateTrustDocument } from "./trust";

export const DEFAULT_BLOCK_SIZE = 4096;
/** Record progress after this many blocks (and at the end): at most that much is fetched again after a restart. */
const PERSIST_EVERY_BLOCKS = 16;
const DEFAULT_COMPONENT: SuitComponentId = [Uint8Array.of(0)];

export interface UpdateAgentOptions {
  readonly device: Device;
  readonly port: UpdatePort;
  /** Where the agent keeps its trust and progress: the device's own storage will do (its keys are "upd.*"). */
  readonly storage: StoragePort;
  readonly crypto: CryptoPort;
  readonly clock: ClockPort;
  readonly timers: TimerPort;
  /** This device's vendor and class (16-byte UUIDs): a manifest must name both. */
  readonly vendorId: Uint8Array;
  readonly classId: Uint8Array;
  /**
   * The update trust as provisioned. The device keeps its own (a trust update may have rotated it): the
   * provisioned one is taken only when the device keeps none, or an older one (a lower seq).
   */
  readonly trust?: UpdateTrustDocument;
  /** The build no manifest installed (the factory build): its manifest sequence number and security epoch (default 0, 0). */
  readonly factory?: { readonly seq?: number; readonly epoch?: number };
  /** The SUIT component the image is (default [h'00'], the draft's single image). */
  readonly componentId?: SuitComponentId;
  /** The largest block the device takes (default 4096; an offer may ask for smaller ones). */
  readonly maxBlockSize?: number;
  readonly transfer?: TransferSettings;
  /** How long a trial build has to pass its health check, in ms (default 60 s). */
  readonly healthDeadlineMs?: number;
  /** A failing health check is tried again after this many ms, until the deadline (default 2 s). */
  readonly healthRetryMs?: number;
  /** The app's own health check, after the doors' self-tests: a failure code, or undefined when healthy. */
  readonly healthCheck?: () => string | undefined;
  /** How long the agent waits for its `installed` status to reach the broker before it restarts (default 5 s). */
  readonly restartGraceMs?: number;
  /** One line per step, for a device's trace. */
  readonly log?: (line: string) => void;
}

/** The update procedure in progress (one at a time). */
interface Run {
  rollout: string;
  readonly manifest: SuitManifest;
  readonly envelope: Uint8Array;
  readonly blockSize: number;
  /** The job this run resumes (after a restart). */
  readonly resume?: JobRecord;
  transfer?: BlockTransfer;
  /** Set when a newer offer replaced it: its end reports update-superseded and touches nothing. */
  superseded?: boolean;
  /** Set when a stop ended it: its end touches nothing and reports nothing more (onStop reported aborted). */
  aborted?: boolean;
  /** What the fetch stored and checked: image-match answers from it. */
  measured?: SuitImageMeasurement;
  /** A patch of door logic (its source pulled into memory for device.patches), not an image. */
  readonly patch?: boolean;
}

export class UpdateAgent implements DeviceService, SuitHost {
  readonly name = "update";
  readonly subscriptions = [UPDATE_TOPICS.offer, UPDATE_TOPICS.trust, UPDATE_TOPICS.block];
  readonly kinds = ["update" as const];
  private readonly o: UpdateAgentOptions;
  private readonly link: ServiceLink;
  private readonly storage: StoragePort;
  private readonly bootInfo: BootInfo;
  private readonly maxBlockSize: number;
  private readonly componentId: SuitComponentId;
  private trustDocument: UpdateTrustDocument | undefined;
  private job: JobRecord | undefined;
  private run: Run | undefined;
  private procedure: SuitProcedure = "update";
  /** A trial build waiting for its health check. */
  private trial: { readonly deadline: TimerHandle; retry?: TimerHandle; checking: boolean } | undefined;
  private stopped = false;

  constructor(options: UpdateAgentOptions) {
    this.o = options;
    this.storage = new BoundedStorage(options.storage);
    this.maxBlockSize = Math.min(65536, Math.max(64, Math.floor(options.maxBlockSize ?? DEFAULT_BLOCK_SIZE)));
    this.componentId = options.componentId ?? DEFAULT_COMPONENT;
    if (options.vendorId.length !== 16 || options.classId.length !== 16) fail("invalid-options", "vendorId and classId must be 16-byte UUIDs");
    this.trustDocument = this.loadTrust(options.trust);
    this.bootInfo = options.port.boot();
    this.job = readJob(this.storage);
    this.link = options.device.attach(this);
    this.startup();
  }

  /** The update trust in force (undefined: none; every update is refused). */
  get trust(): UpdateTrustDocument | undefined {
    return this.trustDocument;
  }

  /** What the agent does now, as births report it. */
  get state(): UpdateAgentState {
    if (this.trustDocument === undefined) return "no-trust";
    if (this.job?.phase === "trial" && this.bootInfo.state === "trial") return "trial";
    if (this.job?.phase === "download" || this.run !== undefined) return "downloading";
    return "idle";
  }

  /** The manifest sequence number and security epoch of the running build. */
  get installed(): { readonly seq: number; readonly epoch: number } {
    const record = this.slotRecord(this.bootInfo.slot);
    return { seq: record?.seq ?? this.o.factory?.seq ?? 0, epoch: record?.epoch ?? this.o.factory?.epoch ?? 0 };
  }

  /** Stops timers and the transfer (the device is stopping or restarting); nothing more happens. */
  stop(): void {
    this.stopped = true;
    this.run?.transfer?.cancel(new GatehouseError("internal", "the agent stopped"));
    this.endTrialTimers();
  }

  // ---- DeviceService ----

  birth(): ServiceBirthFields {
    const installed = this.installed;
    return {
      update: {
        vendorId: this.o.vendorId,
        classId: this.o.classId,
        seq: installed.seq,
        epoch: installed.epoch,
        minEpoch: this.trustDocument?.minEpoch ?? 0,
        trustSeq: this.trustDocument?.seq ?? 0,
        state: this.state,
      },
    };
  }

  onSessionState(state: SessionState): void {
    if (this.stopped) return;
    if (state === "online") {
      this.run?.transfer?.online();
      if (this.trial) this.healthCheck();
    } else {
      this.run?.transfer?.offline();
    }
  }

  onMessage(topic: string, message: Uint8Array): void {
    if (this.stopped) return;
    if (topic === UPDATE_TOPICS.block) this.run?.transfer?.onBlock(message);
    else if (topic === UPDATE_TOPICS.offer) {
      let stop: Stop | undefined;
      try {
        stop = decodeStop(message);
      } catch (e) {
        this.link.refuse(errorCode(e) as ErrorCode);
        return;
      }
      if (stop !== undefined) this.onStop(stop);
      else this.onOffer(message);
    }
    else if (topic === UPDATE_TOPICS.trust) this.onTrust(message);
  }

  // ---- SuitHost ----

  get installedSequenceNumber(): number {
    return this.installed.seq;
  }

  get minimumSecurityEpoch(): number {
    return this.trustDocument?.minEpoch ?? 0;
  }

  hasComponent(id: SuitComponentId): boolean {
    return id.length === this.componentId.length && id.every((part, i) => bytesEqual(part, this.componentId[i]));
  }

  matchesVendorId(_component: SuitComponent, vendorId: Uint8Array): boolean {
    return bytesEqual(vendorId, this.o.vendorId);
  }

  matchesClassId(_component: SuitComponent, classId: Uint8Array): boolean {
    return bytesEqual(classId, this.o.classId);
  }

  /** The agent knows no device UUID: a manifest for one device by id is refused (suit-device-mismatch). */
  matchesDeviceId(): boolean {
    return false;
  }

  /** The slot an update goes to (the inactive one); for the invocation, the running one. */
  componentSlot(): number {
    return this.procedure === "update" ? 1 - this.bootInfo.slot : this.bootInfo.slot;
  }

  /** The block transfer into the inactive slot: settles when the image is all there and its digest right. */
  fetch(request: SuitFetchRequest): Promise<void> {
    const run = this.run;
    if (this.procedure !== "update" || run === undefined) return fail("internal", "fetch outside an update");
    // "#name": the envelope's integrated payload, which the server strips and serves as blocks.
    if (request.uri !== undefined && request.uri.charAt(0) !== "#") fail("update-uri-unsupported", `the agent fetches over its own transfer, not from ${request.uri}`);
    const size = request.imageSize;
    if (size === undefined) return fail("suit-parameter-missing", "the manifest sets no image size: the transfer needs one");
    const { port } = this.o;
    if (size > port.capacity) fail("suit-image-too-long", `the image is ${size} bytes; the slot holds ${port.capacity}`);
    const slot = 1 - this.bootInfo.slot;
    const resume = run.resume !== undefined && run.resume.size === size && run.resume.slot === slot ? run.resume : undefined;
    let offset = resume !== undefined && port.resumable ? Math.min(resume.offset, size) : 0;
    if (resume === undefined) {
      // What the slot will hold, recorded before it holds any of it.
      writeSlotRecord(this.storage, slot, { seq: run.manifest.sequenceNumber, epoch: request.securityEpoch, size, digest: request.imageDigest.bytes });
      this.storage.write(RECORD_KEYS.envelope, run.envelope);
      this.saveJob({ rollout: run.rollout, slot, seq: run.manifest.sequenceNumber, manifest: run.manifest.digest.bytes, size, blockSize: run.blockSize, offset: 0, phase: "download" });
      port.open(size, false);
      this.status(run, "offered", 0);
    } else {
      port.open(size, offset > 0);
      this.status(run, "downloading", percent(offset, size));
    }
    const hash = this.o.crypto.createSha256();
    // A hash state does not survive a restart; the bytes do: hash the written prefix again.
    for (let at = 0; at < offset; ) {
      const piece = port.read("inactive", at, Math.min(run.blockSize, offset - at));
      if (piece.length === 0) {
        offset = at;
        break;
      }
      hash.update(piece);
      at += piece.length;
    }
    const receiver = new ImageReceiver(request, port.capacity, hash, offset);
    let persisted = offset;
    let reported = Math.floor(percent(offset, size) / 10);
    const transfer = new BlockTransfer({
      ...this.o.transfer,
      rollout: run.rollout,
      size,
      blockSize: run.blockSize,
      start: offset,
      receiver,
      port,
      timers: this.o.timers,
      clock: this.o.clock,
      send: (bytes) => this.link.send(UPDATE_TOPICS.get, bytes),
      refuse: (code) => void this.link.refuse(code),
      progress: (received) => {
        if (received - persisted >= PERSIST_EVERY_BLOCKS * run.blockSize || received === size) {
          port.sync();
          this.saveJob({ ...(this.job as JobRecord), offset: received });
          persisted = received;
        }
        const tenth = Math.floor(percent(received, size) / 10);
        if (tenth > reported && received < size) {
          reported = tenth;
          this.status(run, "downloading", tenth * 10);
        }
      },
    });
    run.transfer = transfer;
    this.log(`downloading ${size} bytes of manifest ${run.manifest.sequenceNumber} (rollout ${run.rollout}) from byte ${offset}`);
    if (this.link.state === "online") transfer.online();
    return transfer.done.then(() => {
      run.measured = { size, digest: request.imageDigest.bytes };
    });
  }

  /** One component: nothing to copy from. */
  copy(request: SuitCopyRequest): void {
    fail("suit-unknown-component", `component ${request.source.index} is not on this device`);
  }

  /** Update: what the fetch stored and checked. Invocation: the running build, hashed from its slot. */
  measure(_request: SuitMeasureRequest): SuitImageMeasurement | undefined {
    if (this.procedure === "update") return this.run?.measured;
    const record = this.slotRecord(this.bootInfo.slot);
    if (record === undefined) return undefined;
    const hash = this.o.crypto.createSha256();
    let size = 0;
    while (size < record.size) {
      const piece = this.o.port.read("running", size, Math.min(this.maxBlockSize, record.size - size));
      if (piece.length === 0) break;
      hash.update(piece);
      size += piece.length;
    }
    return { size, digest: hash.digest() };
  }

  /** The invocation runs the build that is running; an update marks its image to boot when it passed, not here. */
  invoke(_request: SuitInvokeRequest): void {}

  // ---- offers ----

  private onOffer(message: Uint8Array): void {
    let rollout: string;
    let envelope: Uint8Array;
    let blockSize: number;
    let manifest: SuitManifest;
    try {
      const offer = decodeOffer(message, MAX_STORAGE_VALUE);
      rollout = offer.rollout;
      envelope = offer.envelope;
      blockSize = Math.min(this.maxBlockSize, offer.blockSize ?? DEFAULT_BLOCK_SIZE);
    } catch (e) {
      this.link.refuse(errorCode(e) as ErrorCode);
      return;
    }
    const trust = this.trustDocument;
    if (trust === undefined) {
      this.refuse(rollout, undefined, "update-no-trust");
      return;
    }
    try {
      // Verified (k of n) before a byte of the manifest is parsed.
      manifest = parseManifest(this.o.crypto, verifyEnvelope(this.o.crypto, envelope, trustOf(trust), { limits: { maxEnvelopeBytes: MAX_STORAGE_VALUE } }));
    } catch (e) {
      this.refuse(rollout, undefined, errorCode(e));
      return;
    }
    if (isPatchManifest(manifest)) {
      this.offerPatch(rollout, manifest, envelope, blockSize);
      return;
    }
    const job = this.job;
    if (job !== undefined && bytesEqual(job.manifest, manifest.digest.bytes)) {
      // The offer of the update in progress again (a QoS 1 redelivery, a server that restarted, the same
      // image in a new rollout): say where it is, under the rollout named last, and go on.
      const run = this.run;
      if (job.phase === "download" && run?.transfer) {
        if (rollout !== run.rollout) {
          run.rollout = rollout;
          this.saveJob({ ...job, rollout });
          run.transfer.retarget(rollout);
        }
        this.status(run, "downloading", percent(run.transfer.received, job.size));
        if (this.link.state === "online") run.transfer.online();
      }
      return;
    }
    if (job !== undefined || this.run !== undefined) {
      const current = this.run;
      if (job?.phase === "download" && current !== undefined && manifest.sequenceNumber > current.manifest.sequenceNumber) {
        this.supersede(current);
      } else {
        this.refuse(rollout, manifest.sequenceNumber, "update-busy");
        return;
      }
    }
    this.update({ rollout, manifest, envelope, blockSize });
  }

  // ---- patches of door logic (docs/suit.md, "Patches") ----

  /**
   * A verified offer of a patch: no slot, no restart. The source comes over the same block transfer, into
   * memory (at most MAX_PATCH_SOURCE_BYTES), then device.patches applies it (verifying the envelope and
   * running the manifest again). Statuses: offered, downloading, verified, confirmed, or refused: code.
   * A device without patches refuses it (patch-unavailable); one update at a time (update-busy).
   */
  private offerPatch(rollout: string, manifest: SuitManifest, envelope: Uint8Array, blockSize: number): void {
    const patches = this.o.device.patches;
    if (patches === undefined) {
      this.refuse(rollout, manifest.sequenceNumber, "patch-unavailable");
      return;
    }
    const current = this.run;
    if (current?.patch && current.transfer && bytesEqual(current.manifest.digest.bytes, manifest.digest.bytes)) {
      // The same patch offered again while it comes in (a redelivery, a new rollout): go on under that name.
      if (rollout !== current.rollout) {
        current.rollout = rollout;
        current.transfer.retarget(rollout);
      }
      this.status(current, "downloading", 0);
      if (this.link.state === "online") current.transfer.online();
      return;
    }
    if (this.job !== undefined || current !== undefined) {
      this.refuse(rollout, manifest.sequenceNumber, "update-busy");
      return;
    }
    this.applyPatch({ rollout, manifest, envelope, blockSize, patch: true }, patches);
  }

  /** Runs the patch manifest's update procedure (its fetch is the transfer), then hands it to Patches. */
  private applyPatch(run: Run, patches: Patches): void {
    this.run = run;
    const state = { installedSequenceNumber: patches.sequenceNumber, minimumSecurityEpoch: this.minimumSecurityEpoch, vendorId: this.o.vendorId, classId: this.o.classId };
    const host = new PatchDownloadHost(this.o.crypto, state, (request) => this.fetchPatch(run, request));
    const end = (code: string | undefined, detail: string) => {
      this.run = undefined;
      this.log(`patch ${run.manifest.sequenceNumber} ${detail}`);
      if (code === undefined) this.status(run, "confirmed", 100);
      else this.refuse(run.rollout, run.manifest.sequenceNumber, code);
    };
    processManifest(run.manifest, host, "update").then(
      () => {
        if (this.stopped) return;
        const source = host.fetched;
        if (source === undefined) return end("suit-image-missing", "fetched no source");
        this.status(run, "verified", 100);
        try {
          const info = patches.apply(run.envelope, source);
          end(undefined, `applied: ${info.operations.length} operation(s) replaced`);
        } catch (e) {
          end(errorCode(e), `refused by the device's patches: ${errorCode(e)}: ${(e as Error)?.message ?? e}`);
        }
      },
      (e: unknown) => {
        if (!this.stopped && !run.aborted) end(errorCode(e), `refused: ${errorCode(e)}: ${(e as Error)?.message ?? e}`);
      },
    );
  }

  /** The patch source over the block transfer, into memory: bounded, checked against the signed size and digest as it comes. */
  private fetchPatch(run: Run, request: SuitFetchRequest): Promise<Uint8Array> {
    if (request.uri !== undefined && request.uri.charAt(0) !== "#") fail("update-uri-unsupported", `the agent fetches over its own transfer, not from ${request.uri}`);
    const size = request.imageSize;
    if (size === undefined) return fail("suit-parameter-missing", "the manifest sets no source size: the transfer needs one");
    // Refused before a block is asked for: a source over the limit never comes in.
    const receiver = new ImageReceiver({ imageDigest: request.imageDigest, imageSize: size }, MAX_PATCH_SOURCE_BYTES, this.o.crypto.createSha256());
    const buffer = new PatchSourceBuffer(size);
    this.status(run, "offered", 0);
    let reported = 0;
    const transfer = new BlockTransfer({
      ...this.o.transfer,
      rollout: run.rollout,
      size,
      blockSize: run.blockSize,
      start: 0,
      receiver,
      port: buffer,
      timers: this.o.timers,
      clock: this.o.clock,
      send: (bytes) => this.link.send(UPDATE_TOPICS.get, bytes),
      refuse: (code) => void this.link.refuse(code),
      progress: (received) => {
        const tenth = Math.floor(percent(received, size) / 10);
        if (tenth > reported && received < size) {
          reported = tenth;
          this.status(run, "downloading", tenth * 10);
        }
      },
    });
    run.transfer = transfer;
    this.log(`downloading the ${size} bytes of patch ${run.manifest.sequenceNumber} (rollout ${run.rollout})`);
    if (this.link.state === "online") transfer.online();
    return transfer.done.then(() => buffer.bytes);
  }

  /** A newer offer replaces the download in progress: it ends as update-superseded, its slot emptied. */
  private supersede(run: Run): void {
    run.superseded = true;
    run.transfer?.cancel(new GatehouseError("update-superseded", "a newer update replaced this one"));
    this.run = undefined;
    this.clearJob(true);
  }

  /**
   * The server stopped a rollout. Only the download of that rollout ends: its transfer is cancelled (no
   * further block request), the slot emptied, and the signed status says `aborted` with how far it got.
   * Unsigned, so it is never more than that: a trial build is not stopped (its health check decides), and
   * a stop for another rollout changes nothing.
   */
  private onStop(stop: Stop): void {
    const run = this.run;
    const job = this.job;
    const downloading = run?.rollout ?? job?.rollout;
    if (job?.phase === "trial") return this.log(`stop for rollout ${stop.rollout} ignored: manifest ${job.seq} is installed (a trial is not stopped by a server)`);
    if (downloading === undefined) return this.log(`stop for rollout ${stop.rollout} ignored: no update in progress`);
    if (stop.rollout !== downloading) return this.log(`stop for rollout ${stop.rollout} ignored: downloading rollout ${downloading}`);
    const seq = run?.manifest.sequenceNumber ?? (job as JobRecord).seq;
    const received = run?.transfer?.received ?? job?.offset ?? 0;
    const size = job?.size ?? 0;
    if (run !== undefined) {
      run.aborted = true;
      run.transfer?.cancel(new GatehouseError("internal", "the server stopped the rollout")); // never reported: run.aborted
    }
    this.run = undefined;
    // A patch comes into memory, not a slot: it has no job and nothing on the port to empty.
    if (job !== undefined) this.clearJob(true);
    this.log(`rollout ${stop.rollout} stopped by the server: manifest ${seq} aborted at byte ${received}${job !== undefined ? ", the slot emptied" : ""}`);
    this.link.publish("update", { rollout: stop.rollout, manifest: seq, state: "aborted", progress: size === 0 ? 0 : percent(received, size) });
  }

  /** Runs the update procedure; on success the image is marked to boot on trial and the device restarts. */
  private update(run: Run): void {
    this.run = run;
    this.procedure = "update";
    processManifest(run.manifest, this, "update").then(
      () => {
        if (run.superseded || run.aborted || this.stopped) return;
        if (run.measured === undefined) {
          this.run = undefined;
          this.clearJob(true);
          this.refuse(run.rollout, run.manifest.sequenceNumber, "suit-image-missing");
          return;
        }
        this.install(run);
      },
      (e: unknown) => {
        if (this.stopped || run.aborted) return;
        const code = run.superseded ? "update-superseded" : errorCode(e);
        if (!run.superseded) {
          this.run = undefined;
          // Whatever was written can never boot.
          if (this.job !== undefined) this.clearJob(true);
        }
        this.log(`manifest ${run.manifest.sequenceNumber} refused: ${code}: ${(e as Error)?.message ?? e}`);
        this.refuse(run.rollout, run.manifest.sequenceNumber, code);
      },
    );
  }

  /** Every check passed: the trial is recorded, then marked, and the device restarts into it. */
  private install(run: Run): void {
    const job = this.job as JobRecord;
    this.status(run, "verified", 100);
    this.saveJob({ ...job, offset: job.size, phase: "trial" });
    this.o.port.markTrial();
    this.status(run, "installed", 100);
    this.log(`manifest ${run.manifest.sequenceNumber} installed; restarting into it on trial`);
    this.restartWhenDelivered();
  }

  /** Restarts once the statuses reached the broker, or after the grace period (offline: they are lost with the restart). */
  private restartWhenDelivered(): void {
    const until = this.o.clock.monotonic() + (this.o.restartGraceMs ?? 5000);
    const check = () => {
      if (this.stopped) return;
      if (this.link.pending === 0 || this.o.clock.monotonic() >= until) {
        this.stopped = true;
        this.o.port.restart();
      } else this.o.timers.set(check, 100);
    };
    check();
  }

  // ---- trust updates ----

  private onTrust(message: Uint8Array): void {
    let rollout: string;
    let bytes: Uint8Array;
    try {
      ({ rollout, trust: bytes } = decodeTrustMessage(message, MAX_TRUST_UPDATE_BYTES));
    } catch (e) {
      this.link.refuse(errorCode(e) as ErrorCode);
      return;
    }
    const current = this.trustDocument;
    if (current === undefined) return this.refuse(rollout, undefined, "update-no-trust");
    // Not while an update is in progress: its envelope was verified under the trust in force.
    if (this.job !== undefined || this.run !== undefined) return this.refuse(rollout, undefined, "update-busy");
    let next: UpdateTrustDocument;
    try {
      next = acceptTrustUpdate(this.o.crypto, bytes, current);
    } catch (e) {
      return this.refuse(rollout, undefined, errorCode(e));
    }
    this.storage.write(RECORD_KEYS.trust, encodeTrustDocument(next));
    this.trustDocument = next;
    this.log(`update trust ${next.seq}: ${next.keys.length} keys, threshold ${next.threshold}, minimum epoch ${next.minEpoch}`);
    this.link.publish("update", { rollout, trust: next.seq, state: "trusted", progress: 100 });
  }

  // ---- restarts ----

  private startup(): void {
    const job = this.job;
    const boot = this.bootInfo;
    if (job === undefined) {
      if (boot.state === "trial") this.startTrial(undefined);
      return;
    }
    if (job.phase === "download") {
      this.resume(job);
    } else if (boot.state === "trial" && boot.slot === job.slot) {
      this.startTrial(job);
    } else if (boot.slot === job.slot) {
      // Confirmed, and the restart came before the job was cleared.
      this.confirmed(job, undefined);
    } else if (boot.state === "rolled-back") {
      this.rolledBack(job, job.failure ?? (boot.reason === "rejected" ? "update-unhealthy" : "update-trial-crashed"));
    } else {
      // Recorded as trial, never marked: the slot is measured again before it is marked.
      this.resume(job);
    }
  }

  /** Goes on with a job after a restart: the stored envelope is verified again under the trust in force. */
  private resume(job: JobRecord): void {
    const envelope = this.storage.read(RECORD_KEYS.envelope);
    const trust = this.trustDocument;
    let manifest: SuitManifest;
    try {
      if (envelope === undefined || trust === undefined) fail("update-no-trust", "the update in progress can no longer be verified");
      manifest = parseManifest(this.o.crypto, verifyEnvelope(this.o.crypto, envelope, trustOf(trust), { limits: { maxEnvelopeBytes: MAX_STORAGE_VALUE } }));
      if (!bytesEqual(manifest.digest.bytes, job.manifest)) fail("storage-corrupt", "the stored envelope is not the update in progress");
    } catch (e) {
      this.clearJob(true);
      this.refuse(job.rollout, job.seq, errorCode(e));
      return;
    }
    this.log(`resuming manifest ${job.seq} (rollout ${job.rollout}) after a restart, from byte ${job.offset}`);
    this.update({ rollout: job.rollout, manifest, envelope: envelope as Uint8Array, blockSize: job.blockSize, resume: job });
  }

  /** A trial boot: the invocation procedure, then the health check within the deadline. */
  private startTrial(job: JobRecord | undefined): void {
    const previous = this.slotRecord(1 - this.bootInfo.slot);
    const previousEpoch = previous?.epoch ?? this.o.factory?.epoch ?? 0;
    if (job !== undefined && previousEpoch < this.minimumSecurityEpoch) {
      // The build to return to is below the minimum epoch: no rollback to it, ever. Kept at once, so
      // that not even a crash now rolls back.
      this.o.port.confirm();
      this.log(`the previous build (epoch ${previousEpoch}) is below the minimum epoch ${this.minimumSecurityEpoch}: the trial build is kept`);
      this.confirmed(job, "update-no-rollback");
      return;
    }
    const deadline = this.o.timers.set(() => this.giveUp("update-unhealthy"), this.o.healthDeadlineMs ?? 60_000);
    this.trial = { deadline, checking: job !== undefined };
    if (job === undefined) return;
    // The manifest again, now as the running build's: validate is image-match of what runs.
    const envelope = this.storage.read(RECORD_KEYS.envelope);
    const trust = this.trustDocument;
    try {
      if (envelope === undefined || trust === undefined) fail("update-no-trust", "the trial build's manifest can no longer be verified");
      const manifest = parseManifest(this.o.crypto, verifyEnvelope(this.o.crypto, envelope, trustOf(trust), { limits: { maxEnvelopeBytes: MAX_STORAGE_VALUE } }));
      this.procedure = "invoke";
      processManifest(manifest, this, "invoke").then(
        () => {
          if (!this.trial) return;
          this.trial.checking = false;
          this.healthCheck();
        },
        (e: unknown) => this.giveUp(errorCode(e)),
      );
    } catch (e) {
      this.giveUp(errorCode(e));
    }
  }

  /** Online, the invocation passed, the doors' self-tests and the app's check pass: confirm; else try again until the deadline. */
  private healthCheck(): void {
    const trial = this.trial;
    if (!trial || trial.checking || this.stopped || this.link.state !== "online") return;
    if (trial.retry !== undefined) this.o.timers.clear(trial.retry);
    trial.retry = undefined;
    const failures = this.link.selfTest();
    const failure = failures.length > 0 ? `${failures[0].door}.${failures[0].op}: ${failures[0].code}` : this.o.healthCheck?.();
    if (failure !== undefined) {
      this.log(`health check: ${failure}; again in ${this.o.healthRetryMs ?? 2000} ms`);
      trial.retry = this.o.timers.set(() => this.healthCheck(), this.o.healthRetryMs ?? 2000);
      return;
    }
    this.endTrialTimers();
    this.o.port.confirm();
    this.log("health check passed: the trial build is confirmed");
    if (this.job !== undefined) this.confirmed(this.job, undefined);
  }

  /** The trial build failed: recorded, rolled back, restarted; the status follows from the previous build. */
  private giveUp(code: string): void {
    if (this.stopped || !this.trial) return;
    this.endTrialTimers();
    this.log(`the trial build failed (${code}): rolling back`);
    if (this.job !== undefined) this.saveJob({ ...this.job, failure: code });
    this.o.port.rollback();
    this.stopped = true;
    this.o.port.restart();
  }

  private endTrialTimers(): void {
    if (!this.trial) return;
    this.o.timers.clear(this.trial.deadline);
    if (this.trial.retry !== undefined) this.o.timers.clear(this.trial.retry);
    this.trial = undefined;
  }

  private confirmed(job: JobRecord, code: string | undefined): void {
    this.clearJob(false);
    const fields: PublicationFields<"update"> = { rollout: job.rollout, manifest: job.seq, state: "confirmed", progress: 100 };
    this.link.publish("update", code === undefined ? fields : { ...fields, code });
  }

  private rolledBack(job: JobRecord, code: string): void {
    this.clearJob(true);
    this.link.refuse(code as ErrorCode);
    this.link.publish("update", { rollout: job.rollout, manifest: job.seq, state: "rolled-back", progress: 100, code });
  }

  // ---- records and statuses ----

  private loadTrust(provisioned: UpdateTrustDocument | undefined): UpdateTrustDocument | undefined {
    const bytes = this.storage.read(RECORD_KEYS.trust);
    const stored = bytes === undefined ? undefined : decodeTrustDocument(bytes);
    if (provisioned !== undefined && (stored === undefined || provisioned.seq > stored.seq)) {
      this.storage.write(RECORD_KEYS.trust, encodeTrustDocument(provisioned));
      return provisioned;
    }
    return stored;
  }

  private slotRecord(slot: number): SlotRecord | undefined {
    return readSlotRecord(this.storage, slot);
  }

  private saveJob(job: JobRecord): void {
    writeJob(this.storage, job);
    this.job = job;
  }

  /** Ends the job; `discard`: what its slot holds can never boot (the slot is emptied, its record removed). */
  private clearJob(discard: boolean): void {
    const job = this.job;
    if (discard) {
      this.o.port.discard();
      if (job !== undefined) this.storage.remove(RECORD_KEYS.slot[job.slot]);
    }
    this.storage.remove(RECORD_KEYS.job);
    this.storage.remove(RECORD_KEYS.envelope);
    this.job = undefined;
  }

  private status(run: Run, state: UpdateState, progress: number): void {
    this.link.publish("update", { rollout: run.rollout, manifest: run.manifest.sequenceNumber, state, progress });
  }

  /**
   * A refusal: a security event, and the refused status when the event passed the rate limit. It names
   * the manifest when it was verified and read; a refusal before that (or of a trust update) names none.
   */
  private refuse(rollout: string, manifest: number | undefined, code: string): void {
    if (!this.link.refuse(code as ErrorCode)) return;
    const fields: PublicationFields<"update"> = { rollout, state: "refused", progress: 0, code };
    this.link.publish("update", manifest === undefined ? fields : { ...fields, manifest });
  }

  private log(line: string): void {
    this.o.log?.(line);
  }
}

function percent(part: number, whole: number): number {
  return whole === 0 ? 100 : Math.floor((part * 100) / whole);
}
