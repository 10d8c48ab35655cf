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
// - readValue reads nested items with a loop over an explicit stack of open containers (see Level), not
//   by recursion: the JavaScript stack of a device is small, and XS aborts on overflowing it.
// - readItem answers the common items (integers below 24, text) without further calls, and
//   readKey reads short text keys itself: in XS a call costs about as much as the rest of the work
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
    const value = readValue();
    if (pos !== end) fail("cbor-trailing-bytes", `${end - pos} bytes after the data item`);
    return value;
  } finally {
    // Do not keep the caller's input (or what was read of it, after an error) alive until the next call.
    while (openKind !== NONE) dropLevel();
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

/**
 * Nested items are read by a loop over a stack of open containers, not by recursion: XS aborts the whole
 * machine on a stack overflow, and a command's envelope is read before its signature is checked, so an
 * unauthenticated sender chooses its nesting (up to the decode limit). On XS 17 one level of recursion
 * took about 21 stack slots, so 8 levels came within 31 slots of overflowing an ESP32's 512-slot stack on
 * a device busy connecting (measured on lin); now the stack is the same at any depth.
 *
 * The innermost open container lives in the module variables below (XS reads those as cheaply as locals,
 * an object's properties cost more); the containers around it wait in `outer`, one Level each, made once
 * and reused.
 */
interface Level {
  kind: number;
  array: CborValue[] | undefined;
  map: CborMap | undefined;
  tag: number | bigint;
  at: number;
  content: CborValue;
  next: number;
  count: number;
  depth: number;
  previousStart: number;
  previousEnd: number;
  key: CborKey;
}

const NONE = -1;
const ARRAY = 0;
const MAP = 1;
const TAG = 2;
/** What readItem returns for a container it opened (its items are read next). */
const OPENED = Symbol("opened");

/** NONE, or the kind of the innermost open container. */
let openKind = NONE;
let openArray: CborValue[] | undefined;
let openMap: CborMap | undefined;
/** A tag's number, the offset of its content (for bignum errors), and the content once read. */
let openTag: number | bigint = 0;
let openAt = 0;
let openContent: CborValue;
/** Items (map entries) read so far, and how many there are. */
let openNext = 0;
let openCount = 0;
/** The container's depth; its items are read at this depth. */
let openDepth = 0;
/** Maps: where the previous key's encoding starts and ends (for the order check), and the key read last. */
let openPreviousStart = -1;
let openPreviousEnd = -1;
let openKey: CborKey = 0;
const outer: Level[] = [];
let outerCount = 0;

/** Makes a container of `kind` the innermost open one (the one before waits in `outer`). */
function openLevel(kind: number, count: number, depth: number): void {
  if (openKind !== NONE) {
    let level = outer[outerCount];
    if (level === undefined) {
      level = { kind: NONE, array: undefined, map: undefined, tag: 0, at: 0, content: undefined, next: 0, count: 0, depth: 0, previousStart: -1, previousEnd: -1, key: 0 };
      outer[outerCount] = level;
    }
    outerCount++;
    level.kind = openKind;
    level.array = openArray;
    level.map = openMap;
    level.tag = openTag;
    level.at = openAt;
    level.content = openContent;
    level.next = openNext;
    level.count = openCount;
    level.depth = openDepth;
    level.previousStart = openPreviousStart;
    level.previousEnd = openPreviousEnd;
    level.key = openKey;
  }
  openKind = kind;
  openNext = 0;
  openCount = count;
  openDepth = depth;
}

/** Closes the innermost container; returns what it read (the array, the map, the tag or bignum). */
function closeLevel(): CborValue {
  const kind = openKind;
  const value = kind === ARRAY ? openArray : kind === MAP ? openMap : openContent;
  const tag = openTag;
  const at = openAt;
  dropLevel();
  if (kind !== TAG) return value as CborValue;
  if (tag === TAG_POSITIVE_BIGNUM || tag === TAG_NEGATIVE_BIGNUM) return bignum(tag, value as CborValue, at);
  return new CborTag(tag, value as CborValue);
}

/** Closes the innermost container, letting go of what it read; the one around it becomes the innermost. */
function dropLevel(): void {
  if (outerCount === 0) {
    openKind = NONE;
    openNext = 0;
    openCount = 0;
    openArray = undefined;
    openMap = undefined;
    openContent = undefined;
    return;
  }
  const level = outer[--outerCount];
  openKind = level.kind;
  openArray = level.array;
  openMap = level.map;
  openTag = level.tag;
  openAt = level.at;
  openContent = level.content;
  openNext = level.next;
  openCount = level.count;
  openDepth = level.depth;
  openPreviousStart = level.previousStart;
  openPreviousEnd = level.previousEnd;
  openKey = level.key;
  level.array = undefined;
  level.map = undefined;
  level.content = undefined;
}

/** Reads one data item and everything in it, depth first. */
function readValue(): CborValue {
  let value = readItem(0);
  for (;;) {
    // A whole value goes into the innermost open container; a container it fills goes up in turn.
    while (value !== OPENED) {
      if (openKind === NONE) return value;
      if (openKind === MAP) (openMap as CborMap).set(openKey, value);
      else if (openKind === ARRAY) (openArray as CborValue[])[openNext] = value;
      else openContent = value;
      if (++openNext < openCount) break;
      value = closeLevel();
    }
    // The next item of the innermost open container; for a map, its key first (written out here: in XS
    // a call costs about as much as reading a short key).
    if (openKind === MAP) {
      const bytes = input;
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
          openKey = (utf8Decoder ?? newUtf8Decoder()).decode(content);
        } catch (e) {
          if (utf8Decoder === undefined) throw e;
          return fail("cbor-invalid-utf8", "text string is not valid UTF-8");
        }
      } else {
        // Keys are integers of at most 64 bits or text, judged by the major type on the wire: a float
        // 1.0 decodes to the same number as the integer 1 and would silently merge with it. (So a key
        // is never a container: readItem returns it whole.)
        if (initial >= 0x40 && (initial < 0x60 || initial >= 0x80)) fail("cbor-key-type", `map key at offset ${keyStart} is not an integer or text`);
        openKey = readItem(openDepth) as CborKey;
      }
      if (sortedKeys) {
        // Deterministic order is the bytewise order of the encoded keys: compare the input bytes.
        // The first byte (major type, and the length of short text) usually decides.
        if (openPreviousStart >= 0) {
          let order = bytes[openPreviousStart] - bytes[keyStart];
          // (Equal first bytes: compare from the second.)
          if (order === 0) order = compareBytes(bytes, openPreviousStart + 1, openPreviousEnd, keyStart + 1, pos);
          if (order >= 0) {
            if (order === 0) fail("cbor-duplicate-key", `duplicate map key at offset ${keyStart}`);
            fail("cbor-unsorted-keys", `map key at offset ${keyStart} is out of deterministic order`);
          }
        }
        openPreviousStart = keyStart;
        openPreviousEnd = pos;
      } else if ((openMap as CborMap).has(openKey)) {
        fail("cbor-duplicate-key", `duplicate map key at offset ${keyStart}`);
      }
    }
    value = readItem(openDepth);
  }
}

