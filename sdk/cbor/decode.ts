// Strict, bounded CBOR decoder (RFC 8949).
//
// It accepts exactly one encoding per value: the core deterministic encoding of section 4.2.1.
// Everything else is refused with a GatehouseError whose code says why:
//   cbor-truncated, cbor-trailing-bytes, cbor-indefinite-length, cbor-non-shortest,
//   cbor-reserved-info, cbor-invalid-simple, cbor-unexpected-break, cbor-invalid-utf8,
//   cbor-duplicate-key, cbor-unsorted-keys, cbor-key-type,
//   cbor-too-deep, cbor-too-many-items, cbor-string-too-long, cbor-too-long.
// Limits are checked before anything is allocated, so a hostile length costs nothing.

import { fail } from "../errors";
import {
  CborFloat,
  CborSimple,
  CborTag,
  DEFAULT_DECODE_LIMITS,
  type CborKey,
  type CborMap,
  type CborValue,
  type DecodeOptions,
} from "./types";
import { floatWidth, halfToNumber } from "./float16";

const MAJOR_UNSIGNED = 0;
const MAJOR_NEGATIVE = 1;
const MAJOR_BYTES = 2;
const MAJOR_TEXT = 3;
const MAJOR_ARRAY = 4;
const MAJOR_MAP = 5;
const MAJOR_TAG = 6;
const TAG_POSITIVE_BIGNUM = 2;
const TAG_NEGATIVE_BIGNUM = 3;
const TWO_POW_32 = 0x100000000;
const TWO_POW_64 = 1n << 64n;

let utf8Decoder: TextDecoder | undefined;

function decodeUtf8(bytes: Uint8Array): string {
  utf8Decoder ??= new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    return fail("cbor-invalid-utf8", "text string is not valid UTF-8");
  }
}

/** Decode exactly one CBOR data item that fills `bytes`. */
export function decode(bytes: Uint8Array, options?: DecodeOptions): CborValue {
  const reader = new Reader(bytes, options);
  const value = reader.readItem(0);
  if (reader.pos !== bytes.length) fail("cbor-trailing-bytes", `${bytes.length - reader.pos} bytes after the data item`);
  return value;
}

class Reader {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  pos = 0;
  items = 0;
  readonly maxDepth: number;
  readonly maxItems: number;
  readonly maxStringLength: number;
  readonly sortedKeys: boolean;
  readonly keepFloats: boolean;
  // The argument of the last head read: a number, or a bigint when it exceeds 2^53 - 1.
  argument: number | bigint = 0;

  constructor(bytes: Uint8Array, options: DecodeOptions | undefined) {
    const o = options ?? {};
    const maxLength = o.maxLength ?? DEFAULT_DECODE_LIMITS.maxLength;
    if (bytes.length > maxLength) fail("cbor-too-long", `input of ${bytes.length} bytes exceeds the limit of ${maxLength}`);
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.maxDepth = o.maxDepth ?? DEFAULT_DECODE_LIMITS.maxDepth;
    this.maxItems = o.maxItems ?? DEFAULT_DECODE_LIMITS.maxItems;
    this.maxStringLength = o.maxStringLength ?? DEFAULT_DECODE_LIMITS.maxStringLength;
    this.sortedKeys = o.requireSortedKeys ?? true;
    this.keepFloats = o.keepFloats ?? false;
  }

  need(n: number): void {
    if (this.bytes.length - this.pos < n) fail("cbor-truncated", `needs ${n} more bytes at offset ${this.pos}`);
  }

