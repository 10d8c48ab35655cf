// The JavaScript shape of CBOR data items (RFC 8949 section 2).
//
//   unsigned / negative integer -> number when it is a safe integer, otherwise bigint
//   byte string                 -> Uint8Array
//   text string                 -> string
//   array                       -> CborValue[]
//   map                         -> Map (keys: integers or text); the encoder also takes plain objects
//   tag                         -> CborTag (tags 2 and 3, bignums, become bigint)
//   false / true / null / undefined -> the JavaScript values of those names
//   other simple values         -> CborSimple
//   float                       -> number, or CborFloat when the caller must keep "this was a float"

export type CborKey = number | bigint | string;

export type CborValue =
  | number
  | bigint
  | string
  | boolean
  | null
  | undefined
  | Uint8Array
  | CborValue[]
  | CborMap
  | CborObject
  | CborTag
  | CborSimple
  | CborFloat;

export type CborMap = Map<CborKey, CborValue>;

/** A plain object is encoded as a map with text keys. The decoder always returns a Map. */
export interface CborObject {
  [key: string]: CborValue;
}

export class CborTag {
  readonly tag: number | bigint;
  readonly value: CborValue;
  constructor(tag: number | bigint, value: CborValue) {
    this.tag = tag;
    this.value = value;
  }
}

/** A simple value other than false, true, null and undefined (RFC 8949 section 3.3). */
export class CborSimple {
  readonly value: number;
  constructor(value: number) {
    this.value = value;
  }
}

/**
 * A number that is a float on the wire. Plain numbers that are whole encode as integers; wrap a
 * number in CborFloat to encode 1.0 as a float. The decoder returns CborFloat only when asked
 * (`keepFloats`), so that diagnostic notation and exact round trips can tell 1.0 from 1.
 */
export class CborFloat {
  readonly value: number;
  constructor(value: number) {
    this.value = value;
  }
}

/** Limits that bound the work and memory of one decode. Every limit has a safe default. */
export interface DecodeLimits {
  /** Nesting of arrays, maps and tags. */
  maxDepth: number;
  /** Data items in total, nested ones included. */
  maxItems: number;
  /** Bytes in one byte or text string. */
  maxStringLength: number;
  /** Bytes of the whole encoded input. */
  maxLength: number;
}

export const DEFAULT_DECODE_LIMITS: Readonly<DecodeLimits> = Object.freeze({
  maxDepth: 16,
  maxItems: 1024,
  maxStringLength: 16384,
  maxLength: 65536,
});

export interface DecodeOptions extends Partial<DecodeLimits> {
  /**
   * Refuse maps whose keys are not in deterministic order (RFC 8949 section 4.2.1). On by default:
   * everything Gatehouse signs is deterministic, and one accepted encoding per value leaves no room
   * for malleability.
   */
  requireSortedKeys?: boolean;
  /** Return floats as CborFloat instead of number. */
  keepFloats?: boolean;
}
