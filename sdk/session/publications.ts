// Device publications (docs/protocol.md section 4): one body type per kind, encoded and decoded by one
// table, so the device that builds a publication and every receiver that checks one (the fleet server,
// the command client, `gatehouse events`) agree on every field, its type and its limits.
//
// A kind is one entry of KINDS plus its body type in PublicationBodies: its topic under
// <prefix>/<device>/, the external AAD its signature binds (so a signature made for one kind never passes
// as another), whether it is numbered in the device's publication stream (`stream`, `index`), whether
// it is retained, and its fields. Every kind carries `device` and `seq`; numbered kinds also `stream` and
// `index`.
//
//   encodePublication(kind, body)   checks every field against the table, then encodes (the device)
//   decodePublication(kind, map)    checks the same fields, then gives the typed body (receivers)
//   signPublication / openPublication   the same, inside a COSE_Sign1 by the device key
//   verifyPublication               the signature, `device` and `seq` only: a receiver that must move its
//                                   replay window before it judges the rest (the fleet server) calls
//                                   decodePublication after it
//
// What either side refuses is `publication-malformed` with a message naming the field; unknown fields are
// refused too, as in the command envelope: no field goes unchecked. Optional fields are absent when they
// do not apply, never null or undefined. Limits are the constants below; PUBLICATION_LIMITS bounds the
// decoder.

import { fail } from "../errors";
import { decode } from "../cbor/decode";
import { encode, utf8 } from "../cbor/encode";
import type { CborMap, CborObject, CborValue } from "../cbor/types";
import { parseSign1, sign1, verifySign1 } from "../cose/sign1";
import type { CoseKey } from "../cose/key";
import type { CryptoPort } from "../ports/crypto";

/** Decoder limits of a publication payload (the encoder refuses a payload longer than maxLength). */
export const PUBLICATION_LIMITS = { maxDepth: 16, maxItems: 4096, maxStringLength: 8192, maxLength: 32768 };

/** Names on the wire (door, event, operation, refusal code): 1 to 64 characters, as in commands. */
export const MAX_NAME_LENGTH = 64;
/** A principal or sender: a kid in hex (kids are at most 64 bytes), "local" or "unknown". */
export const MAX_PRINCIPAL_LENGTH = 128;
/** The firmware text of a birth. */
export const MAX_FIRMWARE_LENGTH = 64;
/** A refusal's message in a result (for people; the device cuts a longer one). */
export const MAX_MESSAGE_LENGTH = 1024;
/** Door descriptions in a birth (the device registers at most this many doors). */
export const MAX_DOORS = 64;
/** Dropped-index ranges in a birth (the device merges its two oldest when there would be more). */
export const MAX_DROPPED_RANGES = 16;
/** Kinds in a birth's `dropped` counts. */
const MAX_DROPPED_KINDS = 16;
/** The bytes of a result's `ref`: the first 8 of SHA-256 of the command message. */
export const REF_LENGTH = 8;

/** Fields every publication carries. */
export interface PublicationHeader {
  /** The device id: equal to the topic's and to the signing key's. */
  readonly device: string;
  /** The device's publication sequence number (across every kind, never reused). */
  readonly seq: number;
}

/** Results, telemetry and events: their place in the device's publication stream. */
export interface StreamPosition {
  /** The boot they were made in: the first `seq` of that boot. */
  readonly stream: number;
  /** 0, 1, 2, ... within the stream, none skipped. */
  readonly index: number;
}

export interface BirthBody extends PublicationHeader {
  /** The `seq` of the death (will) signed at this connect. */
  readonly session: number;
  readonly firmware: string;
  readonly patch: number;
  /** Security epoch: the minimum build generation the device accepts. */
  readonly epoch: number;
  /** Door descriptions (protocol section 5). */
  readonly doors: readonly CborValue[];
  /** Publications the offline queue dropped since boot, per kind. */
  readonly dropped: Readonly<Record<string, number>>;
  /** Their indices, as ascending [first, last] ranges. */
  readonly droppedRanges: readonly (readonly [number, number])[];
  readonly stream: number;
  /** The index the next result, telemetry or event of this boot will get. */
  readonly next: number;
}

