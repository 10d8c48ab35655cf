// Deterministic CBOR encoder (RFC 8949 section 4.2.1, "core deterministic encoding"):
// shortest heads, definite lengths, shortest exact floats, map keys in the bytewise order of their
// encodings. Two encoders following these rules produce the same bytes for the same value, which is
// what lets a signature over CBOR be checked against a re-built structure.
//
// Speed (on a device every bytecode counts; bench/xs-computrons.ts measures XS's count):
// - The output buffer and the write position are module variables, not fields of an object: XS reads
//   a closure variable as cheaply as a local, `this.x` costs more. encode is not re-entrant (it
//   never was: one shared buffer): a getter that called encode during an encode would spoil both.
// - writeValue writes any value with a loop over an explicit stack of open containers (see Level), not
//   by recursion: the JavaScript stack of a device is small, and XS aborts on overflowing it.
// - writeItem writes one item. The common heads (small integers, short items) are written inline
//   after one room check per item, instead of a chain of small functions each checking for room.
// - Text goes through TextEncoder.encodeInto straight into the output buffer: one native call costs
//   XS less than a JavaScript loop over even two or three characters. (V8 is the other way round:
//   on Node a short string or a small result costs more than before, a few hundred nanoseconds.)
// - Map keys (writeMap) are ranked once each (kind, then encoded length, measured by encodeInto
//   a scratch buffer) instead of on every comparison. Keys that arrive in order (one comparison
//   each, made while ranking) are not sorted at all; small maps of integer or ASCII keys are sorted
//   by insertion with the comparisons written out, others with Array.prototype.sort.
// - The result is copied out with ArrayBuffer.prototype.slice: XS meters TypedArray copies per byte,
//   not ArrayBuffer slices (a fresh Uint8Array over its own buffer, as TypedArray slice gives).

import { fail } from "../errors";
import { CborFloat, CborSimple, CborTag, DEFAULT_DECODE_LIMITS, type CborKey, type CborValue } from "./types";
import { numberToHalf } from "./float16";

const MAJOR_UNSIGNED = 0x00;
const MAJOR_NEGATIVE = 0x20;
const MAJOR_BYTES = 0x40;
const MAJOR_TEXT = 0x60;
const MAJOR_ARRAY = 0x80;
const MAJOR_MAP = 0xa0;
const MAJOR_TAG = 0xc0;
const TWO_POW_32 = 0x100000000;
const MAX_UINT64 = (1n << 64n) - 1n;
const MIN_NEGATIVE64 = -(1n << 64n);
const MAX_SAFE_BIGINT = BigInt(Number.MAX_SAFE_INTEGER);
/**
 * Nesting beyond this is refused: nothing deeper could be decoded by the receivers anyway (the default
 * decode limit). It also bounds the open containers (Level) kept while writing.
 */
const MAX_ENCODE_DEPTH = DEFAULT_DECODE_LIMITS.maxDepth;
/** The largest head: an initial byte and an 8-byte argument. */
const HEAD_ROOM = 9;
const INITIAL_SIZE = 256;
/** A buffer that grew beyond this for one large item is given back after the call. */
const MAX_KEPT_SIZE = 4096;
/** Up to this many entries, writeMap sorts by insertion; above, with Array.prototype.sort. */
const INSERTION_SORT_MAX = 16;

/** TextEncoder, with encodeInto: Moddable's has it too (modules/data/text/encoder), its typings do not say so. */
interface Utf8Encoder {
  encode(text: string): Uint8Array;
  encodeInto(text: string, into: Uint8Array): { written: number };
}

// Preloading (Moddable runs a module's body at build time and keeps what it made in flash) shapes the
// module state: a buffer made at load time would be read-only on the device, and no native function may
// run at build time, so the buffers and the TextEncoder are made on first use.

let utf8Encoder: Utf8Encoder | undefined;
const KEY_SCRATCH_SIZE = 192;
/** Where writeMap measures the UTF-8 length of text keys (of up to 64 code units). */
let keyScratch: Uint8Array | undefined;

function textEncoder(): Utf8Encoder {
  return (utf8Encoder ??= new TextEncoder() as unknown as Utf8Encoder);
}

