// The transfer's messages under <prefix>/<device>/update/ (docs/protocol.md section 8), CBOR maps with
// text keys, each read strictly (deterministic CBOR, exactly its fields, every length bounded):
//
//   offer  server -> device, QoS 1   { "rollout": text, "envelope": bstr, ? "blockSize": uint }
//   stop   server -> device, QoS 1   { "rollout": text, "stop": true }   (on the offer topic)
//   trust  server -> device, QoS 1   { "rollout": text, "trust": bstr }
//   get    device -> server, QoS 0   { "rollout": text, "offset": uint, "length": uint }
//   block  server -> device, QoS 0   { "rollout": text, "offset": uint, "data": bstr }
//
// None of them is signed: the envelope in an offer is (k of n), and it fixes the image's size and digest,
// which every block is checked against; a trust update carries its own signatures. A stale offer is
// refused by its manifest's sequence number. A stop (the server aborted the rollout) can only end a
// download in progress of the rollout it names: it never installs anything nor touches a build that was
// installed, and withholding blocks, which anyone who can publish there could do, ends a download too.
// It travels on the offer topic so that it stays in order behind the offer it cancels (MQTT keeps the
// order of one topic) and needs no broker rule of its own. Device-safe.
//
// Refusals (stable code): update-offer-malformed.

import { fail } from "../errors";
import { decode } from "../cbor/decode";
import { encode } from "../cbor/encode";
import type { CborMap, CborValue } from "../cbor/types";

/** The topic levels under <prefix>/<device>/update/. */
export const UPDATE_TOPICS = { offer: "offer", trust: "trust", get: "get", block: "block", status: "status" } as const;

/** Rollout names: text of 1 to 64 characters (a publication's name field). */
export const MAX_ROLLOUT = 64;
/** Block sizes a sender may ask for; the device clamps to its own maximum. */
export const MIN_BLOCK_SIZE = 64;
export const MAX_BLOCK_SIZE = 65536;
/** What a block message adds around its data. */
const BLOCK_OVERHEAD = 128;
/** The longest stop message (a rollout of 64 characters, each up to 4 UTF-8 bytes, and the "stop" field). */
const MAX_STOP_BYTES = 4 * MAX_ROLLOUT + 16;

export interface Offer {
  readonly rollout: string;
  readonly envelope: Uint8Array;
  readonly blockSize?: number;
}

/** The server stopped (aborted) a rollout: a device downloading it cancels the download. */
export interface Stop {
  readonly rollout: string;
}

export interface TrustMessage {
  readonly rollout: string;
  readonly trust: Uint8Array;
}

export interface BlockRequest {
  readonly rollout: string;
  readonly offset: number;
  readonly length: number;
}

export interface Block {
  readonly rollout: string;
  readonly offset: number;
  readonly data: Uint8Array;
}

function malformed(what: string, why: string): never {
  return fail("update-offer-malformed", `${what}: ${why}`);
}

/** A map of exactly `fields` (those after `optional` may be absent), or update-offer-malformed. */
function readMap(bytes: Uint8Array, what: string, maxLength: number, fields: readonly string[], required: number): CborMap {
  let value: CborValue;
  try {
    value = decode(bytes, { maxLength, maxStringLength: maxLength, maxDepth: 2, maxItems: 16 });
  } catch (e) {
    return malformed(what, (e as Error).message);
  }
  if (!(value instanceof Map)) return malformed(what, "not a map");
  for (const key of value.keys()) if (typeof key !== "string" || fields.indexOf(key) < 0) malformed(what, `unknown field ${String(key)}`);
  for (let i = 0; i < required; i++) if (!value.has(fields[i])) malformed(what, `no ${fields[i]}`);
  const rollout = value.get("rollout");
  if (typeof rollout !== "string" || rollout.length === 0 || rollout.length > MAX_ROLLOUT) malformed(what, `rollout must be text of 1 to ${MAX_ROLLOUT} characters`);
  return value;
}