export interface DeathBody extends PublicationHeader {
  readonly session: number;
}

export interface ResultBody extends PublicationHeader, StreamPosition {
  /** The first 8 bytes of SHA-256 of the command message as received. */
  readonly ref: Uint8Array;
  readonly ok: boolean;
  /** The signer's kid in hex, when the signature verified. */
  readonly sender?: string;
  /** The command's claims, when they decoded. */
  readonly cmdSeq?: number;
  readonly door?: string;
  readonly op?: string;
  /** The operation's output (ok; absent when it returns nothing). */
  readonly value?: CborValue;
  /** The refusal (not ok). */
  readonly code?: string;
  readonly message?: string;
}

export interface TelemetryBody extends PublicationHeader, StreamPosition {
  readonly door: string;
  readonly event: string;
  /** As the door's event schema. */
  readonly data: CborValue;
  /** Wall time in ms, or null without trusted time. */
  readonly time: number | null;
}

export interface EventBody extends PublicationHeader, StreamPosition {
  readonly code: string;
  readonly allowed: boolean;
  readonly principal: string;
  readonly door: string | null;
  readonly op: string | null;
  /** Wall time in ms, or null without trusted time. */
  readonly time: number | null;
  /** Milliseconds since the device started. */
  readonly uptime: number;
  /** Events the rate limit dropped since the previous one. */
  readonly suppressed: number;
}

/** The body of each kind: the one list of kinds (KINDS has an entry for each). */
export interface PublicationBodies {
  birth: BirthBody;
  death: DeathBody;
  result: ResultBody;
  telemetry: TelemetryBody;
  event: EventBody;
}

export type PublicationKind = keyof PublicationBodies;

/** A body without what the device adds itself: `device`, `seq` and the stream position. */
export type PublicationFields<K extends PublicationKind> = Omit<PublicationBodies[K], keyof PublicationHeader | keyof StreamPosition>;

// ---- fields ----

interface FieldSpec {
  /** What a value must be, for the refusal message. */
  readonly is: string;
  readonly optional?: boolean;
  /** Whether a value fits: as the decoder gives it (maps as Map) or as the encoder takes it (plain objects too). */
  check(value: CborValue): boolean;
  /** The body's form of a decoded value (default: as decoded). */
  read?(value: CborValue): unknown;
}