function readItem(depth: number): CborValue | typeof OPENED {
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

/** An array: empty, or the innermost open container, its items read next. */
function readArray(info: number, depth: number): CborValue[] | typeof OPENED {
  enter(depth);
  const count = info < 24 && info <= end - pos ? info : readLength(info);
  reserveItems(count);
  const array: CborValue[] = new Array(count);
  if (count === 0) return array;
  openLevel(ARRAY, count, depth);
  openArray = array;
  return OPENED;
}

/** A map: empty, or the innermost open container, its entries read next. */
function readMap(info: number, depth: number): CborMap | typeof OPENED {
  enter(depth);
  const count = info < 24 && info <= end - pos ? info : readLength(info);
  reserveItems(2 * count);
  const map: CborMap = new Map();
  if (count === 0) return map;
  openLevel(MAP, count, depth);
  openMap = map;
  openPreviousStart = -1;
  openPreviousEnd = -1;
  return OPENED;
}

/** A tag: the innermost open container, of one item, which closeLevel makes the tag (or bignum) of. */
function readTag(info: number, depth: number): typeof OPENED {
  enter(depth);
  const tag = info < 24 ? info : readArgument(info);
  openLevel(TAG, 1, depth);
  openTag = tag;
  openAt = pos;
  return OPENED;
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
