// Device publications (docs/protocol.md section 4): one body type per kind, encoded and decoded by one
// table, so the device that builds a publication and every receiver that checks one (the fleet server,
// the command client, `gatehouse events`) agree on every field, its type and its limits.
//
// A kind is one entry of PUBLICATIONS plus its body type in PublicationBodies: its topic under
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
//   PUBLICATIONS[kind]              its topic, AAD text, numbered, retained
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

/** The limits of the fields (one object: each function of this module that reads them holds one reference). */
export const PUBLICATION_FIELD_LIMITS = {
  /** Names on the wire (door, event, operation, refusal code, device): 1 to 64 characters, as in commands. */
  name: 64,
  /** A principal or sender: a kid in hex (kids are at most 64 bytes), "local" or "unknown". */
  principal: 128,
  /** The firmware text of a birth. */
  firmware: 64,
  /** A refusal's message in a result (for people; the device cuts a longer one). */
  message: 1024,
  /** Door descriptions in a birth (the device registers at most this many doors). */
  doors: 64,
  /** Dropped-index ranges in a birth (the device merges its two oldest when there would be more). */
  droppedRanges: 16,
  /** Kinds in a birth's `dropped` counts. */
  droppedKinds: 16,
  /** The bytes of a result's `ref`: the first 8 of SHA-256 of the command message. */
  ref: 8,
  /** A vendor or class id in a birth's `update`: a UUID. */
  uuid: 16,
  /** An update status's `progress`: percent. */
  progress: 100,
} as const;
const L = PUBLICATION_FIELD_LIMITS;

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
  /** The installed update state, when the device runs an update agent (sdk/update). */
  readonly update?: UpdateInfo;
}

/** What a birth says of updates (the update agent's, sdk/update/agent.ts). */
export interface UpdateInfo {
  /** The device's vendor and class ids (16-byte UUIDs): what a manifest must name to be accepted. */
  readonly vendorId: Uint8Array;
  readonly classId: Uint8Array;
  /** The sequence number of the running build's manifest (0 for a build no manifest installed). */
  readonly seq: number;
  /** The running build's security epoch. */
  readonly epoch: number;
  /** The device's minimum security epoch: it refuses any build, and any rollback target, below it. */
  readonly minEpoch: number;
  /** The sequence number of the update trust in force (0: as provisioned). */
  readonly trustSeq: number;
  /** What the agent is doing: idle, downloading, trial (a new build awaits its health check), or no-trust. */
  readonly state: UpdateAgentState;
}

export type UpdateAgentState = "idle" | "downloading" | "trial" | "no-trust";
export const UPDATE_AGENT_STATES: readonly UpdateAgentState[] = ["idle", "downloading", "trial", "no-trust"];

/**
 * The steps an update status reports (protocol section 8). aborted: the server stopped the rollout while
 * the device downloaded it; the device cancelled the transfer and emptied the slot.
 */
export type UpdateState = "offered" | "downloading" | "verified" | "installed" | "confirmed" | "rolled-back" | "refused" | "trusted" | "aborted";
export const UPDATE_STATES: readonly UpdateState[] = ["offered", "downloading", "verified", "installed", "confirmed", "rolled-back", "refused", "trusted", "aborted"];

/**
 * An update status: one step of an update (an offered manifest) or of a trust update. The publication
 * kind of the update agent, a device service (sdk/device.ts attach).
 */
