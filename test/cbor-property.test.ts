// Property tests of the CBOR codec (sdk/cbor), with cbor-x 1.6.9 as an independent oracle.
//
//   FC_SEED=<n>  replay a run (by default each run has a fresh seed; a failure prints its seed and path)
//   FC_RUNS=<n>  scale the number of runs (default below; the file stays around a few seconds)
//
// Differences of representation between the two libraries, which the comparisons allow for
// ("loose" comparison):
//   - cbor-x has one number type for ints and floats: 2.0 decodes as 2. Loosely, every integral value
//     (number, bigint, whole CborFloat) is compared as a bigint, other numbers with Object.is.
//   - cbor-x returns bigint for every 8-byte integer head (int64AsNumber off, its default; 1.6.9 has no
//     int64AsType option), even for safe values; we return a number for safe integers.
//   - cbor-x returns Buffer (a Uint8Array subclass) for byte strings; compared by content.
//   - cbor-x returns its own Tag class for tags it does not interpret; compared by tag number and value.
// Generators given to cbor-x stay inside what it handles as plain CBOR: no simple values (it reads them
// as "packed" references), only tag numbers it leaves opaque (it interprets 0, 1, 4, 5, 6, 14, 15, 27-29,
// 51, 64-87, 105, 256-259, 216-255, ...).
import test from "ava";
import fc from "fast-check";
import { inspect } from "node:util";
import { Decoder, Encoder, Tag, type Options } from "cbor-x";
import { decode, encode, CborFloat, CborSimple, CborTag, type CborKey, type CborValue, type DecodeOptions } from "../sdk/cbor/index";
import { GatehouseError } from "../sdk/errors";
import { toHex } from "../sdk/bytes";

const RUNS = Number(process.env.FC_RUNS ?? 250);
const params = (runs: number, more: Partial<fc.Parameters<unknown>> = {}): fc.Parameters<unknown> => ({
  numRuns: Math.max(1, Math.round((runs * RUNS) / 250)),
  includeErrorInReport: true,
  ...(process.env.FC_SEED === undefined ? {} : { seed: Number(process.env.FC_SEED) }),
  ...more,
});

const SAFE = Number.MAX_SAFE_INTEGER;
const TWO_64 = 1n << 64n;
/** Limits out of the way, for properties about values rather than limits. */
const UNLIMITED: DecodeOptions = { maxDepth: 200, maxItems: 1 << 24, maxStringLength: 1 << 24, maxLength: 1 << 26 };

// ---------------------------------------------------------------------------------------------------
// cbor-x, configured as close to plain, preferred-serialization CBOR as it goes.

const cborxEncoder = new Encoder({
  useRecords: false, // plain CBOR maps, no record extension
  mapsAsObjects: false,
  useTag259ForMaps: false, // no tag 259 in front of Maps
  tagUint8Array: false, // no tag 64 in front of byte strings
  variableMapSize: true, // shortest map heads
  pack: false,
  bundleStrings: false,
  largeBigIntToFloat: false, // bignums beyond 64 bits as tags 2 and 3
} as Options & { useTag259ForMaps: boolean });
const cborxDecoder = new Decoder({ useRecords: false, mapsAsObjects: false } as Options);

function cborxEncode(value: unknown): Uint8Array {
  return Uint8Array.from(cborxEncoder.encode(value)); // a copy: cbor-x reuses its output buffer
}

/** Tags cbor-x leaves as Tag objects (found by probing 1.6.9), except 2 and 3. */
const OPAQUE_TAGS = [7, 8, 9, 10, 11, 12, 13, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 30, 32, 33, 34, 35, 36, 37, 38, 39, 40, 42, 55, 61, 96, 98, 100, 101, 121, 200, 215, 260, 261, 1001, 1040, 16383, 65535];

// ---------------------------------------------------------------------------------------------------
// Generators of values in the SDK's data model.