  /** Reads the argument that follows an initial byte with additional information `info`. */
  readArgument(info: number): void {
    if (info < 24) {
      this.argument = info;
      return;
    }
    const view = this.view;
    const at = this.pos;
    let value: number | bigint;
    let smallest: number;
    if (info === 24) {
      this.need(1);
      value = view.getUint8(at);
      this.pos = at + 1;
      smallest = 24;
    } else if (info === 25) {
      this.need(2);
      value = view.getUint16(at);
      this.pos = at + 2;
      smallest = 0x100;
    } else if (info === 26) {
      this.need(4);
      value = view.getUint32(at);
      this.pos = at + 4;
      smallest = 0x10000;
    } else if (info === 27) {
      this.need(8);
      const high = view.getUint32(at);
      const low = view.getUint32(at + 4);
      this.pos = at + 8;
      smallest = TWO_POW_32;
      // 2^53 - 1 is the largest integer a number holds exactly; beyond it use BigInt.
      value = high < 0x200000 ? high * TWO_POW_32 + low : (BigInt(high) << 32n) | BigInt(low);
    } else if (info === 31) {
      return fail("cbor-indefinite-length", `indefinite length at offset ${at - 1}`);
    } else {
      return fail("cbor-reserved-info", `reserved additional information ${info} at offset ${at - 1}`);
    }
    if (value < smallest) fail("cbor-non-shortest", `argument ${value} is not in its shortest form at offset ${at - 1}`);
    this.argument = value;
  }

  /** A length or count: must fit the input that is left (each item takes at least one byte). */
  readLength(info: number): number {
    this.readArgument(info);
    const n = this.argument;
    if (typeof n !== "number" || n > this.bytes.length - this.pos) fail("cbor-truncated", `length ${n} runs past the end of the input`);
    return n as number;
  }

  readItem(depth: number): CborValue {
    if (++this.items > this.maxItems) fail("cbor-too-many-items", `more than ${this.maxItems} data items`);
    this.need(1);
    const initial = this.bytes[this.pos++];
    const major = initial >> 5;
    const info = initial & 0x1f;
    switch (major) {
      case MAJOR_UNSIGNED:
        this.readArgument(info);
        return this.argument;
      case MAJOR_NEGATIVE: {
        this.readArgument(info);
        const n = this.argument;
        // -1 - n; -(2^53) is exact as a number but we keep one representation per value: only
        // safe integers are numbers.
        return typeof n === "number" && n < Number.MAX_SAFE_INTEGER ? -1 - n : -1n - BigInt(n);
      }
      case MAJOR_BYTES:
        return this.readBytes(info);
      case MAJOR_TEXT:
        return decodeUtf8(this.readBytes(info));
      case MAJOR_ARRAY:
        return this.readArray(info, depth + 1);
      case MAJOR_MAP:
        return this.readMap(info, depth + 1);
      case MAJOR_TAG:
        return this.readTag(info, depth + 1);
      default:
        return this.readSimpleOrFloat(info);
    }
  }

  readBytes(info: number): Uint8Array {
    const length = this.readLength(info);
    if (length > this.maxStringLength) fail("cbor-string-too-long", `string of ${length} bytes exceeds the limit of ${this.maxStringLength}`);
    const start = this.pos;
    this.pos = start + length;
    return this.bytes.subarray(start, start + length);
  }

  enter(depth: number): void {
    if (depth > this.maxDepth) fail("cbor-too-deep", `nesting deeper than ${this.maxDepth}`);
  }

  reserveItems(count: number): void {
    if (this.items + count > this.maxItems) fail("cbor-too-many-items", `more than ${this.maxItems} data items`);
  }

  readArray(info: number, depth: number): CborValue[] {
    this.enter(depth);
    const count = this.readLength(info);
    this.reserveItems(count);
    const array: CborValue[] = new Array(count);
    for (let i = 0; i < count; i++) array[i] = this.readItem(depth);
    return array;
  }

  readMap(info: number, depth: number): CborMap {
    this.enter(depth);
    const count = this.readLength(info);
    this.reserveItems(2 * count);
    const map: CborMap = new Map();
    const bytes = this.bytes;
    let previousStart = -1;
    let previousEnd = -1;
    for (let i = 0; i < count; i++) {
      const keyStart = this.pos;
      // Keys are integers of at most 64 bits or text, judged by the major type on the wire: a float
      // 1.0 decodes to the same number as the integer 1 and would silently merge with it.
      const keyMajor = keyStart < bytes.length ? bytes[keyStart] >> 5 : -1;
      if (keyMajor !== MAJOR_UNSIGNED && keyMajor !== MAJOR_NEGATIVE && keyMajor !== MAJOR_TEXT && keyMajor !== -1) {
        fail("cbor-key-type", `map key at offset ${keyStart} is not an integer or text`);
      }
      const key = this.readItem(depth);
      const keyEnd = this.pos;
      if (this.sortedKeys) {
        // Deterministic order is the bytewise order of the encoded keys: compare the input bytes.
        if (previousStart >= 0) {
          const order = compareBytes(bytes, previousStart, previousEnd, keyStart, keyEnd);
          if (order === 0) fail("cbor-duplicate-key", `duplicate map key at offset ${keyStart}`);
          if (order > 0) fail("cbor-unsorted-keys", `map key at offset ${keyStart} is out of deterministic order`);
        }
        previousStart = keyStart;
        previousEnd = keyEnd;
      } else if (map.has(key as CborKey)) {
        fail("cbor-duplicate-key", `duplicate map key at offset ${keyStart}`);
      }
      map.set(key as CborKey, this.readItem(depth));
    }
    return map;
  }