export interface UpdateBody extends PublicationHeader, StreamPosition {
  /** The rollout the offer (or the trust update) named: the server's name for the job. */
  readonly rollout: string;
  /** The manifest's sequence number (for a manifest's steps). */
  readonly manifest?: number;
  /** The trust document's sequence number (for a trust update's steps). */
  readonly trust?: number;
  readonly state: UpdateState;
  /** 0 to 100: the share of the image received (downloading, aborted), 100 once it is all there. */
  readonly progress: number;
  /** Why: for refused and rolled-back always; for confirmed when the build was kept without a health check. */
  readonly code?: string;
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

/** The body of each kind: the one list of kinds (PUBLICATIONS has an entry for each). */
export interface PublicationBodies {
  birth: BirthBody;
  death: DeathBody;
  result: ResultBody;
  telemetry: TelemetryBody;
  event: EventBody;
  update: UpdateBody;
}

export type PublicationKind = keyof PublicationBodies;

/** A body without what the device adds itself: `device`, `seq` and the stream position. */
export type PublicationFields<K extends PublicationKind> = Omit<PublicationBodies[K], keyof PublicationHeader | keyof StreamPosition>;

// ---- fields ----
//
// A field's type is a small number, and a kind's fields a flat list of names and types: no object or
// closure per field, and few functions. On Moddable a module's objects (functions too: about ten slots
// each) live in RAM unless it is preloaded, and an ESP32 has a few thousand slots in all; the checks are
// code, which lives in flash.

/** Field types; a const enum, so the values are written into the code (nothing for a closure to hold). */
const enum F {
  Uint = 1,
  Bool = 2,
  /** Any CBOR value (a door's data or output: the door schema's to check, at the device). */
  Any = 3,
  /** Milliseconds that may have a fraction (a monotonic clock's). */
  Millis = 4,
  /** Names on the wire: door, event, operation, code, device. */
  Name = 5,
  Principal = 6,
  Firmware = 7,
  Message = 8,
  Ref = 9,
  /** Counts per kind: a map of publication kinds to unsigned integers. */
  Counts = 10,
  /** Index ranges: [first, last] pairs, first <= last, ascending and disjoint. */
  Ranges = 11,
  /** Door descriptions: maps with a text `name` (their schema is the device's, protocol section 5). */
  Doors = 12,
  /** A birth's update state (UpdateInfo): a map of exactly its fields. */
  UpdateInfo = 13,
  /** One of UPDATE_STATES. */
  UpdateState = 14,
  /** An unsigned integer up to PUBLICATION_FIELD_LIMITS.progress. */
  Percent = 15,
  Type = 31,
  /** Flags: absent when it does not apply; or null. */
  Optional = 32,
  Nullable = 64,
}

export interface PublicationInfo {
  /** The topic under <prefix>/<device>/. */
  readonly topic: string;
  /** External AAD of the signature (UTF-8 text "gatehouse <kind> v1"). */
  readonly aad: string;
  /** Numbered in the publication stream: carries `stream` and `index`. */
  readonly numbered: boolean;
  /** Published retained (the device's current state, for receivers that start later). */
  readonly retained: boolean;
  /** Its own fields, as name, type, name, type, ... (`device`, `seq`, `stream` and `index` are added). */
  readonly fields: readonly (string | number)[];
}

/** The table of kinds: add a kind here and its body type to PublicationBodies. */
export const PUBLICATIONS: { readonly [K in PublicationKind]: PublicationInfo } = {
  birth: {
    topic: "birth",
    aad: "gatehouse birth v1",
    numbered: false,
    retained: true,
    fields: [
      "session", F.Uint,
      "firmware", F.Firmware,
      "patch", F.Uint,
      "epoch", F.Uint,
      "doors", F.Doors,
      "dropped", F.Counts,
      "droppedRanges", F.Ranges,
      "stream", F.Uint,
      "next", F.Uint,
      "update", F.UpdateInfo | F.Optional,
    ],
  },
  death: { topic: "death", aad: "gatehouse death v1", numbered: false, retained: true, fields: ["session", F.Uint] },
  // A result is ok, with an optional value, or refused, with a code and a message (checkRule).
  result: {
    topic: "result",
    aad: "gatehouse result v1",
    numbered: true,
    retained: false,
    fields: [
      "ref", F.Ref,
      "ok", F.Bool,
      "sender", F.Principal | F.Optional,
      "cmdSeq", F.Uint | F.Optional,
      "door", F.Name | F.Optional,
      "op", F.Name | F.Optional,
      "value", F.Any | F.Optional,
      "code", F.Name | F.Optional,
      "message", F.Message | F.Optional,
    ],
  },
  telemetry: {
    topic: "telemetry",
    aad: "gatehouse telemetry v1",
    numbered: true,
    retained: false,
    fields: ["door", F.Name, "event", F.Name, "data", F.Any, "time", F.Uint | F.Nullable],
  },
  event: {
    topic: "events",
    aad: "gatehouse event v1",
    numbered: true,
    retained: false,
    fields: [
      "code", F.Name,
      "allowed", F.Bool,
      "principal", F.Principal,
      "door", F.Name | F.Nullable,
      "op", F.Name | F.Nullable,
      "time", F.Uint | F.Nullable,
      "uptime", F.Millis,
      "suppressed", F.Uint,
    ],
  },
  // The update agent's (a device service): under its topic level, "update/".
  update: {
    topic: "update/status",
    aad: "gatehouse update v1",
    numbered: true,
    retained: false,
    fields: ["rollout", F.Name, "manifest", F.Uint | F.Optional, "trust", F.Uint | F.Optional, "state", F.UpdateState, "progress", F.Percent, "code", F.Name | F.Optional],
  },
};

/** The fields of a birth's `update`, each an unsigned integer but the ids (UUIDs) and the state. */
const UPDATE_INFO_FIELDS: readonly string[] = ["vendorId", "classId", "seq", "epoch", "minEpoch", "trustSeq", "state"];

/** Every kind, in the table's order. */
export const PUBLICATION_KINDS = Object.keys(PUBLICATIONS) as PublicationKind[];

/** `device` and `seq`; then, for numbered kinds, `stream` and `index`. */
const HEADER_FIELDS: readonly (string | number)[] = ["device", F.Name, "seq", F.Uint];
const STREAM_FIELDS: readonly (string | number)[] = ["stream", F.Uint, "index", F.Uint];

/** Whether a value fits a field type: as the decoder gives it (maps as Map) or as the encoder takes it (plain objects too). */
function fits(type: number, value: unknown): boolean {
  if (value === null) return (type & F.Nullable) !== 0;
  let min = 1;
  let max: number = L.name;
  switch (type & F.Type) {
    case F.Uint:
      return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
    case F.Bool:
      return typeof value === "boolean";
    case F.Any:
      return true;
    case F.Millis:
      return typeof value === "number" && Number.isFinite(value) && value >= 0;
    case F.Principal:
      max = L.principal;
      break;
    case F.Firmware:
      max = L.firmware;
      break;
    case F.Message:
      min = 0;
      max = L.message;
      break;
    case F.Ref:
      return value instanceof Uint8Array && value.length === L.ref;
    // The structured ones are checked in loops, not with every() and a nested fits(): the birth is signed
    // on the device's connect path, where every stack frame counts (a 512-slot XS stack on the ESP32).
    case F.Counts: {
      // A Map when decoded, a plain object when about to be encoded.
      const entries = value instanceof Map ? Array.from(value.entries()) : typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype ? Object.entries(value as object) : undefined;
      if (entries === undefined || entries.length > L.droppedKinds) return false;
      for (const [kind, count] of entries) {
        if (typeof kind !== "string" || !Object.prototype.hasOwnProperty.call(PUBLICATIONS, kind)) return false;
        if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 0) return false;
      }
      return true;
    }
    case F.Ranges: {
      if (!Array.isArray(value) || value.length > L.droppedRanges) return false;
      let floor = 0;
      for (const pair of value) {
        if (!Array.isArray(pair) || pair.length !== 2) return false;
        const [first, last] = pair as unknown[];
        if (typeof first !== "number" || typeof last !== "number" || !Number.isSafeInteger(first) || !Number.isSafeInteger(last) || first < floor || last < first) return false;
        floor = last + 1;
      }
      return true;
    }
    case F.UpdateInfo: {
      const get = value instanceof Map ? (k: string) => value.get(k) : typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype ? (k: string) => (value as CborObject)[k] : undefined;
      if (get === undefined) return false;
      let present = 0;
      for (const field of UPDATE_INFO_FIELDS) {
        const v = get(field);
        if (v === undefined) return false;
        present++;
        if (field === "vendorId" || field === "classId") {
          if (!(v instanceof Uint8Array) || v.length !== L.uuid) return false;
        } else if (field === "state") {
          if (typeof v !== "string" || UPDATE_AGENT_STATES.indexOf(v as UpdateAgentState) < 0) return false;
        } else if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) return false;
      }
      const size = value instanceof Map ? value.size : Object.keys(value as object).length;
      return size === present;
    }
    case F.UpdateState:
      return typeof value === "string" && UPDATE_STATES.indexOf(value as UpdateState) >= 0;
    case F.Percent:
      return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 && value <= L.progress;
    case F.Doors: {
      if (!Array.isArray(value) || value.length > L.doors) return false;
      for (const door of value) {
        const name = door instanceof Map ? door.get("name") : door !== null && typeof door === "object" && Object.getPrototypeOf(door) === Object.prototype ? (door as CborObject).name : undefined;
        if (typeof name !== "string" || name.length < 1 || name.length > L.name) return false;
      }
      return true;
    }
    case F.Name:
      break;
    default:
      return false;
  }
  return typeof value === "string" && value.length >= min && value.length <= max;
}