const safeInt = fc.oneof(
  fc.integer({ min: -30, max: 30 }),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.constantFrom(23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, SAFE, -SAFE, -24, -25, -256, -257, -65536, -65537, -(2 ** 32), -(2 ** 32) - 1),
);
/** Integers beyond the safe range, within ±2^64 (8-byte heads), and a few bignums beyond. */
const bigBeyondSafe = fc.oneof(
  fc.bigInt({ min: BigInt(SAFE) + 1n, max: TWO_64 }),
  fc.bigInt({ min: -TWO_64, max: -BigInt(SAFE) - 1n }),
  fc.constantFrom(2n ** 53n, -(2n ** 53n), TWO_64 - 1n, TWO_64, -TWO_64, -TWO_64 + 1n, -TWO_64 - 1n),
  fc.bigInt({ min: TWO_64, max: 1n << 100n }),
  fc.bigInt({ min: -(1n << 100n), max: -TWO_64 - 1n }),
);

/** The value of a half-precision bit pattern (own formula, independent of sdk/cbor/float16). */
function halfValue(bits: number): number {
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  const sign = bits & 0x8000 ? -1 : 1;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return exponent === 0 ? sign * fraction * 2 ** -24 : sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

const anyFloat = fc.oneof(
  fc.double(), // NaN, ±Infinity, -0, subnormals and whole values included
  fc.float(), // exact in 32 bits
  fc.integer({ min: 0, max: 0xffff }).map(halfValue), // exact in 16 bits
  fc.constantFrom(NaN, Infinity, -Infinity, -0, 0.5, 1.5, 65504, 65505, 2 ** -24, 2 ** -25, 2 ** -14, 1.1, 3.4028234663852886e38, 2 ** 128, Number.MIN_VALUE, Number.MAX_VALUE),
);

const text = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: "binary", maxLength: 30 }), // any code point, astral included, no lone surrogates
  fc.string({ unit: "grapheme", maxLength: 8 }),
  fc.string({ unit: fc.constantFrom("a", "~", "\u0000", "é", "߿", "ࠀ", "€", "\uFEFF", "\uFFFF", "😀", "\u{10000}", "\u{10FFFF}"), maxLength: 40 }),
  fc.string({ minLength: 20, maxLength: 300 }),
);

const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  fc.uint8Array({ minLength: 250, maxLength: 300 }),
  // a view into a larger buffer: the encoder must honour byteOffset
  fc.uint8Array({ maxLength: 30 }).map((a) => {
    const host = new Uint8Array(a.length + 7).fill(0xee);
    host.set(a, 3);
    return host.subarray(3, 3 + a.length);
  }),
);

const simple = fc.oneof(fc.integer({ min: 0, max: 19 }), fc.integer({ min: 32, max: 255 })).map((v) => new CborSimple(v));
const specials = fc.constantFrom<CborValue>(true, false, null, undefined);

function keyId(k: unknown): string {
  if (typeof k === "string") return `s:${k}`;
  if (typeof k === "bigint") return `i:${k}`;
  if (typeof k === "number" && Number.isInteger(k)) return `i:${BigInt(k)}`;
  return `?:${String(k)}`;
}

function valueOf(leaf: fc.Arbitrary<CborValue>, key: fc.Arbitrary<CborKey>, tagNumber: fc.Arbitrary<number | bigint>, maxDepth = 4): fc.Arbitrary<CborValue> {
  return fc.letrec<{ value: CborValue }>((tie) => ({
    value: fc.oneof(
      { maxDepth, depthSize: "small", withCrossShrink: true },
      leaf,
      fc.array(tie("value"), { maxLength: 5 }),
      fc.uniqueArray(fc.tuple(key, tie("value")), { maxLength: 5, selector: ([k]) => keyId(k) }).map((entries) => new Map(entries)),
      fc.tuple(tagNumber, tie("value")).map(([t, v]) => new CborTag(t, v)),
    ),
  })).value;
}

/**
 * Map keys: integers and text. Integer keys stay within the 64-bit range [-2^64, 2^64 - 1]: a key beyond it
 * is a bignum (a tag) on the wire, which our encoder puts in the wrong place in key order (see the
 * property "keys beyond 64 bits" below).
 */
