// What the update agent keeps in the device's storage (each value written atomically by the StoragePort;
// keys within its 15 characters):
//
//   upd.trust   the update trust document in force (sdk/update/trust.ts)
//   upd.slot0   what slot 0 holds (or is being written with): the manifest's seq, the build's security
//   upd.slot1   epoch, the image's size and SHA-256; none for a build no manifest installed (the factory one)
//   upd.job     the update in progress: its rollout, target slot, manifest, image, progress and phase
//   upd.env     the envelope of that update, re-verified after a restart before it is used again
//
// Records are CBOR maps with text keys, read strictly: a damaged one is storage-corrupt, never a guess.

import { fail } from "../errors";
import { decode } from "../cbor/decode";
import { encode } from "../cbor/encode";
import type { CborMap, CborObject, CborValue } from "../cbor/types";
import type { StoragePort } from "../ports/storage";

export const RECORD_KEYS = { trust: "upd.trust", job: "upd.job", envelope: "upd.env", slot: ["upd.slot0", "upd.slot1"] } as const;

export interface SlotRecord {
  /** The sequence number of the manifest that installed it. */
  readonly seq: number;
  /** The build's security epoch. */
  readonly epoch: number;
  readonly size: number;
  /** SHA-256 of the image. */
  readonly digest: Uint8Array;
}

/** download: the image is being written. trial: it was verified and marked to boot on trial. */
export type JobPhase = "download" | "trial";

export interface JobRecord {
  readonly rollout: string;
  /** The slot the image goes to. */
  readonly slot: number;
  /** The manifest's sequence number and SHA-256 (the digest names the manifest: a re-offer is recognised by it). */
  readonly seq: number;
  readonly manifest: Uint8Array;
  readonly size: number;
  readonly blockSize: number;
  /** Bytes written, synced and hashed: a restart re-hashes them and goes on. */
  readonly offset: number;
  readonly phase: JobPhase;
  /** Why the agent gave the trial build up (before the restart that rolls it back). */
  readonly failure?: string;
}

const SLOT_FIELDS: readonly (readonly [string, "uint" | "bytes" | "text"])[] = [
  ["seq", "uint"],
  ["epoch", "uint"],
  ["size", "uint"],
  ["digest", "bytes"],
];
const JOB_FIELDS: readonly (readonly [string, "uint" | "bytes" | "text"])[] = [
  ["rollout", "text"],
  ["slot", "uint"],
  ["seq", "uint"],
  ["manifest", "bytes"],
  ["size", "uint"],
  ["blockSize", "uint"],
  ["offset", "uint"],
  ["phase", "text"],
];

function read(storage: StoragePort, key: string, fields: readonly (readonly [string, string])[], optional: readonly string[]): Record<string, CborValue> | undefined {
  const bytes = storage.read(key);
  if (bytes === undefined) return undefined;
  let map: CborValue;
  try {
    map = decode(bytes, { maxLength: 512, maxStringLength: 128, maxDepth: 2, maxItems: 32 });
  } catch (e) {
    return fail("storage-corrupt", `${key} does not parse: ${(e as Error).message}`);
  }
  if (!(map instanceof Map)) return fail("storage-corrupt", `${key} is not a map`);
  const out: Record<string, CborValue> = {};
  for (const [name, type] of fields) {
    const value = (map as CborMap).get(name);
    const fits = type === "uint" ? typeof value === "number" && Number.isSafeInteger(value) && value >= 0 : type === "bytes" ? value instanceof Uint8Array : typeof value === "string";
    if (!fits) fail("storage-corrupt", `${key}: ${name} is not ${type}`);
    out[name] = value;
  }
  for (const name of optional) {
    const value = (map as CborMap).get(name);
    if (value !== undefined && typeof value !== "string") fail("storage-corrupt", `${key}: ${name} is not text`);
    if (value !== undefined) out[name] = value;
  }
  if ((map as CborMap).size !== Object.keys(out).length) fail("storage-corrupt", `${key} has fields it should not`);
  return out;
}

export function readSlotRecord(storage: StoragePort, slot: number): SlotRecord | undefined {
  return read(storage, RECORD_KEYS.slot[slot], SLOT_FIELDS, []) as SlotRecord | undefined;
}

export function writeSlotRecord(storage: StoragePort, slot: number, record: SlotRecord): void {
  storage.write(RECORD_KEYS.slot[slot], encode({ seq: record.seq, epoch: record.epoch, size: record.size, digest: record.digest }));
}

export function readJob(storage: StoragePort): JobRecord | undefined {
  const job = read(storage, RECORD_KEYS.job, JOB_FIELDS, ["failure"]) as JobRecord | undefined;
  if (job && ((job.phase !== "download" && job.phase !== "trial") || job.slot > 1)) fail("storage-corrupt", `${RECORD_KEYS.job}: phase ${job.phase}, slot ${job.slot}`);
  return job;
}

export function writeJob(storage: StoragePort, job: JobRecord): void {
  const map: CborObject = {
    rollout: job.rollout,
    slot: job.slot,
    seq: job.seq,
    manifest: job.manifest,
    size: job.size,
    blockSize: job.blockSize,
    offset: job.offset,
    phase: job.phase,
  };
  if (job.failure !== undefined) map.failure = job.failure;
  storage.write(RECORD_KEYS.job, encode(map));
}
