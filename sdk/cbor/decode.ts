// Strict, bounded CBOR decoder (RFC 8949).
//
// It accepts exactly one encoding per value: the core deterministic encoding of section 4.2.1.
// Everything else is refused with a GatehouseError whose code says why:
//   cbor-truncated, cbor-trailing-bytes, cbor-indefinite-length, cbor-non-shortest,
//   cbor-reserved-info, cbor-invalid-simple, cbor-unexpected-break, cbor-invalid-utf8,
//   cbor-duplicate-key, cbor-unsorted-keys, cbor-key-type,
//   cbor-too-deep, cbor-too-many-items, cbor-string-too-long, cbor-too-long.
// Limits are checked before anything is allocated, so a hostile length costs nothing.
//
// Speed (on a device every bytecode counts; bench/xs-computrons.ts measures XS's count):
// - The state of one decode (input, position, limits) lives in module variables, set at the start of
//   each decode() call: no reader object to build (an es2020 bundle turns class fields into
//   Object.defineProperty calls), and XS reads a closure variable as cheaply as a local. Nothing
//   that decode calls runs caller code (options are read before the state is set), so one set of
//   variables is enough; decode is not re-entrant through patched built-ins (Map.prototype.set).
// - readItem answers the common items (integers below 24, text) without further calls, and
//   readMap reads short text keys itself: in XS a call costs about as much as the rest of the work
//   for a short string.
// - Map keys are almost always ordered by their first byte (the head holds the type and the length
//   of short text), so the byte-by-byte comparison runs only when the first bytes are equal.
// - Text goes through TextDecoder (native code): cheaper than any JavaScript loop in XS, even for a
//   string of two characters (measured: String.fromCharCode on the bytes costs more).

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
// DEFAULT_DECODE_LIMITS is frozen: read once.
const DEFAULT_MAX_DEPTH = DEFAULT_DECODE_LIMITS.maxDepth;
const DEFAULT_MAX_ITEMS = DEFAULT_DECODE_LIMITS.maxItems;
const DEFAULT_MAX_STRING_LENGTH = DEFAULT_DECODE_LIMITS.maxStringLength;
const DEFAULT_MAX_LENGTH = DEFAULT_DECODE_LIMITS.maxLength;
const EMPTY = new Uint8Array(0);

/** Made on first use: a module that only encodes never needs one. */
let utf8Decoder: TextDecoder | undefined;

function newUtf8Decoder(): TextDecoder {
  return (utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }));
}

// The state of the decode in progress.
let input: Uint8Array = EMPTY;
const EMPTY_VIEW = new DataView(EMPTY.buffer);
let view: DataView = EMPTY_VIEW;
/** Offset of the next byte to read. */
let pos = 0;
/** input.length */
let end = 0;
/** Data items read so far, or reserved by the count of an array or map being read. */
let items = 0;
let maxDepth = 0;
let maxItems = 0;
let maxStringLength = 0;
let sortedKeys = true;
let keepFloats = false;

/** Decode exactly one CBOR data item that fills `bytes`. */
export function decode(bytes: Uint8Array, options?: DecodeOptions): CborValue {
  // Options are read into locals first, then the module state is set.
  let depthLimit = DEFAULT_MAX_DEPTH;
  let itemLimit = DEFAULT_MAX_ITEMS;
  let stringLimit = DEFAULT_MAX_STRING_LENGTH;
  let sorted = true;
  let floats = false;
  let bytesView: DataView;
  if (options === undefined || options === null) {
    if (bytes.length > DEFAULT_MAX_LENGTH) fail("cbor-too-long", `input of ${bytes.length} bytes exceeds the limit of ${DEFAULT_MAX_LENGTH}`);
    bytesView = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } else {
    // In this order: maxLength and the length check, the view (a TypeError for something that is
    // not a view of a buffer), then the other options.
    const maxLength = options.maxLength ?? DEFAULT_MAX_LENGTH;
    if (bytes.length > maxLength) fail("cbor-too-long", `input of ${bytes.length} bytes exceeds the limit of ${maxLength}`);
    bytesView = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    depthLimit = options.maxDepth ?? DEFAULT_MAX_DEPTH;
    itemLimit = options.maxItems ?? DEFAULT_MAX_ITEMS;
    stringLimit = options.maxStringLength ?? DEFAULT_MAX_STRING_LENGTH;
    sorted = options.requireSortedKeys ?? true;
    floats = options.keepFloats ?? false;
  }
  const length = bytes.length;
  view = bytesView;
  input = bytes;
  pos = 0;
  end = length;
  items = 0;
  maxDepth = depthLimit;
  maxItems = itemLimit;
  maxStringLength = stringLimit;
  sortedKeys = sorted;
  keepFloats = floats;
  try {
    const value = readItem(0);
    if (pos !== end) fail("cbor-trailing-bytes", `${end - pos} bytes after the data item`);
    return value;
  } finally {
    // Do not keep the caller's input alive until the next call.
    input = EMPTY;
    view = EMPTY_VIEW;
  }
}

