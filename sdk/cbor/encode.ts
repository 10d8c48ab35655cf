// Deterministic CBOR encoder (RFC 8949 section 4.2.1, "core deterministic encoding"):
// shortest heads, definite lengths, shortest exact floats, map keys in the bytewise order of their
// encodings. Two encoders following these rules produce the same bytes for the same value, which is
// what lets a signature over CBOR be checked against a re-built structure.

import { fail } from "../errors";
import { CborFloat, CborSimple, CborTag, type CborKey, type CborValue } from "./types";
import { numberToHalf, floatWidth } from "./float16";

const MAJOR_UNSIGNED = 0x00;
const MAJOR_NEGATIVE = 0x20;
const MAJOR_BYTES = 0x40;
const MAJOR_TEXT = 0x60;
const MAJOR_ARRAY = 0x80;
const MAJOR_MAP = 0xa0;
const MAJOR_TAG = 0xc0;
const TWO_POW_32 = 0x100000000;
const MAX_UINT64 = (1n << 64n) - 1n;
/** Nesting beyond this is refused rather than risking the (small) native stack of a device. */
const MAX_ENCODE_DEPTH = 64;

let utf8Encoder: TextEncoder | undefined;

export function utf8(text: string): Uint8Array {
  utf8Encoder ??= new TextEncoder();
  return utf8Encoder.encode(text);
}

/** A growable output buffer. One instance is reused across calls: encode is not re-entrant. */
class Writer {
  bytes = new Uint8Array(256);
  view = new DataView(this.bytes.buffer);
  pos = 0;

  reserve(n: number): void {
    const needed = this.pos + n;
    if (needed <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.pos));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }

  head(major: number, argument: number): void {
    this.reserve(9);
    const at = this.pos;
    if (argument < 24) {
      this.bytes[at] = major | argument;
      this.pos = at + 1;
    } else if (argument < 0x100) {
      this.bytes[at] = major | 24;
      this.bytes[at + 1] = argument;
      this.pos = at + 2;
    } else if (argument < 0x10000) {
      this.bytes[at] = major | 25;
      this.view.setUint16(at + 1, argument);
      this.pos = at + 3;
    } else if (argument < TWO_POW_32) {
      this.bytes[at] = major | 26;
      this.view.setUint32(at + 1, argument);
      this.pos = at + 5;
    } else {
      this.bytes[at] = major | 27;
      this.view.setUint32(at + 1, Math.floor(argument / TWO_POW_32));
      this.view.setUint32(at + 5, argument % TWO_POW_32);
      this.pos = at + 9;
    }
  }

  bigHead(major: number, argument: bigint): void {
    this.reserve(9);
    this.bytes[this.pos] = major | 27;
    this.view.setUint32(this.pos + 1, Number(argument >> 32n));
    this.view.setUint32(this.pos + 5, Number(argument & 0xffffffffn));
    this.pos += 9;
  }

  raw(data: Uint8Array): void {
    this.reserve(data.length);
    this.bytes.set(data, this.pos);
    this.pos += data.length;
  }
}

const shared = new Writer();

/** Encode `value` in core deterministic encoding. */
export function encode(value: CborValue): Uint8Array {
  const writer = shared;
  writer.pos = 0;
  try {
    writeValue(writer, value, 0);
    return writer.bytes.slice(0, writer.pos);
  } finally {
    // Give back a buffer that grew for one large item, so memory stays bounded between calls.
    if (writer.bytes.length > 4096) {
      writer.bytes = new Uint8Array(256);
      writer.view = new DataView(writer.bytes.buffer);
    }
  }
}

function writeValue(w: Writer, value: CborValue, depth: number): void {
  switch (typeof value) {
    case "number":
      return writeNumber(w, value);
    case "bigint":
      return writeBigInt(w, value);
    case "string":
      return writeText(w, value);
    case "boolean":
      w.reserve(1);
      w.bytes[w.pos++] = value ? 0xf5 : 0xf4;
      return;
    case "undefined":
      w.reserve(1);
      w.bytes[w.pos++] = 0xf7;
      return;
  }
  if (value === null) {
    w.reserve(1);
    w.bytes[w.pos++] = 0xf6;
    return;
  }
  if (depth >= MAX_ENCODE_DEPTH) fail("cbor-too-deep", `nesting deeper than ${MAX_ENCODE_DEPTH}`);
  if (value instanceof Uint8Array) {
    w.head(MAJOR_BYTES, value.length);
    w.raw(value);
  } else if (Array.isArray(value)) {
    w.head(MAJOR_ARRAY, value.length);
    for (let i = 0; i < value.length; i++) writeValue(w, value[i], depth + 1);
  } else if (value instanceof Map) {
    writeMap(w, Array.from(value.entries()), depth);
  } else if (value instanceof CborTag) {
    writeTagHead(w, value.tag);
    writeValue(w, value.value, depth + 1);
  } else if (value instanceof CborFloat) {
    writeFloat(w, value.value);
  } else if (value instanceof CborSimple) {
    const n = value.value;
    if (!(Number.isInteger(n) && n >= 0 && n <= 255 && (n < 20 || n >= 32))) fail("cbor-not-encodable", `simple value ${n} cannot be encoded`);
    w.head(0xe0, n);
  } else if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    writeMap(w, Object.entries(value), depth);
  } else {
    fail("cbor-not-encodable", `cannot encode a value of type ${typeof value}`);
  }
}