  readTag(info: number, depth: number): CborValue {
    this.enter(depth);
    this.readArgument(info);
    const tag = this.argument;
    const at = this.pos;
    const content = this.readItem(depth);
    if (tag === TAG_POSITIVE_BIGNUM || tag === TAG_NEGATIVE_BIGNUM) return bignum(tag, content, at);
    return new CborTag(tag, content);
  }

  readSimpleOrFloat(info: number): CborValue {
    const view = this.view;
    const at = this.pos;
    switch (info) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 23:
        return undefined;
      case 24: {
        this.need(1);
        const value = view.getUint8(at);
        this.pos = at + 1;
        // Values below 32 have a one-byte form; RFC 8949 section 3.3 makes this form not well-formed.
        if (value < 32) fail("cbor-invalid-simple", `simple value ${value} in two bytes at offset ${at - 1}`);
        return new CborSimple(value);
      }
      case 25: {
        this.need(2);
        this.pos = at + 2;
        const bits = view.getUint16(at);
        const value = halfToNumber(bits);
        // NaN has many encodings; only the canonical quiet NaN (f9 7e00) is accepted.
        if (value !== value && bits !== 0x7e00) fail("cbor-non-shortest", `non-canonical NaN at offset ${at - 1}`);
        return this.float(value, 16, at);
      }
      case 26: {
        this.need(4);
        this.pos = at + 4;
        return this.float(view.getFloat32(at), 32, at);
      }
      case 27: {
        this.need(8);
        this.pos = at + 8;
        return this.float(view.getFloat64(at), 64, at);
      }
      case 28:
      case 29:
      case 30:
        return fail("cbor-reserved-info", `reserved additional information ${info} at offset ${at - 1}`);
      case 31:
        return fail("cbor-unexpected-break", `break code outside an indefinite-length item at offset ${at - 1}`);
      default:
        return info < 20 ? new CborSimple(info) : fail("cbor-invalid-simple", `simple value ${info}`);
    }
  }

  /** Preferred serialization: a float must use the shortest width that keeps its value. */
  float(value: number, width: 16 | 32 | 64, at: number): number | CborFloat {
    if (width !== floatWidth(value)) fail("cbor-non-shortest", `float at offset ${at - 1} is not in its shortest form`);
    return this.keepFloats ? new CborFloat(value) : value;
  }
}


function bignum(tag: number | bigint, content: CborValue, at: number): bigint {
  if (!(content instanceof Uint8Array)) return fail("cbor-bignum", `bignum content at offset ${at} is not a byte string`);
  if (content.length > 0 && content[0] === 0) fail("cbor-non-shortest", `bignum at offset ${at} has a leading zero byte`);
  let n = 0n;
  for (let i = 0; i < content.length; i++) n = (n << 8n) | BigInt(content[i]);
  // A value that fits in 64 bits has a shorter form as a plain integer.
  if (n < TWO_POW_64) fail("cbor-non-shortest", `bignum at offset ${at} fits in a 64-bit integer`);
  return tag === TAG_POSITIVE_BIGNUM ? n : -1n - n;
}

function compareBytes(bytes: Uint8Array, aStart: number, aEnd: number, bStart: number, bEnd: number): number {
  const aLength = aEnd - aStart;
  const bLength = bEnd - bStart;
  const n = aLength < bLength ? aLength : bLength;
  for (let i = 0; i < n; i++) {
    const d = bytes[aStart + i] - bytes[bStart + i];
    if (d !== 0) return d;
  }
  return aLength - bLength;
}