export function utf8(text: string): Uint8Array {
  // ASCII is copied here, not by the native encoder: modules that make constants with utf8 at load time
  // (the AADs of session/messages.ts) can then be preloaded.
  const n = text.length;
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) return textEncoder().encode(text);
    bytes[i] = c;
  }
  return bytes;
}

// The shared output buffer, made by the first encode. `limit` is the last position at which a head
// (HEAD_ROOM bytes) still fits, so writeItem needs one comparison to know it has room for any head.
let buffer: Uint8Array = new Uint8Array(0);
let view: DataView = new DataView(buffer.buffer);
let position = 0;
let limit = -HEAD_ROOM;

function setBuffer(bytes: Uint8Array): void {
  buffer = bytes;
  view = new DataView(bytes.buffer);
  limit = bytes.length - HEAD_ROOM;
}

/** Makes room for `n` more bytes at `position`. */
function reserve(n: number): void {
  if (position + n > buffer.length) grow(position + n);
}

function grow(needed: number): void {
  let size = Math.max(INITIAL_SIZE, buffer.length * 2);
  while (size < needed) size *= 2;
  const grown = new Uint8Array(size);
  grown.set(buffer.subarray(0, position));
  setBuffer(grown);
}

/** Encode `value` in core deterministic encoding. */
export function encode(value: CborValue): Uint8Array {
  position = 0;
  try {
    writeValue(value);
    return buffer.slice(0, position);
  } finally {
    // Let go of the caller's containers (after an error too), and give back a buffer that grew for one
    // large item, so memory stays bounded between calls.
    while (open) closeLevel();
    if (buffer.length > MAX_KEPT_SIZE) setBuffer(new Uint8Array(INITIAL_SIZE));
  }
}

/** Writes a head: `major` with the shortest form of `argument` (an integer in [0, 2^53)). Needs HEAD_ROOM bytes of room. */
function writeHead(major: number, argument: number): void {
  const at = position;
  if (argument < 24) {
    buffer[at] = major | argument;
    position = at + 1;
  } else if (argument < 0x100) {
    buffer[at] = major | 24;
    buffer[at + 1] = argument;
    position = at + 2;
  } else if (argument < 0x10000) {
    buffer[at] = major | 25;
    view.setUint16(at + 1, argument);
    position = at + 3;
  } else if (argument < TWO_POW_32) {
    buffer[at] = major | 26;
    view.setUint32(at + 1, argument);
    position = at + 5;
  } else {
    buffer[at] = major | 27;
    view.setUint32(at + 1, Math.floor(argument / TWO_POW_32));
    view.setUint32(at + 5, argument % TWO_POW_32);
    position = at + 9;
  }
}

/** A head with an argument above 2^53 - 1 (at most 2^64 - 1). Needs HEAD_ROOM bytes of room. */
function writeBigHead(major: number, argument: bigint): void {
  buffer[position] = major | 27;
  view.setUint32(position + 1, Number(argument >> 32n));
  view.setUint32(position + 5, Number(argument & 0xffffffffn));
  position += 9;
}

/**
 * Nested values are written by a loop over a stack of open containers, not by recursion: XS aborts the
 * whole machine on a stack overflow, and on XS 17 one level of recursion through writeItem and writeMap
 * took about 77 stack slots (measured on lin), so a birth message with its door descriptions overflowed the
 * 512-slot stack of an ESP32. Now the JavaScript stack is the same at any depth.
 *
 * The innermost open container lives in the module variables below (XS reads those as cheaply as locals,
 * an object's properties cost more); the containers around it wait in `outer`, one Level each, made once
 * and reused (at most MAX_ENCODE_DEPTH of them).
 */
interface Level {
  values: readonly CborValue[] | undefined;
  content: CborValue;
  keys: readonly CborKey[] | undefined;
  ranks: readonly number[] | undefined;
  order: readonly number[] | undefined;
  next: number;
  count: number;
  depth: number;
}

/** Whether a container is open: writeValue's loop ends when none is. */
let open = false;
/** The items of an array, the values of a map or object in their original order; none for a tag. */
let openValues: readonly CborValue[] | undefined;
/** A tag's content (its one item). */
let openContent: CborValue;
/** Map and object keys, in their original order; none for an array or a tag. */
let openKeys: readonly CborKey[] | undefined;
/** Map keys: the rank of each (see writeMap), which for text is 2 + its UTF-8 length. */
let openRanks: readonly number[] | undefined;
/** Map keys: entry indices in key order; none when the entries are in order already. */
let openOrder: readonly number[] | undefined;
/** Items written so far, and how many there are. */
let openNext = 0;
let openCount = 0;
/** The nesting depth of the items. */
let openDepth = 0;
const outer: Level[] = [];
let outerCount = 0;