/** What a field type wants, for a refusal's message (made only when refusing). */
function describe(type: number): string {
  const what = [
    "",
    "an unsigned integer",
    "a boolean",
    "a CBOR value",
    "a non-negative number",
    `text of 1 to ${L.name} characters`,
    `text of 1 to ${L.principal} characters`,
    `text of 1 to ${L.firmware} characters`,
    `text of 0 to ${L.message} characters`,
    `${L.ref} bytes`,
    `a map of at most ${L.droppedKinds} publication kinds to counts`,
    `a list of at most ${L.droppedRanges} ascending, disjoint [first, last] index ranges`,
    `a list of at most ${L.doors} door descriptions (maps with a text name)`,
    `a map of ${UPDATE_INFO_FIELDS.join(", ")} (ids of ${L.uuid} bytes, state one of ${UPDATE_AGENT_STATES.join(", ")}, the others unsigned integers)`,
    `one of ${UPDATE_STATES.join(", ")}`,
    `an unsigned integer up to ${L.progress}`,
  ][type & F.Type];
  return type & F.Nullable ? `${what} or null` : what;
}

/** Every kind, in the table's order. */
export const PUBLICATION_PUBLICATIONS = Object.keys(PUBLICATIONS) as PublicationKind[];

// ---- the codec ----