function uint(map: CborMap, field: string, what: string): number {
  const value = map.get(field);
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) return malformed(what, `${field} is not an unsigned integer`);
  return value;
}

function bytes(map: CborMap, field: string, what: string): Uint8Array {
  const value = map.get(field);
  if (!(value instanceof Uint8Array)) return malformed(what, `${field} is not a byte string`);
  return value;
}

export function encodeOffer(offer: Offer): Uint8Array {
  return encode(offer.blockSize === undefined ? { rollout: offer.rollout, envelope: offer.envelope } : { rollout: offer.rollout, envelope: offer.envelope, blockSize: offer.blockSize });
}

/** An offer of at most `maxEnvelope` envelope bytes. */
export function decodeOffer(message: Uint8Array, maxEnvelope: number): Offer {
  const map = readMap(message, "offer", maxEnvelope + BLOCK_OVERHEAD, ["rollout", "envelope", "blockSize"], 2);
  const blockSize = map.has("blockSize") ? uint(map, "blockSize", "offer") : undefined;
  if (blockSize !== undefined && (blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE)) malformed("offer", `blockSize must be ${MIN_BLOCK_SIZE} to ${MAX_BLOCK_SIZE}`);
  return { rollout: map.get("rollout") as string, envelope: bytes(map, "envelope", "offer"), blockSize };
}

export function encodeStop(stop: Stop): Uint8Array {
  return encode({ rollout: stop.rollout, stop: true });
}

/**
 * A message on the offer topic read as a stop: undefined when it is not one (it has no "stop" field, or
 * is longer than any stop: an offer, for decodeOffer to read). A message with a "stop" field must be
 * exactly a stop, or update-offer-malformed.
 */
export function decodeStop(message: Uint8Array): Stop | undefined {
  if (message.length > MAX_STOP_BYTES) return undefined;
  let value: CborValue;
  try {
    value = decode(message, { maxLength: MAX_STOP_BYTES, maxStringLength: MAX_STOP_BYTES, maxDepth: 2, maxItems: 16 });
  } catch {
    return undefined; // not a stop; decodeOffer reports what is wrong with it
  }
  if (!(value instanceof Map) || !value.has("stop")) return undefined;
  const map = readMap(message, "stop", MAX_STOP_BYTES, ["rollout", "stop"], 2);
  if (map.get("stop") !== true) malformed("stop", "stop must be true");
  return { rollout: map.get("rollout") as string };
}

export function encodeTrustMessage(message: TrustMessage): Uint8Array {
  return encode({ rollout: message.rollout, trust: message.trust });
}

export function decodeTrustMessage(message: Uint8Array, maxTrust: number): TrustMessage {
  const map = readMap(message, "trust update message", maxTrust + BLOCK_OVERHEAD, ["rollout", "trust"], 2);
  return { rollout: map.get("rollout") as string, trust: bytes(map, "trust", "trust update message") };
}

export function encodeBlockRequest(request: BlockRequest): Uint8Array {
  return encode({ rollout: request.rollout, offset: request.offset, length: request.length });
}

export function decodeBlockRequest(message: Uint8Array): BlockRequest {
  const map = readMap(message, "block request", 256, ["rollout", "offset", "length"], 3);
  return { rollout: map.get("rollout") as string, offset: uint(map, "offset", "block request"), length: uint(map, "length", "block request") };
}

export function encodeBlock(block: Block): Uint8Array {
  return encode({ rollout: block.rollout, offset: block.offset, data: block.data });
}

/** A block of at most `maxData` bytes; its data is a view into `message`. */
export function decodeBlock(message: Uint8Array, maxData: number): Block {
  const map = readMap(message, "block", maxData + BLOCK_OVERHEAD, ["rollout", "offset", "data"], 3);
  return { rollout: map.get("rollout") as string, offset: uint(map, "offset", "block"), data: bytes(map, "data", "block") };
}