/** Tags 2 and 3 are written only for bigints; other tag numbers must fit in 64 bits. */
function writeTagHead(w: Writer, tag: number | bigint): void {
  const n = typeof tag === "bigint" && tag <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(tag) : tag;
  const valid = typeof n === "bigint" ? n >= 0n && n <= MAX_UINT64 : Number.isSafeInteger(n) && n >= 0;
  if (!valid || n === 2 || n === 3) fail("cbor-not-encodable", `tag number ${String(tag)} cannot be encoded`);
  if (typeof n === "bigint") w.bigHead(MAJOR_TAG, n);
  else w.head(MAJOR_TAG, n);
}

function writeNumber(w: Writer, n: number): void {
  if (Number.isInteger(n) && !Object.is(n, -0)) {
    if (n >= 0) {
      if (n <= Number.MAX_SAFE_INTEGER) return w.head(MAJOR_UNSIGNED, n);
    } else if (n >= -Number.MAX_SAFE_INTEGER) {
      return w.head(MAJOR_NEGATIVE, -1 - n);
    }
    // Whole numbers beyond 2^53 are exact as numbers; encode them as the integers they are.
    return writeBigInt(w, BigInt(n));
  }
  writeFloat(w, n);
}

function writeFloat(w: Writer, x: number): void {
  const width = floatWidth(x);
  w.reserve(9);
  const at = w.pos;
  if (width === 16) {
    w.bytes[at] = 0xf9;
    w.view.setUint16(at + 1, numberToHalf(x));
    w.pos = at + 3;
  } else if (width === 32) {
    w.bytes[at] = 0xfa;
    w.view.setFloat32(at + 1, x);
    w.pos = at + 5;
  } else {
    w.bytes[at] = 0xfb;
    w.view.setFloat64(at + 1, x);
    w.pos = at + 9;
  }
}

function writeBigInt(w: Writer, n: bigint): void {
  const negative = n < 0n;
  const magnitude = negative ? -1n - n : n;
  const major = negative ? MAJOR_NEGATIVE : MAJOR_UNSIGNED;
  if (magnitude <= BigInt(Number.MAX_SAFE_INTEGER)) return w.head(major, Number(magnitude));
  if (magnitude <= MAX_UINT64) return w.bigHead(major, magnitude);
  // Beyond 64 bits: a bignum, tag 2 or 3 over the big-endian magnitude without leading zeros.
  const bytes: number[] = [];
  for (let m = magnitude; m > 0n; m >>= 8n) bytes.unshift(Number(m & 0xffn));
  w.head(MAJOR_TAG, negative ? 3 : 2);
  w.head(MAJOR_BYTES, bytes.length);
  w.raw(Uint8Array.from(bytes));
}

function writeText(w: Writer, text: string): void {
  const n = text.length;
  // Short ASCII strings (most map keys) skip the TextEncoder round trip.
  if (n < 24) {
    let ascii = true;
    for (let i = 0; i < n; i++) {
      if (text.charCodeAt(i) > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      w.reserve(n + 1);
      const bytes = w.bytes;
      let at = w.pos;
      bytes[at++] = MAJOR_TEXT | n;
      for (let i = 0; i < n; i++) bytes[at++] = text.charCodeAt(i);
      w.pos = at;
      return;
    }
  }
  const data = utf8(text);
  w.head(MAJOR_TEXT, data.length);
  w.raw(data);
}

function writeMap(w: Writer, entries: [CborKey | string, CborValue][], depth: number): void {
  for (let i = 0; i < entries.length; i++) {
    const k = entries[i][0];
    const ok = typeof k === "string" || (typeof k === "bigint" ? k >= -(MAX_UINT64 + 1n) && k <= MAX_UINT64 : Number.isInteger(k) && Math.abs(k as number) <= 2 ** 64);
    if (!ok) fail("cbor-key-type", "map keys must be integers of at most 64 bits or text");
  }
  if (entries.length > 1) {
    entries.sort(compareEntries);
    // Duplicates are found after sorting: a sort may compare an element with itself (XS does).
    for (let i = 1; i < entries.length; i++) {
      if (compareKeys(entries[i - 1][0], entries[i][0]) === 0) fail("cbor-duplicate-key", `duplicate map key ${String(entries[i][0])}`);
    }
  }
  w.head(MAJOR_MAP, entries.length);
  for (let i = 0; i < entries.length; i++) {
    writeValue(w, entries[i][0], depth + 1);
    writeValue(w, entries[i][1], depth + 1);
  }
}

function compareEntries(a: [CborKey, CborValue], b: [CborKey, CborValue]): number {
  return compareKeys(a[0], b[0]);
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