function isUint(value: CborValue): boolean {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function isMap(value: CborValue): value is CborMap | CborObject {
  return value instanceof Map || (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype);
}

/** The entries of a map, decoded (Map) or about to be encoded (plain object). */
function entriesOf(value: CborMap | CborObject): [unknown, CborValue][] {
  return value instanceof Map ? Array.from(value.entries()) : Object.entries(value);
}

const uint: FieldSpec = { is: "an unsigned integer", check: isUint };
const bool: FieldSpec = { is: "a boolean", check: (v) => typeof v === "boolean" };
/** Any CBOR value (a door's data or output); it is the door schema's to check, at the device. */
const any: FieldSpec = { is: "a CBOR value", check: () => true };
/** Milliseconds that may have a fraction (a monotonic clock's). */
const millis: FieldSpec = { is: "a non-negative number", check: (v) => typeof v === "number" && Number.isFinite(v) && v >= 0 };

function text(min: number, max: number): FieldSpec {
  return { is: `text of ${min} to ${max} characters`, check: (v) => typeof v === "string" && v.length >= min && v.length <= max };
}

function bytes(length: number): FieldSpec {
  return { is: `${length} bytes`, check: (v) => v instanceof Uint8Array && v.length === length };
}

function nullable(spec: FieldSpec): FieldSpec {
  return { is: `${spec.is} or null`, check: (v) => v === null || spec.check(v) };
}

function optional(spec: FieldSpec): FieldSpec {
  return { ...spec, optional: true };
}

const name = text(1, MAX_NAME_LENGTH);
const KIND_NAME = /^[a-z][a-z0-9-]{0,31}$/;

/** Counts per kind: a map of kind names to unsigned integers. */
const counts: FieldSpec = {
  is: `a map of at most ${MAX_DROPPED_KINDS} kind names to counts`,
  check: (v) => {
    if (!isMap(v)) return false;
    const entries = entriesOf(v);
    return entries.length <= MAX_DROPPED_KINDS && entries.every(([k, n]) => typeof k === "string" && KIND_NAME.test(k) && isUint(n));
  },
  read: (v) => {
    const out: Record<string, number> = {};
    for (const [k, n] of entriesOf(v as CborMap)) out[k as string] = n as number;
    return out;
  },
};

/** Index ranges: [first, last] pairs, first <= last, ascending and disjoint. */
const ranges: FieldSpec = {
  is: `a list of at most ${MAX_DROPPED_RANGES} ascending, disjoint [first, last] index ranges`,
  check: (v) => {
    if (!Array.isArray(v) || v.length > MAX_DROPPED_RANGES) return false;
    let floor = 0;
    for (const item of v) {
      if (!Array.isArray(item) || item.length !== 2 || !isUint(item[0]) || !isUint(item[1])) return false;
      const first = item[0] as number;
      const last = item[1] as number;
      if (first < floor || last < first) return false;
      floor = last + 1;
    }
    return true;
  },
  read: (v) => (v as number[][]).map(([first, last]) => [first, last]),
};

/** Door descriptions: maps with a text `name` (their schema is the device's, protocol section 5). */
const doors: FieldSpec = {
  is: `a list of at most ${MAX_DOORS} door descriptions (maps with a text name)`,
  check: (v) => {
    if (!Array.isArray(v) || v.length > MAX_DOORS) return false;
    return v.every((door) => isMap(door) && name.check(door instanceof Map ? door.get("name") : (door as CborObject).name));
  },
};

// ---- kinds ----

interface KindSpec {
  /** The topic under <prefix>/<device>/. */
  readonly topic: string;
  /** External AAD of the signature (UTF-8 text "gatehouse <kind> v1"). */
  readonly aad: string;
  /** Numbered in the publication stream: carries `stream` and `index`. */
  readonly numbered: boolean;
  /** Published retained (the device's current state, for receivers that start later). */
  readonly retained: boolean;
  /** Its own fields (`device`, `seq`, `stream` and `index` are added). */
  readonly fields: Readonly<Record<string, FieldSpec>>;
  /** A rule across fields, once each fits; returns what is wrong. */
  readonly rule?: (get: (field: string) => CborValue) => string | undefined;
}

const KINDS: { readonly [K in PublicationKind]: KindSpec } = {
  birth: {
    topic: "birth",
    aad: "gatehouse birth v1",
    numbered: false,
    retained: true,
    fields: {
      session: uint,
      firmware: text(1, MAX_FIRMWARE_LENGTH),
      patch: uint,
      epoch: uint,
      doors,
      dropped: counts,
      droppedRanges: ranges,
      stream: uint,
      next: uint,
    },
  },
  death: { topic: "death", aad: "gatehouse death v1", numbered: false, retained: true, fields: { session: uint } },
  result: {
    topic: "result",
    aad: "gatehouse result v1",
    numbered: true,
    retained: false,
    fields: {
      ref: bytes(REF_LENGTH),
      ok: bool,
      sender: optional(text(1, MAX_PRINCIPAL_LENGTH)),
      cmdSeq: optional(uint),
      door: optional(name),
      op: optional(name),
      value: optional(any),
      code: optional(name),
      message: optional(text(0, MAX_MESSAGE_LENGTH)),
    },
    rule: (get) => {
      if (get("ok") === true) return get("code") !== undefined || get("message") !== undefined ? "an ok result has a code or message" : undefined;
      if (get("value") !== undefined) return "a refused result has a value";
      return get("code") === undefined || get("message") === undefined ? "a refused result has no code or no message" : undefined;
    },
  },
  telemetry: {
    topic: "telemetry",
    aad: "gatehouse telemetry v1",
    numbered: true,
    retained: false,
    fields: { door: name, event: name, data: any, time: nullable(uint) },
  },
  event: {
    topic: "events",
    aad: "gatehouse event v1",
    numbered: true,
    retained: false,
    fields: {
      code: name,
      allowed: bool,
      principal: text(1, MAX_PRINCIPAL_LENGTH),
      door: nullable(name),
      op: nullable(name),
      time: nullable(uint),
      uptime: millis,
      suppressed: uint,
    },
  },
};

const HEADER_FIELDS: Readonly<Record<string, FieldSpec>> = { device: text(1, MAX_NAME_LENGTH), seq: uint };
const STREAM_FIELDS: Readonly<Record<string, FieldSpec>> = { stream: uint, index: uint };

/** Every field of a kind, the common ones included (built once per kind, on first use). */
const allFields: Partial<Record<PublicationKind, Readonly<Record<string, FieldSpec>>>> = {};

function fieldsOf(kind: PublicationKind): Readonly<Record<string, FieldSpec>> {
  let fields = allFields[kind];
  if (!fields) {
    const spec = KINDS[kind];
    fields = allFields[kind] = { ...HEADER_FIELDS, ...(spec.numbered ? STREAM_FIELDS : {}), ...spec.fields };
  }
  return fields;
}

/** Every kind, in the table's order. */
export const PUBLICATION_KINDS = Object.keys(KINDS) as PublicationKind[];

export function isPublicationKind(kind: string): kind is PublicationKind {
  return Object.prototype.hasOwnProperty.call(KINDS, kind);
}

/** The topic of a kind under <prefix>/<device>/ ("events" for kind "event"). */
export function topicOf(kind: PublicationKind): string {
  return KINDS[kind].topic;
}

/** The kind published on `topic` under <prefix>/<device>/, or undefined. */
export function kindOfTopic(topic: string): PublicationKind | undefined {
  for (const kind of PUBLICATION_KINDS) if (KINDS[kind].topic === topic) return kind;
  return undefined;
}

/** Whether a kind is numbered in the publication stream (results, telemetry, events). */
export function isNumbered(kind: PublicationKind): boolean {
  return KINDS[kind].numbered;
}

export function isRetained(kind: PublicationKind): boolean {
  return KINDS[kind].retained;
}

/** The external AAD of a kind's signature. */
export function publicationAad(kind: PublicationKind): Uint8Array {
  return utf8(KINDS[kind].aad);
}

// ---- the codec ----

function malformed(kind: PublicationKind, what: string): never {
  return fail("publication-malformed", `${kind} ${what}`);
}

function checkRule(kind: PublicationKind, get: (field: string) => CborValue): void {
  const problem = KINDS[kind].rule?.(get);
  if (problem !== undefined) malformed(kind, `is inconsistent: ${problem}`);
}

/**
 * The CBOR payload of a publication: every field of its kind checked (code publication-malformed), only
 * those fields encoded, optional ones left out when undefined.
 */
export function encodePublication<K extends PublicationKind>(kind: K, body: PublicationBodies[K]): Uint8Array {
  const fields = fieldsOf(kind);
  const source = body as unknown as Record<string, CborValue>;
  const out: CborObject = {};
  for (const field of Object.keys(fields)) {
    const spec = fields[field];
    const value = source[field];
    if (value === undefined && spec.optional) continue;
    if (!spec.check(value)) malformed(kind, value === undefined ? `has no ${field}` : `${field} is not ${spec.is}`);
    out[field] = value;
  }
  checkRule(kind, (field) => out[field]);
  const payload = encode(out);
  if (payload.length > PUBLICATION_LIMITS.maxLength) malformed(kind, `is ${payload.length} bytes, more than ${PUBLICATION_LIMITS.maxLength}`);
  return payload;
}

/** The typed body of a decoded payload map: every field checked, unknown fields refused (publication-malformed). */
export function decodePublication<K extends PublicationKind>(kind: K, payload: CborMap): PublicationBodies[K] {
  const fields = fieldsOf(kind);
  for (const key of payload.keys()) {
    if (typeof key !== "string" || !Object.prototype.hasOwnProperty.call(fields, key)) malformed(kind, `has an unknown field ${typeof key === "string" ? JSON.stringify(key) : String(key)}`);
  }
  const body: Record<string, unknown> = {};
  for (const field of Object.keys(fields)) {
    const spec = fields[field];
    if (!payload.has(field)) {
      if (spec.optional) continue;
      malformed(kind, `has no ${field}`);
    }
    const value = payload.get(field) as CborValue;
    // An optional field is left out when it does not apply: undefined on the wire is not "absent".
    if (!spec.check(value) || (spec.optional && value === undefined)) malformed(kind, `${field} is not ${spec.is}`);
    body[field] = spec.read ? spec.read(value) : value;
  }
  checkRule(kind, (field) => payload.get(field));
  return body as unknown as PublicationBodies[K];
}

/** Encodes and signs a publication with the device key, binding its kind through the external AAD. */
export function signPublication<K extends PublicationKind>(crypto: CryptoPort, deviceKey: CoseKey, kind: K, body: PublicationBodies[K]): Uint8Array {
  return sign1(crypto, deviceKey, encodePublication(kind, body), { externalAad: publicationAad(kind) });
}

/** The payload map of a publication whose header names `deviceId` and has a valid `seq`. */
function headerChecked(kind: PublicationKind, payload: Uint8Array, deviceId: string): CborMap {
  const body = decode(payload, PUBLICATION_LIMITS);
  if (!(body instanceof Map)) return malformed(kind, "payload is not a map");
  if (body.get("device") !== deviceId) fail("wrong-device", `${kind} names device ${String(body.get("device"))}, not ${deviceId}`);
  if (!uint.check(body.get("seq") as CborValue)) malformed(kind, "has no valid seq");
  return body;
}

/**
 * Verifies a publication's signature with the device key (and the AAD of `kind`), and checks that it
 * names `deviceId` and has a valid `seq`; the rest is not judged yet (decodePublication does that).
 */
export function verifyPublication(crypto: CryptoPort, message: Uint8Array, deviceKey: CoseKey, kind: PublicationKind, deviceId: string): CborMap {
  const verified = verifySign1(crypto, message, deviceKey, { tag: "required", externalAad: publicationAad(kind), limits: PUBLICATION_LIMITS });
  return headerChecked(kind, verified.payload, deviceId);
}

/** Verifies a publication and gives its typed body (verifyPublication, then decodePublication). */
export function openPublication<K extends PublicationKind>(crypto: CryptoPort, message: Uint8Array, deviceKey: CoseKey, kind: K, deviceId: string): PublicationBodies[K] {
  return decodePublication(kind, verifyPublication(crypto, message, deviceKey, kind, deviceId));
}

/**
 * The typed body of a publication WITHOUT checking its signature: for a receiver that has no key for the
 * device and says so (the command client's unverified replies). Anyone who can publish could have written it.
 */
export function readUnverifiedPublication<K extends PublicationKind>(message: Uint8Array, kind: K, deviceId: string): PublicationBodies[K] {
  const parts = parseSign1(message, { tag: "required", limits: PUBLICATION_LIMITS });
  if (parts.payload === null) return fail("cose-detached-payload", `${kind} has no payload`);
  return decodePublication(kind, headerChecked(kind, parts.payload, deviceId));
}