/** Makes a container the innermost open one (the one before waits in `outer`); the caller sets its items. */
function openLevel(depth: number, count: number): void {
  if (open) {
    let level = outer[outerCount];
    if (level === undefined) {
      level = { values: undefined, content: undefined, keys: undefined, ranks: undefined, order: undefined, next: 0, count: 0, depth: 0 };
      outer[outerCount] = level;
    }
    outerCount++;
    level.values = openValues;
    level.content = openContent;
    level.keys = openKeys;
    level.ranks = openRanks;
    level.order = openOrder;
    level.next = openNext;
    level.count = openCount;
    level.depth = openDepth;
  }
  open = true;
  openValues = undefined;
  openContent = undefined;
  openKeys = undefined;
  openRanks = undefined;
  openOrder = undefined;
  openNext = 0;
  openCount = count;
  openDepth = depth;
}

/** Closes the innermost container, letting go of the caller's data; the one around it becomes the innermost. */
function closeLevel(): void {
  if (outerCount === 0) {
    open = false;
    openNext = 0;
    openCount = 0;
    openValues = undefined;
    openContent = undefined;
    openKeys = undefined;
    openRanks = undefined;
    openOrder = undefined;
    return;
  }
  const level = outer[--outerCount];
  openValues = level.values;
  openContent = level.content;
  openKeys = level.keys;
  openRanks = level.ranks;
  openOrder = level.order;
  openNext = level.next;
  openCount = level.count;
  openDepth = level.depth;
  level.values = undefined;
  level.content = undefined;
  level.keys = undefined;
  level.ranks = undefined;
  level.order = undefined;
}

/** Writes `root` and everything in it, depth first, in the order the encoding needs. */
function writeValue(root: CborValue): void {
  writeItem(root, 0);
  for (;;) {
    // The next item: the next one of the innermost container that has one left.
    while (openNext >= openCount) {
      if (!open) return;
      closeLevel();
    }
    const i = openNext++;
    if (openKeys === undefined) {
      writeItem(openValues === undefined ? openContent : openValues[i], openDepth);
      continue;
    }
    const e = openOrder === undefined ? i : openOrder[i];
    const length = (openRanks as number[])[e] - 2;
    if (length < 0) {
      writeItem(openKeys[e], 0); // an integer key
    } else {
      // writeText, with the UTF-8 length known, so the head is written first.
      if (position + length > limit) grow(position + length + HEAD_ROOM);
      if (length < 24) buffer[position++] = MAJOR_TEXT | length;
      else writeHead(MAJOR_TEXT, length);
      (utf8Encoder ?? textEncoder()).encodeInto(openKeys[e] as string, buffer.subarray(position));
      position += length;
    }
    writeItem((openValues as CborValue[])[e], openDepth);
  }
}

