// A CBOR-aware byte mutator. It starts from a valid input and applies a few random mutations, some
// blind (bit flips, inserts, deletes, truncation, splicing), some aimed at CBOR structure (length and
// argument bumps, non-shortest heads, hostile headers, deep nesting, items swapped between inputs).
// Device-safe: no Node built-ins. Randomness comes only from the Prng, so a run repeats from its seed.

import type { Prng } from "./prng";
import { concatBytes } from "../../sdk/bytes";

/** Where one CBOR data item lies in a buffer, as found by a lenient scan. */
export interface ItemSpan {
  readonly start: number;
  /** First byte after the head (initial byte and argument). */
  readonly headEnd: number;
  /** First byte after the whole item. */
  end: number;
  readonly major: number;
  readonly info: number;
}

const MAX_SPANS = 512;
const MAX_SCAN_DEPTH = 64;

/**
 * The data items of a well-formed prefix of `bytes` (definite lengths only). Stops quietly at the first
 * thing it does not understand: it is a guide for the mutator, not a decoder.
 */
export function scanItems(bytes: Uint8Array): ItemSpan[] {
  const spans: ItemSpan[] = [];
  const item = (pos: number, depth: number): number => {
    if (pos >= bytes.length || depth > MAX_SCAN_DEPTH || spans.length >= MAX_SPANS) return -1;
    const initial = bytes[pos];
    const major = initial >> 5;
    const info = initial & 0x1f;
    let p = pos + 1;
    let argument: number;
    if (info < 24) argument = info;
    else if (info <= 27) {
      const n = 1 << (info - 24);
      if (p + n > bytes.length) return -1;
      argument = 0;
      for (let i = 0; i < n; i++) argument = argument * 256 + bytes[p + i];
      p += n;
    } else return -1;
    const span: ItemSpan = { start: pos, headEnd: p, end: -1, major, info };
    spans.push(span);
    let end = p;
    if (major === 2 || major === 3) {
      end = p + argument;
      if (end > bytes.length) return -1;
    } else if (major === 4 || major === 5) {
      const count = major === 5 ? 2 * argument : argument;
      if (count > bytes.length) return -1;
      for (let i = 0; i < count; i++) {
        end = item(end, depth + 1);
        if (end < 0) return -1;
      }
    } else if (major === 6) {
      end = item(end, depth + 1);
      if (end < 0) return -1;
    }
    span.end = end;
    return end;
  };
  item(0, 0);
  return spans.filter((s) => s.end >= 0);
}


/** A CBOR head with `argument` in exactly `width` argument bytes (0 for the argument in the initial byte). */
function head(major: number, argument: number, width: 0 | 1 | 2 | 4 | 8): Uint8Array {
  if (width === 0) return Uint8Array.of((major << 5) | (argument & 0x1f));
  const out = new Uint8Array(1 + width);
  out[0] = (major << 5) | (width === 1 ? 24 : width === 2 ? 25 : width === 4 ? 26 : 27);
  let a = argument;
  for (let i = width; i >= 1; i--) {
    out[i] = a % 256;
    a = Math.floor(a / 256);
  }
  return out;
}

function argumentOf(bytes: Uint8Array, span: ItemSpan): number {
  if (span.info < 24) return span.info;
  let a = 0;
  for (let i = span.start + 1; i < span.headEnd; i++) a = a * 256 + bytes[i];
  return a;
}

/** Bytes that often sit on an edge of the CBOR grammar. */
const INTERESTING_BYTES = [
  0x00, 0x01, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1f, 0x20, 0x3f, 0x40, 0x5f, 0x60, 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0,
  0xc2, 0xc3, 0xd2, 0xdf, 0xe0, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xff,
];