const mapKey = fc.oneof(safeInt, bigBeyondSafe.filter((b) => b >= -TWO_64 && b < TWO_64), text);

/** The whole data model: what our encoder takes and our decoder returns. */
const ourValue = valueOf(
  fc.oneof(safeInt, bigBeyondSafe, anyFloat, anyFloat.map((x) => new CborFloat(x)), text, bytes, simple, specials),
  mapKey,
  fc.oneof(
    fc.integer({ min: 0, max: 40 }),
    fc.integer({ min: 0, max: 2 ** 32 }),
    fc.maxSafeInteger().filter((n) => n >= 0),
    fc.bigInt({ min: 2n ** 53n, max: TWO_64 - 1n }),
  ).filter((t) => t !== 2 && t !== 3),
);

/** The data model minus what cbor-x cannot read back as plain CBOR (simple values, tags it interprets). */
const ourValueForCborx = valueOf(
  fc.oneof(safeInt, bigBeyondSafe, anyFloat, anyFloat.map((x) => new CborFloat(x)), text, bytes, specials),
  mapKey,
  fc.constantFrom(...OPAQUE_TAGS),
);

// What cbor-x encodes in preferred serialization (so our strict decoder must take it):
//   - integers as numbers only within [-2^32, 2^32 - 1]: it writes larger whole numbers as float64;
//   - integers of 2^32 and more in magnitude as bigint: it writes every bigint with an 8-byte head, so
//     smaller bigints would not be shortest. -2^64 is left out: cbor-x writes it as tag 3 over eight 0xff
//     bytes although it has a 64-bit form;
//   - floats only when float64 is their shortest exact width and they are not whole: cbor-x writes
//     every non-integer as float64 (no half or float32), and NaN, ±Infinity as float64 too; -0 as int 0.
const cborxInt = fc.oneof(
  fc.integer({ min: -(2 ** 32), max: 2 ** 32 - 1 }),
  fc.constantFrom(0, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, -1, -24, -25, -256, -257, -65536, -65537, -(2 ** 32)),
);
const cborxBig = fc.oneof(
  fc.bigInt({ min: 1n << 32n, max: TWO_64 - 1n }),
  fc.bigInt({ min: -TWO_64 + 1n, max: -(1n << 32n) - 1n }),
  fc.bigInt({ min: TWO_64, max: 1n << 100n }),
  fc.bigInt({ min: -(1n << 100n), max: -TWO_64 - 1n }),
);
const float64Only = fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => Math.fround(x) !== x && !Number.isInteger(x));
const cborxValue = valueOf(
  fc.oneof(cborxInt, cborxBig, float64Only, text, bytes, specials),
  fc.oneof(cborxInt, cborxBig.filter((b) => b > -TWO_64 && b < TWO_64), text),
  fc.constantFrom(...OPAQUE_TAGS),
);

// ---------------------------------------------------------------------------------------------------
// Normalisation and comparison.

function isWhole(n: number): boolean {
  return Number.isInteger(n) && !Object.is(n, -0);
}

function integer(b: bigint): number | bigint {
  return b >= -BigInt(SAFE) && b <= BigInt(SAFE) ? Number(b) : b;
}

/** What our decoder (with keepFloats) returns for `v` after our encoder: the data model's one form. */
function normalised(v: CborValue): CborValue {
  if (typeof v === "number") return isWhole(v) ? integer(BigInt(v)) : new CborFloat(v);
  if (typeof v === "bigint") return integer(v);
  if (Array.isArray(v)) return v.map(normalised);
  if (v instanceof Map) return new Map(Array.from(v, ([k, x]) => [normalised(k) as CborKey, normalised(x)]));
  if (v instanceof CborTag) return new CborTag(integer(BigInt(v.tag)), normalised(v.value));
  return v;
}

/** Loose comparison: the representation differences listed at the top. */
function loosened(x: unknown): unknown {
  if (x instanceof CborFloat) x = x.value;
  if (x instanceof Tag) return new CborTag(x.tag, x.value);
  if (typeof x === "number" && isWhole(x)) return BigInt(x);
  return x;
}