/** Writes a scalar, or the head of a container and opens a level for its items (writeValue writes them). */
function writeItem(value: CborValue, depth: number): void {
  if (position > limit) grow(position + HEAD_ROOM);
  switch (typeof value) {
    case "number":
      // Integers in [0, 2^32) except -0 (a float), and in [-2^31, 0): the common cases, inline.
      if (value >>> 0 === value && (value !== 0 || 1 / value > 0)) {
        if (value < 24) buffer[position++] = value;
        else writeHead(MAJOR_UNSIGNED, value);
        return;
      }
      if (value >> 0 === value && value < 0) {
        if (value >= -24) buffer[position++] = MAJOR_NEGATIVE | ~value; // ~value is -1 - value
        else writeHead(MAJOR_NEGATIVE, ~value);
        return;
      }
      return writeNumber(value);
    case "string":
      return writeText(value);
    case "boolean":
      buffer[position++] = value ? 0xf5 : 0xf4;
      return;
    case "bigint":
      return writeBigInt(value);
    case "undefined":
      buffer[position++] = 0xf7;
      return;
  }
  if (value === null) {
    buffer[position++] = 0xf6;
    return;
  }
  if (depth >= MAX_ENCODE_DEPTH) fail("cbor-too-deep", `nesting deeper than ${MAX_ENCODE_DEPTH}`);
  // The order of these checks is part of the behaviour for odd objects (a plain object whose
  // __proto__ was set to a Map, a Proxy): keep it.
  if (value instanceof Uint8Array) {
    writeHead(MAJOR_BYTES, value.length);
    reserve(value.length);
    buffer.set(value, position);
    position += value.length;
  } else if (Array.isArray(value)) {
    const length = value.length;
    if (length < 24) buffer[position++] = MAJOR_ARRAY | length;
    else writeHead(MAJOR_ARRAY, length);
    if (length > 0) {
      openLevel(depth + 1, length);
      openValues = value;
    }
  } else if (value instanceof Map) {
    writeMap(Array.from(value.keys()), Array.from(value.values()), depth);
  } else if (value instanceof CborTag) {
    writeTagHead(value.tag);
    openLevel(depth + 1, 1);
    openContent = value.value;
  } else if (value instanceof CborFloat) {
    writeFloat(value.value);
  } else if (value instanceof CborSimple) {
    const n = value.value;
    if (!(Number.isInteger(n) && n >= 0 && n <= 255 && (n < 20 || n >= 32))) fail("cbor-not-encodable", `simple value ${n} cannot be encoded`);
    writeHead(0xe0, n);
  } else if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    writeMap(Object.keys(value), Object.values(value), depth);
  } else {
    fail("cbor-not-encodable", `cannot encode a value of type ${typeof value}`);
  }
}

/** Tags 2 and 3 are written only for bigints; other tag numbers must fit in 64 bits. Needs HEAD_ROOM bytes of room. */
function writeTagHead(tag: number | bigint): void {
  const n = typeof tag === "bigint" && tag <= MAX_SAFE_BIGINT ? Number(tag) : tag;
  const valid = typeof n === "bigint" ? n >= 0n && n <= MAX_UINT64 : Number.isSafeInteger(n) && n >= 0;
  if (!valid || n === 2 || n === 3) fail("cbor-not-encodable", `tag number ${String(tag)} cannot be encoded`);
  if (typeof n === "bigint") writeBigHead(MAJOR_TAG, n);
  else writeHead(MAJOR_TAG, n);
}

/** Numbers that writeItem did not take inline. Needs HEAD_ROOM bytes of room. */
function writeNumber(n: number): void {
  if (Number.isInteger(n) && !Object.is(n, -0)) {
    if (n >= 0) {
      if (n <= Number.MAX_SAFE_INTEGER) return writeHead(MAJOR_UNSIGNED, n);
    } else if (n >= -Number.MAX_SAFE_INTEGER) {
      return writeHead(MAJOR_NEGATIVE, -1 - n);
    }
    // Whole numbers beyond 2^53 are exact as numbers; encode them as the integers they are.
    return writeBigInt(BigInt(n));
  }
  writeFloat(n);
}

/** The shortest of half, single and double that holds `x` exactly. Needs HEAD_ROOM bytes of room. */
function writeFloat(x: number): void {
  const at = position;
  const half = numberToHalf(x);
  if (half >= 0) {
    buffer[at] = 0xf9;
    view.setUint16(at + 1, half);
    position = at + 3;
  } else if (Math.fround(x) === x) {
    buffer[at] = 0xfa;
    view.setFloat32(at + 1, x);
    position = at + 5;
  } else {
    buffer[at] = 0xfb;
    view.setFloat64(at + 1, x);
    position = at + 9;
  }
}

/** Needs HEAD_ROOM bytes of room. */
function writeBigInt(n: bigint): void {
  const negative = n < 0n;
  const magnitude = negative ? -1n - n : n;
  const major = negative ? MAJOR_NEGATIVE : MAJOR_UNSIGNED;
  if (magnitude <= MAX_SAFE_BIGINT) return writeHead(major, Number(magnitude));
  if (magnitude <= MAX_UINT64) return writeBigHead(major, magnitude);
  // Beyond 64 bits: a bignum, tag 2 or 3 over the big-endian magnitude without leading zeros.
  const bytes: number[] = [];
  for (let m = magnitude; m > 0n; m >>= 8n) bytes.unshift(Number(m & 0xffn));
  writeHead(MAJOR_TAG, negative ? 3 : 2);
  reserve(HEAD_ROOM + bytes.length);
  writeHead(MAJOR_BYTES, bytes.length);
  buffer.set(bytes, position);
  position += bytes.length;
}