/** Throws publication-malformed: `what` is wrong with a `kind`. */
function malformed(kind: PublicationKind, what: string): never {
  return fail("publication-malformed", `${kind} ${what}`);
}

/**
 * The rules across fields, once each fits: a result is ok with an optional value, or refused with a code
 * and a message; an update status is about a manifest or a trust document (one of the two), and a refusal
 * or a rollback says why.
 */
function checkRule(kind: PublicationKind, get: (field: string) => CborValue): void {
  let problem: string | undefined;
  if (kind === "update") {
    // A refusal before the manifest was verified and read (or of a trust update) names neither.
    if (get("manifest") !== undefined && get("trust") !== undefined) problem = "it names both a manifest and a trust document";
    else if (get("manifest") === undefined && get("trust") === undefined && get("state") !== "refused") problem = "it names neither a manifest nor a trust document";
    else if ((get("state") === "refused" || get("state") === "rolled-back") && get("code") === undefined) problem = `${String(get("state"))} without a code`;
    if (problem !== undefined) malformed(kind, `is inconsistent: ${problem}`);
    return;
  }
  if (kind !== "result") return;
  if (get("ok") === true) problem = get("code") !== undefined || get("message") !== undefined ? "an ok result has a code or message" : undefined;
  else if (get("value") !== undefined) problem = "a refused result has a value";
  else if (get("code") === undefined || get("message") === undefined) problem = "a refused result has no code or no message";
  if (problem !== undefined) malformed(kind, `is inconsistent: ${problem}`);
}

/**
 * The CBOR payload of a publication: every field of its kind checked (code publication-malformed), only
 * those fields encoded, optional ones left out when undefined.
 */
export function encodePublication<K extends PublicationKind>(kind: K, body: PublicationBodies[K]): Uint8Array {
  const source = body as unknown as Record<string, CborValue>;
  const out: CborObject = {};
  const spec = PUBLICATIONS[kind];
  for (const list of spec.numbered ? [HEADER_FIELDS, STREAM_FIELDS, spec.fields] : [HEADER_FIELDS, spec.fields]) {
    for (let i = 0; i < list.length; i += 2) {
      const field = list[i] as string;
      const type = list[i + 1] as number;
      const value = source[field];
      if (value === undefined && type & F.Optional) continue;
      if (!fits(type, value)) malformed(kind, value === undefined ? `has no ${field}` : `${field} is not ${describe(type)}`);
      out[field] = value;
    }
  }
  checkRule(kind, (field) => out[field]);
  const payload = encode(out);
  if (payload.length > PUBLICATION_LIMITS.maxLength) malformed(kind, `is ${payload.length} bytes, more than ${PUBLICATION_LIMITS.maxLength}`);
  return payload;
}