function show(x: unknown): string {
  return x instanceof Uint8Array ? `h'${toHex(x)}'` : inspect(x, { depth: 8, breakLength: Infinity });
}

/** The first difference between `a` and `b`, or undefined. Exact: same types; loose: see above. */
function difference(a: unknown, b: unknown, loose: boolean, path = "$"): string | undefined {
  if (loose) {
    a = loosened(a);
    b = loosened(b);
  }
  const differ = () => `${path}: ${show(a)} vs ${show(b)}`;
  if (typeof a !== typeof b) return differ();
  if (typeof a === "number") return Object.is(a, b) ? undefined : differ();
  if (typeof a !== "object" || a === null || b === null) return a === b ? undefined : differ();
  if (a instanceof Uint8Array) return b instanceof Uint8Array && toHex(a) === toHex(b) ? undefined : differ();
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return differ();
    for (let i = 0; i < a.length; i++) {
      const d = difference(a[i], b[i], loose, `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (a instanceof Map) {
    if (!(b instanceof Map) || a.size !== b.size) return differ();
    const byId = new Map<string, [unknown, unknown]>();
    for (const [k, v] of b) byId.set(keyId(loose ? loosened(k) : k), [k, v]);
    for (const [k, v] of a) {
      const other = byId.get(keyId(loose ? loosened(k) : k));
      if (!other) return `${path}: key ${show(k)} missing in ${show(b)}`;
      const d = difference(k, other[0], loose, `${path}<key ${show(k)}>`) ?? difference(v, other[1], loose, `${path}{${show(k)}}`);
      if (d) return d;
    }
    return undefined;
  }
  if (a instanceof CborTag) {
    if (!(b instanceof CborTag)) return differ();
    return difference(a.tag, b.tag, loose, `${path}<tag>`) ?? difference(a.value, b.value, loose, `${path}(${String(a.tag)})`);
  }
  if (a instanceof CborFloat) return b instanceof CborFloat && Object.is(a.value, b.value) ? undefined : differ();
  if (a instanceof CborSimple) return b instanceof CborSimple && a.value === b.value ? undefined : differ();
  return `${path}: unexpected ${show(a)}`;
}

function assertSame(actual: unknown, expected: unknown, loose: boolean, what: string): void {
  const d = difference(actual, expected, loose);
  if (d !== undefined) throw new Error(`${what}: ${d}`);
}

function assertBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  if (toHex(actual) !== toHex(expected)) throw new Error(`${what}:\n  got      h'${toHex(actual)}'\n  expected h'${toHex(expected)}'`);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length && i < b.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** Maps in deterministic key order, the order computed from cbor-x's own encodings of the keys. */
function sortedForCborx(v: CborValue): CborValue {
  if (Array.isArray(v)) return v.map(sortedForCborx);
  if (v instanceof CborTag) return new Tag(sortedForCborx(v.value), Number(v.tag)) as unknown as CborValue;
  if (v instanceof Map) {
    const entries = Array.from(v, ([k, x]) => [k, sortedForCborx(x), cborxEncode(k)] as const);
    entries.sort((p, q) => compareBytes(p[2], q[2]));
    return new Map(entries.map(([k, x]) => [k, x]));
  }
  return v;
}

/** Our CborTag as cbor-x's Tag (its encoder knows only its own class). */
function forCborx(v: CborValue): unknown {
  if (Array.isArray(v)) return v.map(forCborx);
  if (v instanceof CborTag) return new Tag(forCborx(v.value), Number(v.tag));
  if (v instanceof Map) return new Map(Array.from(v, ([k, x]) => [k, forCborx(x)]));
  return v;
}

test("the comparison the properties rely on tells values apart", (t) => {
  const differs = (a: unknown, b: unknown, loose: boolean) => difference(a, b, loose) !== undefined;
  t.false(differs(new Map<CborKey, CborValue>([[1, [Uint8Array.of(1)]], ["a", NaN]]), new Map<CborKey, CborValue>([["a", NaN], [1, [Uint8Array.of(1)]]]), false));
  t.true(differs(1, 1n, false), "exact: number vs bigint");
  t.false(differs(1, 1n, true), "loose: number vs bigint");
  t.false(differs(new CborFloat(2), 2, true), "loose: whole float vs int");
  t.true(differs(new CborFloat(2), 2, false), "exact: whole float vs int");
  t.true(differs(0, -0, true), "-0 is not 0");
  t.true(differs(Uint8Array.of(1, 2), Uint8Array.of(1, 3), true));
  t.true(differs([1, 2], [1, 2, 3], true));
  t.true(differs(new Map([[1, 2]]), new Map([[2, 2]]), true));
  t.true(differs(new Map([[1, 2]]), new Map([[1, 3]]), true));
  t.true(differs(new CborTag(7, 1), new CborTag(8, 1), true));
  t.false(differs(new Tag(1, 7), new CborTag(7, 1), true), "cbor-x Tag vs CborTag");
  t.true(differs(new CborSimple(1), new CborSimple(2), false));
  t.true(differs(null, undefined, true));
  t.true(differs("a", "b", true));
});

// ---------------------------------------------------------------------------------------------------
// Round trips through our own codec.

test("ours: decode(encode(v)) is v in the data model's one form, and encode is idempotent", (t) => {
  fc.assert(
    fc.property(ourValue, (v) => {
      const encoded = encode(v);
      const exact = decode(encoded, { ...UNLIMITED, keepFloats: true });
      assertSame(exact, normalised(v), false, "decode(encode(v), keepFloats)");
      assertBytes(encode(exact), encoded, "encode(decode(encode(v)))");
      // Without keepFloats floats are plain numbers: the same values, loosely.
      assertSame(decode(encoded, UNLIMITED), v, true, "decode(encode(v))");
      // The strict decoder takes what the encoder makes (default limits allowing).
      decode(encoded, { ...UNLIMITED, requireSortedKeys: true });
    }),
    params(400),
  );
  t.pass();
});

// An integer key beyond 64 bits is encoded as a bignum, tag 2 or 3 (c2.. / c3..), so in bytewise key
// order it sorts after every text key (60..7b) — but compareKeys (sdk/cbor/encode.ts) ranks it with the
// integers, before text. encode(new Map([[2n ** 64n, true], ["", 0]])) gives
// a2 c249010000000000000000 f5 60 00, which our own decoder refuses (cbor-unsorted-keys, "map key at
// offset 13 is out of deterministic order"); the deterministic bytes, a2 60 00 c249010000000000000000 f5,
// are accepted by the decoder but never produced by the encoder. The decoder accepts bignum
// keys, so either compareKeys should rank them as major type 6 (positive bignums, then negative ones)
// or both sides should refuse them. This property fails until then.
const keyBeyond64 = fc.oneof(fc.bigInt({ min: TWO_64, max: 1n << 100n }), fc.bigInt({ min: -(1n << 100n), max: -TWO_64 - 1n }));
const BIGNUM_KEY_EXAMPLES = [[[[TWO_64, true], ["", 0]]]] as [[CborKey, CborValue][]][];

test("ours: map keys beyond 64 bits are refused on both sides (they would be bignums, sorting after text)", (t) => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.tuple(fc.oneof(keyBeyond64, mapKey), fc.oneof(safeInt, text)), { minLength: 1, maxLength: 5, selector: ([k]) => keyId(k) }),
      keyBeyond64,
      (entries, big) => {
        const map = new Map<CborKey, CborValue>([...entries, [big, 0]]);
        let code = "accepted";
        try {
          encode(map);
        } catch (e) {
          code = (e as GatehouseError).code;
        }
        if (code !== "cbor-key-type") throw new Error(`encode(${show(map)}) gave ${code}, not cbor-key-type`);
      },
    ),
    params(200, { examples: BIGNUM_KEY_EXAMPLES.map(([entries]) => [entries, TWO_64]) as [unknown, unknown][] }),
  );
  t.throws(() => decode(Uint8Array.from([0xa2, 0x60, 0x00, 0xc2, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xf5])), { message: /not an integer or text/ });
});

// ---------------------------------------------------------------------------------------------------
// cbor-x as the oracle.

test("ours -> cbor-x: cbor-x decodes our encoding to the same value", (t) => {
  fc.assert(
    fc.property(ourValueForCborx, (v) => {
      const decoded = cborxDecoder.decode(encode(v));
      assertSame(decoded, v, true, "cbor-x decode of our encoding");
    }),
    params(300),
  );
  t.pass();
});

test("cbor-x -> ours: we decode cbor-x's encoding (keys in its order) to the same value", (t) => {
  fc.assert(
    fc.property(cborxValue, (v) => {
      const theirs = cborxEncode(forCborx(v));
      const decoded = decode(theirs, { ...UNLIMITED, requireSortedKeys: false });
      assertSame(decoded, v, true, "our decode of cbor-x's encoding");
    }),
    params(300),
  );
  t.pass();
});

test("cbor-x -> ours: with keys sorted, cbor-x's bytes are ours byte for byte and pass the strict decoder", (t) => {
  fc.assert(
    fc.property(cborxValue, (v) => {
      const theirs = cborxEncode(sortedForCborx(v));
      assertBytes(encode(v), theirs, "our encoding vs cbor-x's, keys sorted by cbor-x's key bytes");
      assertSame(decode(theirs, UNLIMITED), v, true, "strict decode of cbor-x's sorted encoding");
    }),
    params(300),
  );
  t.pass();
});

// ---------------------------------------------------------------------------------------------------
// Hostile input.

/** Our valid encodings with one byte changed, or cut short, or with a hostile head in front. */
const damaged = fc.oneof(
  fc.tuple(ourValue, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([v, at, b]) => {
    const e = encode(v).slice();
    e[at % e.length] = b;
    return e;
  }),
  fc.tuple(ourValue, fc.nat()).map(([v, n]) => {
    const e = encode(v);
    return e.subarray(0, n % (e.length + 1));
  }),
  fc.tuple(fc.constantFrom(0x5b, 0x7b, 0x9b, 0xbb, 0xdb, 0x1b, 0x3b, 0xfb, 0x9f, 0xbf, 0x5f, 0x7f, 0xff, 0xf8, 0xc2, 0xc3), fc.uint8Array({ minLength: 0, maxLength: 12 }), ourValue).map(([h, arg, v]) => {
    const e = encode(v);
    const out = new Uint8Array(1 + arg.length + e.length);
    out[0] = h;
    out.set(arg, 1);
    out.set(e, 1 + arg.length);
    return out;
  }),
  fc.integer({ min: 1, max: 400 }).map((n) => new Uint8Array(n).fill(0x81)),
);

test("random and damaged bytes: decode returns a value or throws a GatehouseError with a cbor- code", (t) => {
  const seen = new Set<string>();
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), damaged), (input) => {
      for (const options of [undefined, { keepFloats: true }, { requireSortedKeys: false }] as (DecodeOptions | undefined)[]) {
        try {
          decode(input, options);
          seen.add("ok");
        } catch (e) {
          if (!(e instanceof GatehouseError)) throw new Error(`untyped ${show(e)} for h'${toHex(input)}'`);
          if (!e.code.startsWith("cbor-")) throw new Error(`code ${e.code} for h'${toHex(input)}'`);
          seen.add(e.code);
        }
      }
    }),
    params(1500),
  );
  t.log(`outcomes: ${Array.from(seen).sort().join(", ")}`);
  t.true(seen.has("ok") && seen.has("cbor-truncated") && seen.size >= 6, "the inputs reached several refusals and some values");
});

// ---------------------------------------------------------------------------------------------------
// Strictness: an accepted input is the one deterministic encoding of its value.
//
// Inputs come from a raw item generator written for this test, which builds CBOR bytes directly and may
// choose non-shortest heads, indefinite lengths, any map key type and order, floats of every width,
// simple values, bignums, invalid UTF-8 — the choices a strict decoder must refuse, next to the ones
// it must take.

function head(major: number, argument: bigint, width: number): Uint8Array {
  let w = width;
  if (w === 0 && argument >= 24n) w = -1;
  if (w > 0 && argument >= 1n << BigInt(8 * w)) w = -1;
  if (w < 0) w = argument < 24n ? 0 : argument < 0x100n ? 1 : argument < 0x10000n ? 2 : argument < 0x100000000n ? 4 : 8;
  if (w === 0) return Uint8Array.of((major << 5) | Number(argument));
  const out = new Uint8Array(1 + w);
  out[0] = (major << 5) | { 1: 24, 2: 25, 4: 26, 8: 27 }[w as 1 | 2 | 4 | 8];
  for (let i = w, a = argument; i >= 1; i--, a >>= 8n) out[i] = Number(a & 0xffn);
  return out;
}

function join(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** -1: shortest (mostly); otherwise a chosen width, which may be longer than needed. */
const width = fc.oneof({ weight: 12, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.constantFrom(0, 1, 2, 4, 8) });
const argument = fc.oneof(
  fc.bigInt({ min: 0n, max: 30n }),
  fc.bigInt({ min: 0n, max: TWO_64 - 1n }),
  fc.constantFrom(23n, 24n, 255n, 256n, 65535n, 65536n, (1n << 32n) - 1n, 1n << 32n, (1n << 53n) - 1n, 1n << 53n, TWO_64 - 1n),
);
const utf8 = new TextEncoder();
const rawInteger = fc.tuple(fc.constantFrom(0, 1), argument, width).map(([major, a, w]) => head(major, a, w));
const rawText = fc.oneof(
  fc.tuple(text, width).map(([s, w]) => {
    const data = utf8.encode(s);
    return join([head(3, BigInt(data.length), w), data]);
  }),
  fc.uint8Array({ maxLength: 8 }).map((data) => join([head(3, BigInt(data.length), -1), data])), // often not UTF-8
);
const rawBytes = fc.tuple(fc.uint8Array({ maxLength: 20 }), width).map(([data, w]) => join([head(2, BigInt(data.length), w), data]));
const rawFloat = fc.oneof(
  fc.integer({ min: 0, max: 0xffff }).map((bits) => Uint8Array.of(0xf9, bits >> 8, bits & 0xff)),
  fc.oneof(fc.float(), fc.integer({ min: 0, max: 0xffff }).map(halfValue)).map((x) => {
    const out = new Uint8Array(5);
    out[0] = 0xfa;
    new DataView(out.buffer).setFloat32(1, x);
    return out;
  }),
  fc.oneof(fc.double(), fc.float(), fc.integer({ min: 0, max: 0xffff }).map(halfValue)).map((x) => {
    const out = new Uint8Array(9);
    out[0] = 0xfb;
    new DataView(out.buffer).setFloat64(1, x);
    return out;
  }),
);
const rawSimple = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.boolean()).map(([v, long]) => (v < 24 && !long ? Uint8Array.of(0xe0 | v) : Uint8Array.of(0xf8, v)));
const rawBignum = fc.tuple(fc.constantFrom(2n, 3n), fc.uint8Array({ maxLength: 12 })).map(([tag, data]) => join([head(6, tag, -1), head(2, BigInt(data.length), -1), data]));
const rawKey = fc.oneof(rawInteger, rawText);

const rawItem = fc.letrec<{ item: Uint8Array }>((tie) => ({
  item: fc.oneof(
    { maxDepth: 3, depthSize: "small" },
    fc.oneof(rawInteger, rawText, rawBytes, rawFloat, rawSimple, rawBignum),
    fc.tuple(fc.array(tie("item"), { maxLength: 4 }), width, fc.integer({ min: 0, max: 15 })).map(([items, w, indefinite]) =>
      indefinite === 0 ? join([Uint8Array.of(0x9f), ...items, Uint8Array.of(0xff)]) : join([head(4, BigInt(items.length), w), ...items]),
    ),
    fc
      .tuple(
        // keys: mostly integers and text, sometimes any item (floats, arrays, tags, ...)
        fc.array(fc.tuple(fc.oneof({ weight: 4, arbitrary: rawKey }, { weight: 1, arbitrary: tie("item") }), tie("item")), { maxLength: 4 }),
        width,
        fc.integer({ min: 0, max: 7 }),
      )
      .map(([pairs, w, order]) => {
        const sorted = order === 0 ? pairs : pairs.slice().sort((p, q) => compareBytes(p[0], q[0]));
        return join([head(5, BigInt(pairs.length), w), ...sorted.flat()]);
      }),
    fc.tuple(fc.oneof(fc.bigInt({ min: 0n, max: 300n }), argument), width, tie("item")).map(([tag, w, item]) => join([head(6, tag, w), item])),
  ),
})).item;

/** Values cbor-x reads as plain CBOR (see the top of the file). */
function cborxReadable(v: CborValue): boolean {
  if (v instanceof CborSimple) return false;
  if (v instanceof CborTag) return OPAQUE_TAGS.indexOf(Number(v.tag)) >= 0 && cborxReadable(v.value);
  if (Array.isArray(v)) return v.every(cborxReadable);
  if (v instanceof Map) return Array.from(v).every(([k, x]) => cborxReadable(k) && cborxReadable(x));
  return true;
}


test("strict: an input the decoder takes (keepFloats) is the deterministic encoding of its value, and cbor-x agrees", (t) => {
  let accepted = 0;
  fc.assert(
    fc.property(rawItem, (input) => {
      let value: CborValue;
      try {
        value = decode(input, { keepFloats: true });
      } catch (e) {
        if (!(e instanceof GatehouseError) || !e.code.startsWith("cbor-")) throw new Error(`untyped ${show(e)} for h'${toHex(input)}'`);
        return;
      }
      accepted++;
      assertBytes(encode(value), input, `re-encoding of accepted h'${toHex(input)}' (${show(value)})`);
      if (cborxReadable(value)) assertSame(cborxDecoder.decode(input), value, true, `cbor-x decode of accepted h'${toHex(input)}'`);
    }),
    params(1000),
  );
  t.log(`${accepted} accepted inputs checked`);
  t.true(accepted > 50, "the raw generator produces acceptable inputs too");
});

// A map key 1.0 (f9 3c00) is a float, which RFC 8949 allows as a key but the SDK's data model does not
// (keys are integers or text; the decoder's own header lists cbor-key-type). With keepFloats the decoder
// refuses it (cbor-key-type); without, it returns the key as the number 1 — so {1: "a", 1.0: "b"}
// (a2 01 6161 f93c00 6162) is accepted as Map {1 => "b"}: two keys collapse silently, the first value is
// lost, and the accepted bytes are not the encoding of the returned value. This property fails until the
// decoder refuses float keys whatever keepFloats says.
const FLOAT_KEY_EXAMPLES: [Uint8Array][] = [
  [Uint8Array.of(0xa2, 0x01, 0x61, 0x61, 0xf9, 0x3c, 0x00, 0x61, 0x62)], // {1: "a", 1.0: "b"}
  [Uint8Array.of(0xa1, 0xf9, 0x3e, 0x00, 0x61, 0x61)], // {1.5: "a"}
];

test("strict: keepFloats does not change which inputs are accepted (float map keys)", (t) => {
  fc.assert(
    fc.property(rawItem, (input) => {
      const outcome = (options?: DecodeOptions): string => {
        try {
          decode(input, options);
          return "ok";
        } catch (e) {
          return e instanceof GatehouseError ? e.code : `untyped ${show(e)}`;
        }
      };
      const withFloats = outcome({ keepFloats: true });
      const plain = outcome();
      if (withFloats !== plain) throw new Error(`h'${toHex(input)}': "${plain}" without keepFloats, "${withFloats}" with it`);
    }),
    params(1000, { examples: FLOAT_KEY_EXAMPLES as [unknown][] }),
  );
  t.pass();
});