function writeText(text: string): void {
  const n = text.length;
  // Room for a head and the UTF-8: at most 3 bytes per UTF-16 code unit (a surrogate pair takes 4
  // bytes for 2 units). As reserve(HEAD_ROOM + 3 * n), inline.
  if (position + 3 * n > limit) grow(position + 3 * n + HEAD_ROOM);
  // Guess the head from the number of code units, which is the byte length of ASCII text; the
  // text is encoded right after the guessed head and moved in the rare case the guess was short.
  const guess = n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
  const start = position + guess;
  const length = (utf8Encoder ?? textEncoder()).encodeInto(text, buffer.subarray(start)).written;
  if (length < 24) {
    // Then n < 24 too: the guess (one byte) was right.
    buffer[position] = MAJOR_TEXT | length;
    position += 1 + length;
    return;
  }
  // length >= n, so the head is at least as long as guessed; a JavaScript string is shorter than 2^30.
  const size = length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
  if (size !== guess) buffer.copyWithin(position + size, start, start + length);
  writeHead(MAJOR_TEXT, length);
  position += length;
}

/**
 * Writes a map's head and opens its level, its entries in deterministic order. Each key is ranked once: 0 for an unsigned integer, 1 for a
 * negative integer, 2 + its UTF-8 length for text (the length is part of the head, so shorter text
 * sorts first). Keys of equal rank are ordered by value: unsigned ascending, negative from -1
 * downwards, text by code point, which is UTF-8 byte order. This is the order of compareKeys,
 * with less work per comparison.
 */
function writeMap(keys: CborKey[], values: CborValue[], depth: number): void {
  const n = keys.length;
  const ranks: number[] = new Array(n);
  // What keys of one rank are compared by: the text, the integer, or minus a negative integer (so
  // that -1 sorts before -2). For integers of one rank `<` is then their order and `==` equality
  // (1 and 1n are the same key); for ASCII text too.
  const sortKeys: CborKey[] = new Array(n);
  // Every text key is ASCII: JavaScript's string order (by UTF-16 code unit) is then code point
  // order, which it is not around surrogates.
  let ascii = true;
  // Every key so far sorts strictly after the one before it (maps are often built in order): then
  // none is a duplicate and there is nothing to sort. Meaningful only if `ascii`.
  let sorted = true;
  // Declared once: XS pays for a block-scoped declaration on every pass of a loop.
  let rank = -1;
  let key: CborKey = 0;
  let previousRank = -1;
  let previousKey: CborKey = 0;
  for (let i = 0; i < n; i++) {
    const k = keys[i];
    if (typeof k === "string") {
      // The UTF-8 length, from encodeInto a scratch buffer: no allocation (which costs V8 far more
      // than the call). encode is for a key too long to be sure to fit.
      const length = 3 * k.length <= KEY_SCRATCH_SIZE ? (utf8Encoder ?? textEncoder()).encodeInto(k, (keyScratch ??= new Uint8Array(KEY_SCRATCH_SIZE))).written : utf8(k).length;
      rank = 2 + length;
      key = k;
      if (length !== k.length) ascii = false; // as many bytes as code units only for ASCII
    } else if (typeof k === "bigint" ? k >= MIN_NEGATIVE64 && k <= MAX_UINT64 : Number.isInteger(k) && Math.abs(k) <= 2 ** 64) {
      rank = k < 0 ? 1 : 0;
      key = k < 0 ? -k : k;
    } else {
      fail("cbor-key-type", "map keys must be integers of at most 64 bits or text");
    }
    ranks[i] = rank;
    sortKeys[i] = key;
    if (sorted && (previousRank > rank || (previousRank === rank && previousKey >= key))) sorted = false;
    previousRank = rank;
    previousKey = key;
  }
  let order: number[] | undefined; // entry indices in sorted order; none: as they are
  if (!(sorted && ascii)) {
    order = ascii && n <= INSERTION_SORT_MAX ? insertionSort(sortKeys, ranks) : undefined;
    if (order === undefined) {
      // A large map, text that is not ASCII, or equal keys (which insertionSort stops at).
      order = sortRanked(sortKeys, ranks, ascii);
      // Equal keys are adjacent now: report the first pair in sorted order.
      for (let i = 1; i < n; i++) {
        const a = order[i - 1];
        const b = order[i];
        if (ranks[a] === ranks[b] && sortKeys[a] == sortKeys[b]) fail("cbor-duplicate-key", `duplicate map key ${String(keys[b])}`);
      }
    }
  }
  writeHead(MAJOR_MAP, n);
  if (n === 0) return;
  // writeValue writes the entries, in key order.
  openLevel(depth + 1, n);
  openKeys = keys;
  openValues = values;
  openRanks = ranks;
  openOrder = order;
}