/** Heads that claim far more than any input holds, or break the grammar outright. */
const HOSTILE_HEADERS: readonly Uint8Array[] = [
  Uint8Array.of(0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), // byte string of 2^64 - 1 bytes
  Uint8Array.of(0x5b, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00), // 2^53: just past a safe integer
  Uint8Array.of(0x7b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00), // text of 2^32 bytes
  Uint8Array.of(0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), // array of 2^63 - 1 items
  Uint8Array.of(0xbb, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff), // map of 2^32 - 1 pairs
  Uint8Array.of(0x5a, 0xff, 0xff, 0xff, 0xff),
  Uint8Array.of(0x9a, 0x00, 0x01, 0x00, 0x00),
  Uint8Array.of(0x59, 0x40, 0x01), // just over the default string limit
  Uint8Array.of(0x5f), // indefinite byte string
  Uint8Array.of(0x9f), // indefinite array
  Uint8Array.of(0xbf), // indefinite map
  Uint8Array.of(0xff), // break
  Uint8Array.of(0x1c), // reserved additional information
  Uint8Array.of(0xfc),
  Uint8Array.of(0xf8, 0x10), // simple value in two bytes below 32
  Uint8Array.of(0xf9, 0x7c, 0x01), // signalling NaN
  Uint8Array.of(0xfa, 0x7f, 0xc0, 0x00, 0x00), // NaN in 32 bits
  Uint8Array.of(0xc2, 0x40), // bignum with no bytes
  Uint8Array.of(0xc2, 0x41, 0x00), // bignum with a leading zero
  Uint8Array.of(0xc3, 0x61, 0x61), // bignum over text
  Uint8Array.of(0xdb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), // tag 2^64 - 1
  Uint8Array.of(0x62, 0xc3, 0x28), // invalid UTF-8
  Uint8Array.of(0x63, 0xed, 0xa0, 0x80), // UTF-8 of a lone surrogate
  Uint8Array.of(0x1b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01), // non-shortest 1
  Uint8Array.of(0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), // -2^64
];

const NESTING_PREFIXES: readonly Uint8Array[] = [
  Uint8Array.of(0x81), // [ ...
  Uint8Array.of(0xa1, 0x00), // {0: ...
  Uint8Array.of(0xd8, 0x18), // 24(...
  Uint8Array.of(0xd2), // 18(...
  Uint8Array.of(0x82, 0x00), // [0, ...
  Uint8Array.of(0x9f), // [_ ...
];

type Mutation = (rng: Prng, input: Uint8Array, corpus: readonly Uint8Array[]) => Uint8Array;

const flipBit: Mutation = (rng, input) => {
  if (input.length === 0) return rng.bytes(1);
  const out = input.slice();
  out[rng.int(out.length)] ^= 1 << rng.int(8);
  return out;
};

const setByte: Mutation = (rng, input) => {
  if (input.length === 0) return Uint8Array.of(rng.pick(INTERESTING_BYTES));
  const out = input.slice();
  out[rng.int(out.length)] = rng.chance(0.5) ? rng.pick(INTERESTING_BYTES) : rng.int(256);
  return out;
};

const insertBytes: Mutation = (rng, input) => {
  const at = rng.int(input.length + 1);
  const data = rng.chance(0.5) ? rng.bytes(rng.range(1, 8)) : Uint8Array.of(rng.pick(INTERESTING_BYTES));
  return concatBytes(input.subarray(0, at), data, input.subarray(at));
};

const deleteBytes: Mutation = (rng, input) => {
  if (input.length === 0) return input;
  const at = rng.int(input.length);
  const n = Math.min(input.length - at, rng.range(1, 8));
  return concatBytes(input.subarray(0, at), input.subarray(at + n));
};

const truncate: Mutation = (rng, input) => input.slice(0, rng.int(input.length));

const splice: Mutation = (rng, input, corpus) => {
  const other = rng.pick(corpus);
  const at = rng.int(input.length + 1);
  const from = rng.int(other.length + 1);
  return concatBytes(input.subarray(0, at), other.subarray(from));
};

const duplicateChunk: Mutation = (rng, input) => {
  if (input.length === 0) return input;
  const start = rng.int(input.length);
  const end = Math.min(input.length, start + rng.range(1, 16));
  const at = rng.int(input.length + 1);
  return concatBytes(input.subarray(0, at), input.subarray(start, end), input.subarray(at));
};

/** Changes the argument of a real head: a length, count, integer, tag number or float bits. */
const bumpArgument: Mutation = (rng, input) => {
  const spans = scanItems(input);
  if (spans.length === 0) return flipBit(rng, input, []);
  const span = rng.pick(spans);
  const argument = argumentOf(input, span);
  const choice = rng.int(4);
  let replacement: Uint8Array;
  if (choice === 0 || choice === 1) {
    // a little more or less: lengths that run one past, or stop one short
    const delta = rng.pick([-2, -1, 1, 2, 7, 256]) * (choice === 0 ? 1 : -1);
    const value = Math.max(0, argument + delta);
    const width = value < 24 && span.info < 24 ? 0 : value < 0x100 ? 1 : value < 0x10000 ? 2 : value < 0x100000000 ? 4 : 8;
    replacement = head(span.major, value, width);
  } else if (choice === 2) {
    // the same argument in a wider head than needed (non-shortest)
    const widths = ([1, 2, 4, 8] as const).filter((w) => w > span.headEnd - span.start - 1);
    replacement = widths.length ? head(span.major, argument, rng.pick(widths)) : head(span.major, argument, 8);
  } else {
    // a huge argument
    replacement = head(span.major, rng.pick([0xffffffff, 0x100000000, 2 ** 53 - 1, 2 ** 53, 0xffffffffffff]), rng.pick([4, 8] as const));
  }
  return concatBytes(input.subarray(0, span.start), replacement, input.subarray(span.headEnd));
};