/** The typed body of a decoded payload map: every field checked, unknown fields refused (publication-malformed). */
export function decodePublication<K extends PublicationKind>(kind: K, payload: CborMap): PublicationBodies[K] {
  const body: Record<string, unknown> = {};
  const spec = PUBLICATIONS[kind];
  const lists = spec.numbered ? [HEADER_FIELDS, STREAM_FIELDS, spec.fields] : [HEADER_FIELDS, spec.fields];
  let known = 0;
  for (const list of lists) {
    for (let i = 0; i < list.length; i += 2) {
      const field = list[i] as string;
      const type = list[i + 1] as number;
      if (!payload.has(field)) {
        if (type & F.Optional) continue;
        malformed(kind, `has no ${field}`);
      }
      known++;
      const value = payload.get(field) as CborValue;
      // An optional field is left out when it does not apply: undefined on the wire is not "absent".
      if (!fits(type, value) || (type & F.Optional && value === undefined)) malformed(kind, `${field} is not ${describe(type)}`);
      if ((type & F.Type) === F.Counts) {
        const counts: Record<string, number> = {};
        (value as CborMap).forEach((n, k) => (counts[k as string] = n as number));
        body[field] = counts;
      } else if ((type & F.Type) === F.Ranges) {
        body[field] = (value as number[][]).map((pair) => [pair[0], pair[1]]);
      } else if ((type & F.Type) === F.UpdateInfo) {
        const info: Record<string, unknown> = {};
        (value as CborMap).forEach((v, k) => (info[k as string] = v));
        body[field] = info;
      } else {
        body[field] = value;
      }
    }
  }
  if (known !== payload.size) {
    for (const key of payload.keys()) {
      if (typeof key !== "string" || !lists.some((list) => list.indexOf(key) >= 0)) malformed(kind, `has an unknown field ${typeof key === "string" ? JSON.stringify(key) : String(key)}`);
    }
  }
  checkRule(kind, (field) => payload.get(field));
  return body as unknown as PublicationBodies[K];
}

/** Encodes and signs a publication with the device key, binding its kind through the external AAD. */
export function signPublication<K extends PublicationKind>(crypto: CryptoPort, deviceKey: CoseKey, kind: K, body: PublicationBodies[K]): Uint8Array {
  return sign1(crypto, deviceKey, encodePublication(kind, body), { externalAad: utf8(PUBLICATIONS[kind].aad) });
}

/**
 * A publication payload as a map whose header names `deviceId` and has a valid `seq`; the rest is not
 * judged yet (decodePublication does that).
 */
export function decodePublicationHeader(kind: PublicationKind, payload: Uint8Array, deviceId: string): CborMap {
  const body = decode(payload, PUBLICATION_LIMITS);
  if (!(body instanceof Map)) return malformed(kind, "payload is not a map");
  if (body.get("device") !== deviceId) fail("wrong-device", `${kind} names device ${String(body.get("device"))}, not ${deviceId}`);
  if (!fits(F.Uint, body.get("seq"))) malformed(kind, "has no valid seq");
  return body;
}

/**
 * Verifies a publication's signature with the device key (and the AAD of `kind`), and checks that it
 * names `deviceId` and has a valid `seq`; the rest is not judged yet (decodePublication does that).
 */
export function verifyPublication(crypto: CryptoPort, message: Uint8Array, deviceKey: CoseKey, kind: PublicationKind, deviceId: string): CborMap {
  const verified = verifySign1(crypto, message, deviceKey, { tag: "required", externalAad: utf8(PUBLICATIONS[kind].aad), limits: PUBLICATION_LIMITS });
  return decodePublicationHeader(kind, verified.payload, deviceId);
}

/** Verifies a publication and gives its typed body (verifyPublication, then decodePublication). */
export function openPublication<K extends PublicationKind>(crypto: CryptoPort, message: Uint8Array, deviceKey: CoseKey, kind: K, deviceId: string): PublicationBodies[K] {
  return decodePublication(kind, verifyPublication(crypto, message, deviceKey, kind, deviceId));
}