/**
 * Insertion sort of entry indices by rank, then by sort key with `<` (see writeMap: all text keys
 * are ASCII). Stable: entry i moves left past every entry that sorts strictly after it, so a key
 * equal to its own would be its left neighbour; then it gives up and answers undefined. Small maps
 * only (quadratic); in order, n - 1 comparisons.
 */
function insertionSort(sortKeys: CborKey[], ranks: number[]): number[] | undefined {
  const n = sortKeys.length;
  const order: number[] = new Array(n);
  order[0] = 0;
  // Declared once: XS pays for a block-scoped declaration on every pass of a loop.
  let rank: number;
  let key: CborKey;
  let j: number;
  let before: number;
  let r: number;
  for (let i = 1; i < n; i++) {
    rank = ranks[i];
    key = sortKeys[i];
    j = i - 1;
    while (j >= 0) {
      before = order[j];
      r = ranks[before];
      if (r < rank) break;
      if (r === rank && sortKeys[before] <= key) {
        if (sortKeys[before] == key) return undefined;
        break;
      }
      order[j + 1] = before;
      j--;
    }
    order[j + 1] = i;
  }
  return order;
}

/** The sorted order (entry indices) of any keys (see writeMap), as compareKeys orders them. */
function sortRanked(sortKeys: CborKey[], ranks: number[], ascii: boolean): number[] {
  const n = sortKeys.length;
  const order: number[] = new Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  // Array.prototype.sort is stable: equal keys stay in the order they came.
  return order.sort((a, b) => ranks[a] - ranks[b] || compareSameRank(sortKeys[a], sortKeys[b], ranks[a], ascii));
}

/** The order of two sort keys of one rank (see writeMap). */
function compareSameRank(a: CborKey, b: CborKey, rank: number, ascii: boolean): number {
  if (rank > 1 && !ascii) return compareText(a as string, b as string);
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The bytewise order of the encoded keys, without encoding them: unsigned integers (major 0)
 * ascending, then negative integers (major 1) from -1 downwards, then text strings (major 3) by
 * UTF-8 length and then by content, since the length is part of the head.
 */
export function compareKeys(a: CborKey, b: CborKey): number {
  const classA = keyClass(a);
  const classB = keyClass(b);
  if (classA !== classB) return classA - classB;
  if (classA === 2) return compareText(a as string, b as string);
  // Compare numerically, so that 1 and 1n are the same key. Negative integers encode -1 as argument
  // 0, so values closer to zero sort first.
  const direction = classA === 0 ? 1 : -1;
  if (a < b) return -direction;
  if (a > b) return direction;
  return 0;
}

function keyClass(k: CborKey): number {
  if (typeof k === "string") return 2;
  return k < 0 ? 1 : 0;
}

function compareText(a: string, b: string): number {
  if (a === b) return 0;
  const lengthOrder = utf8Length(a) - utf8Length(b);
  if (lengthOrder !== 0) return lengthOrder;
  // Equal byte lengths: UTF-8 bytewise order is code point order.
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.codePointAt(i) as number;
    const cb = b.codePointAt(j) as number;
    if (ca !== cb) return ca - cb;
    i += ca > 0xffff ? 2 : 1;
    j += cb > 0xffff ? 2 : 1;
  }
  return 0;
}

function utf8Length(text: string): number {
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) length += 1;
    else if (c < 0x800) length += 2;
    else if (c >= 0xd800 && c <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      length += 4;
      i++;
    } else length += 3; // includes a lone surrogate, which TextEncoder writes as U+FFFD
  }
  return length;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}