function truncated(n: number): never {
  return fail("cbor-truncated", `needs ${n} more bytes at offset ${pos}`);
}

/**
 * The argument that follows an initial byte whose additional information `info` is 24 or more, in
 * its shortest form: a number, or a bigint when it exceeds 2^53 - 1.
 */
function readArgument(info: number): number | bigint {
  const at = pos;
  let value: number | bigint;
  let smallest: number;
  if (info === 24) {
    if (end - at < 1) truncated(1);
    value = input[at];
    pos = at + 1;
    smallest = 24;
  } else if (info === 25) {
    if (end - at < 2) truncated(2);
    value = view.getUint16(at);
    pos = at + 2;
    smallest = 0x100;
  } else if (info === 26) {
    if (end - at < 4) truncated(4);
    value = view.getUint32(at);
    pos = at + 4;
    smallest = 0x10000;
  } else if (info === 27) {
    if (end - at < 8) truncated(8);
    const high = view.getUint32(at);
    const low = view.getUint32(at + 4);
    pos = at + 8;
    smallest = TWO_POW_32;
    // 2^53 - 1 is the largest integer a number holds exactly; beyond it use BigInt.
    value = high < 0x200000 ? high * TWO_POW_32 + low : (BigInt(high) << 32n) | BigInt(low);
  } else if (info === 31) {
    return fail("cbor-indefinite-length", `indefinite length at offset ${at - 1}`);
  } else {
    return fail("cbor-reserved-info", `reserved additional information ${info} at offset ${at - 1}`);
  }
  if (value < smallest) fail("cbor-non-shortest", `argument ${value} is not in its shortest form at offset ${at - 1}`);
  return value;
}

/** A length or count: must fit the input that is left (each item takes at least one byte). */
function readLength(info: number): number {
  const n = info < 24 ? info : readArgument(info);
  if (typeof n !== "number" || n > end - pos) runsPastEnd(n);
  return n as number;
}

function runsPastEnd(length: number | bigint): never {
  return fail("cbor-truncated", `length ${length} runs past the end of the input`);
}

function readItem(depth: number): CborValue {
  if (++items > maxItems) fail("cbor-too-many-items", `more than ${maxItems} data items`);
  if (pos >= end) truncated(1);
  const initial = input[pos++];
  const info = initial & 0x1f;
  // Cases in order of how common they are: a switch tests its cases one after the other.
  switch (initial >> 5) {
    case MAJOR_UNSIGNED:
      return info < 24 ? info : readArgument(info);
    case MAJOR_TEXT: {
      // As readString, inline (text is the most common item after small integers).
      const length = info < 24 && info <= end - pos ? info : readLength(info);
      if (length > maxStringLength) fail("cbor-string-too-long", `string of ${length} bytes exceeds the limit of ${maxStringLength}`);
      // subarray(start, end), with pos moved past the content in the same expression.
      const content = input.subarray(pos, (pos += length));
      try {
        return (utf8Decoder ?? newUtf8Decoder()).decode(content);
      } catch (e) {
        // A TextDecoder that could not be made is not a fault of the input.
        if (utf8Decoder === undefined) throw e;
        return fail("cbor-invalid-utf8", "text string is not valid UTF-8");
      }
    }
    case MAJOR_NEGATIVE:
      return info < 24 ? -1 - info : readNegative(info);
    case MAJOR_MAP:
      return readMap(info, depth + 1);
    case MAJOR_ARRAY:
      return readArray(info, depth + 1);
    case MAJOR_BYTES:
      return input.subarray(readString(info), pos);
    case MAJOR_TAG:
      return readTag(info, depth + 1);
    default:
      if (initial === 0xf5) return true;
      if (initial === 0xf4) return false;
      return readSimpleOrFloat(info);
  }
}

function readNegative(info: number): number | bigint {
  const n = readArgument(info);
  // -1 - n; -(2^53) is exact as a number but we keep one representation per value: only
  // safe integers are numbers.
  return typeof n === "number" && n < Number.MAX_SAFE_INTEGER ? -1 - n : -1n - BigInt(n);
}

/** Checks the length of a byte string and moves past its content; returns where the content starts. (Text: readItem, readMap.) */
function readString(info: number): number {
  const length = info < 24 && info <= end - pos ? info : readLength(info);
  if (length > maxStringLength) fail("cbor-string-too-long", `string of ${length} bytes exceeds the limit of ${maxStringLength}`);
  const start = pos;
  pos = start + length;
  return start;
}

function enter(depth: number): void {
  if (depth > maxDepth) fail("cbor-too-deep", `nesting deeper than ${maxDepth}`);
}

function reserveItems(count: number): void {
  if (items + count > maxItems) fail("cbor-too-many-items", `more than ${maxItems} data items`);
}