/** Changes the major type or additional information of a real head, keeping the rest. */
const retypeHead: Mutation = (rng, input) => {
  const spans = scanItems(input);
  if (spans.length === 0) return setByte(rng, input, []);
  const span = rng.pick(spans);
  const out = input.slice();
  out[span.start] = rng.chance(0.5) ? (rng.int(8) << 5) | span.info : (span.major << 5) | rng.range(24, 31);
  return out;
};

const hostileHeader: Mutation = (rng, input) => {
  const spans = scanItems(input);
  const at = spans.length && rng.chance(0.8) ? rng.pick(spans).start : rng.int(input.length + 1);
  const header = rng.pick(HOSTILE_HEADERS);
  // Either put the header in front of an item, or in its place.
  if (spans.length && rng.chance(0.5)) {
    const span = rng.pick(spans);
    return concatBytes(input.subarray(0, span.start), header, input.subarray(span.end));
  }
  return concatBytes(input.subarray(0, at), header, input.subarray(at));
};

const deepNesting: Mutation = (rng, input) => {
  const prefix = rng.pick(NESTING_PREFIXES);
  const n = rng.chance(0.5) ? rng.range(1, 20) : rng.range(20, 300);
  const nesting = new Uint8Array(prefix.length * n);
  for (let i = 0; i < n; i++) nesting.set(prefix, i * prefix.length);
  const spans = scanItems(input);
  const at = spans.length && rng.chance(0.5) ? rng.pick(spans).start : 0;
  return concatBytes(input.subarray(0, at), nesting, input.subarray(at));
};

/** Replaces one data item with another, from this input or another: duplicate keys, wrong types. */
const replaceItem: Mutation = (rng, input, corpus) => {
  const spans = scanItems(input);
  if (spans.length === 0) return splice(rng, input, corpus);
  const target = rng.pick(spans);
  const source = rng.chance(0.5) ? input : rng.pick(corpus);
  const sourceSpans = source === input ? spans : scanItems(source);
  if (sourceSpans.length === 0) return splice(rng, input, corpus);
  const donor = rng.pick(sourceSpans);
  return concatBytes(input.subarray(0, target.start), source.subarray(donor.start, donor.end), input.subarray(target.end));
};

/** Swaps two sibling-or-not items: map keys out of order, fields in the wrong place. */
const swapItems: Mutation = (rng, input) => {
  const spans = scanItems(input);
  if (spans.length < 2) return flipBit(rng, input, []);
  let a = rng.pick(spans);
  let b = rng.pick(spans);
  if (a.start > b.start) [a, b] = [b, a];
  if (a.end > b.start) return flipBit(rng, input, []); // nested or equal: not swappable
  return concatBytes(
    input.subarray(0, a.start),
    input.subarray(b.start, b.end),
    input.subarray(a.end, b.start),
    input.subarray(a.start, a.end),
    input.subarray(b.end),
  );
};

const MUTATIONS: readonly Mutation[] = [
  flipBit,
  flipBit,
  setByte,
  setByte,
  insertBytes,
  deleteBytes,
  truncate,
  splice,
  duplicateChunk,
  bumpArgument,
  bumpArgument,
  retypeHead,
  hostileHeader,
  deepNesting,
  replaceItem,
  replaceItem,
  swapItems,
];

/** Upper bound on a mutated input, so repeated splicing cannot grow inputs without end. */
export const MAX_INPUT = 4096;

/** One to a few mutations of `input`; `corpus` supplies material for splicing. */
export function mutate(rng: Prng, input: Uint8Array, corpus: readonly Uint8Array[]): Uint8Array {
  let out = input;
  const rounds = rng.geometric(5);
  for (let i = 0; i < rounds; i++) {
    out = rng.pick(MUTATIONS)(rng, out, corpus);
    if (out.length > MAX_INPUT) out = out.slice(0, MAX_INPUT);
  }
  return out;
}