function readArray(info: number, depth: number): CborValue[] {
  enter(depth);
  const count = info < 24 && info <= end - pos ? info : readLength(info);
  reserveItems(count);
  const array: CborValue[] = new Array(count);
  for (let i = 0; i < count; i++) array[i] = readItem(depth);
  return array;
}

function readMap(info: number, depth: number): CborMap {
  enter(depth);
  const count = info < 24 && info <= end - pos ? info : readLength(info);
  reserveItems(2 * count);
  const map: CborMap = new Map();
  const bytes = input;
  let previousStart = -1;
  let previousEnd = -1;
  let key: CborValue; // declared once: XS pays for a block-scoped declaration on every pass of a loop
  for (let i = 0; i < count; i++) {
    const keyStart = pos;
    // (Past the end of the input, readItem refuses the key as truncated.)
    const initial = keyStart < end ? bytes[keyStart] : 0;
    if (initial >= 0x60 && initial < 0x78) {
      // Short text, the usual key, is read here as readItem reads it (MAJOR_TEXT), with the same
      // checks in the same order, but without the call and the dispatch: a quarter of the cost.
      if (++items > maxItems) fail("cbor-too-many-items", `more than ${maxItems} data items`);
      const length = initial - 0x60;
      pos = keyStart + 1;
      if (length > end - pos) runsPastEnd(length);
      if (length > maxStringLength) fail("cbor-string-too-long", `string of ${length} bytes exceeds the limit of ${maxStringLength}`);
      const content = bytes.subarray(pos, (pos += length));
      try {
        key = (utf8Decoder ?? newUtf8Decoder()).decode(content);
      } catch (e) {
        if (utf8Decoder === undefined) throw e;
        return fail("cbor-invalid-utf8", "text string is not valid UTF-8");
      }
    } else {
      // Keys are integers of at most 64 bits or text, judged by the major type on the wire: a float
      // 1.0 decodes to the same number as the integer 1 and would silently merge with it.
      if (initial >= 0x40 && (initial < 0x60 || initial >= 0x80)) fail("cbor-key-type", `map key at offset ${keyStart} is not an integer or text`);
      key = readItem(depth);
    }
    if (sortedKeys) {
      // Deterministic order is the bytewise order of the encoded keys: compare the input bytes.
      // The first byte (major type, and the length of short text) usually decides.
      if (previousStart >= 0) {
        let order = bytes[previousStart] - bytes[keyStart];
        // (Equal first bytes: compare from the second.)
        if (order === 0) order = compareBytes(bytes, previousStart + 1, previousEnd, keyStart + 1, pos);
        if (order >= 0) {
          if (order === 0) fail("cbor-duplicate-key", `duplicate map key at offset ${keyStart}`);
          fail("cbor-unsorted-keys", `map key at offset ${keyStart} is out of deterministic order`);
        }
      }
      previousStart = keyStart;
      previousEnd = pos;
    } else if (map.has(key as CborKey)) {
      fail("cbor-duplicate-key", `duplicate map key at offset ${keyStart}`);
    }
    map.set(key as CborKey, readItem(depth));
  }
  return map;
}

function readTag(info: number, depth: number): CborValue {
  enter(depth);
  const tag = info < 24 ? info : readArgument(info);
  const at = pos;
  const content = readItem(depth);
  if (tag === TAG_POSITIVE_BIGNUM || tag === TAG_NEGATIVE_BIGNUM) return bignum(tag, content, at);
  return new CborTag(tag, content);
}

function readSimpleOrFloat(info: number): CborValue {
  const at = pos;
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
      if (end - at < 1) truncated(1);
      const value = input[at];
      pos = at + 1;
      // Values below 32 have a one-byte form; RFC 8949 section 3.3 makes this form not well-formed.
      if (value < 32) fail("cbor-invalid-simple", `simple value ${value} in two bytes at offset ${at - 1}`);
      return new CborSimple(value);
    }
    case 25: {
      if (end - at < 2) truncated(2);
      pos = at + 2;
      const bits = view.getUint16(at);
      const value = halfToNumber(bits);
      // NaN has many encodings; only the canonical quiet NaN (f9 7e00) is accepted.
      if (value !== value && bits !== 0x7e00) fail("cbor-non-shortest", `non-canonical NaN at offset ${at - 1}`);
      // Every half is its own shortest form (floatWidth of any half value is 16): no check to make.
      return keepFloats ? new CborFloat(value) : value;
    }
    case 26: {
      if (end - at < 4) truncated(4);
      pos = at + 4;
      return float(view.getFloat32(at), 32, at);
    }
    case 27: {
      if (end - at < 8) truncated(8);
      pos = at + 8;
      return float(view.getFloat64(at), 64, at);
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
function float(value: number, width: 16 | 32 | 64, at: number): number | CborFloat {
  if (width !== floatWidth(value)) fail("cbor-non-shortest", `float at offset ${at - 1} is not in its shortest form`);
  return keepFloats ? new CborFloat(value) : value;
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
