// CBOR conformance: RFC 8949 Appendix A, deterministic encoding and the strict decoder's refusals.

import { decode, encode, CborFloat, CborTag, type CborValue } from "../../sdk/cbor/index";
import { diagnostic } from "../../sdk/cbor/diagnostic";
import { toHex } from "../../sdk/bytes";
import appendixA from "../fixtures/cbor/appendix_a.json" with { type: "json" };
import type { ConformanceCase } from "./case";
import { check, checkEqual, checkRefused } from "./check";
import { hex } from "./vectors";

interface AppendixEntry {
  hex: string;
  roundtrip: boolean;
  decoded?: unknown;
  diagnostic?: string;
}

// JSON.parse cannot hold these four values exactly (see the vectors' README).
const BIG_VALUES: Record<string, bigint> = {
  "1bffffffffffffffff": 18446744073709551615n,
  c249010000000000000000: 18446744073709551616n,
  "3bffffffffffffffff": -18446744073709551616n,
  c349010000000000000000: -18446744073709551617n,
};

/** Not well-formed per RFC 8949 section 3.3, although the old table marks it round-trip. */
const SIMPLE_24 = "f818";

function isFloatHex(h: string): boolean {
  return h.startsWith("f9") || h.startsWith("fa") || h.startsWith("fb");
}

/** The JSON expectation as the SDK's value, for encoding. */
function fromJson(json: unknown, entryHex: string): CborValue {
  if (entryHex in BIG_VALUES) return BIG_VALUES[entryHex];
  if (typeof json === "number") return isFloatHex(entryHex) ? new CborFloat(json) : json;
  if (Array.isArray(json)) return json.map((item) => fromJson(item, ""));
  if (json !== null && typeof json === "object") {
    const out: Record<string, CborValue> = {};
    for (const [k, v] of Object.entries(json)) out[k] = fromJson(v, "");
    return out;
  }
  return json as CborValue;
}

/** Compares a decoded value with the JSON expectation (maps come back as Map). */
function sameAsJson(value: CborValue, json: unknown, entryHex: string): boolean {
  if (entryHex in BIG_VALUES) return value === BIG_VALUES[entryHex];
  if (value instanceof Map) {
    if (json === null || typeof json !== "object" || Array.isArray(json)) return false;
    const entries = Object.entries(json);
    if (entries.length !== value.size) return false;
    return entries.every(([k, v]) => value.has(k) && sameAsJson(value.get(k), v, ""));
  }
  if (Array.isArray(value)) {
    return Array.isArray(json) && json.length === value.length && value.every((item, i) => sameAsJson(item, json[i], ""));
  }
  return Object.is(value, json);
}

const entries = appendixA as AppendixEntry[];

/**
 * -0.0 is checked directly, not against the fixture's JSON: Moddable's build-time JSON modules (xsc) turn
 * the fixture's -0.0 into 0 (checked on lin: JSON.parse keeps -0, the compiled module does not), so on
 * XS 17 the expectation itself has lost the sign.
 */
const NEGATIVE_ZERO_HEX = "f98000";

const appendixCases: ConformanceCase[] = entries.map((entry) => ({
  name: `cbor appendix A ${entry.hex}`,
  run() {
    const bytes = hex(entry.hex);
    if (entry.hex === SIMPLE_24) {
      checkRefused(() => decode(bytes), "cbor-invalid-simple", "simple(24) in two bytes");
      return;
    }
    if (!entry.roundtrip) {
      // Indefinite lengths and non-preferred float widths: well-formed, but not deterministic.
      const code = isFloatHex(entry.hex) ? "cbor-non-shortest" : "cbor-indefinite-length";
      checkRefused(() => decode(bytes), code, `strict decode of ${entry.hex}`);
      return;
    }
    if (entry.hex === NEGATIVE_ZERO_HEX) {
      check(Object.is(decode(bytes), -0), "f98000 decodes to -0");
      checkEqual(toHex(encode(-0)), entry.hex, "-0 encodes as a half");
      return;
    }
    const value = decode(bytes, { keepFloats: true });
    if (entry.diagnostic !== undefined) {
      checkEqual(diagnostic(value), entry.diagnostic, "diagnostic notation");
      checkEqual(toHex(encode(value)), entry.hex, "re-encoding");
    } else {
      check(sameAsJson(decode(bytes), entry.decoded, entry.hex), `decoded value of ${entry.hex} differs from ${JSON.stringify(entry.decoded)}`);
      checkEqual(toHex(encode(fromJson(entry.decoded, entry.hex))), entry.hex, "deterministic encoding of the expected value");
    }
  },
}));

// Inputs the strict decoder must refuse, each with its stable code.
const REFUSALS: [string, string, string][] = [
  ["1817", "cbor-non-shortest", "23 in two bytes"],
  ["190017", "cbor-non-shortest", "23 in three bytes"],
  ["1a0000ffff", "cbor-non-shortest", "65535 in five bytes"],
  ["1b00000000ffffffff", "cbor-non-shortest", "2^32-1 in nine bytes"],
  ["3817", "cbor-non-shortest", "-24 in two bytes"],
  ["5801ff", "cbor-non-shortest", "length 1 in two bytes"],
  ["1c", "cbor-reserved-info", "additional information 28"],
  ["5d", "cbor-reserved-info", "additional information 29 on a byte string"],
  ["fe", "cbor-reserved-info", "additional information 30 on major 7"],
  ["1f", "cbor-indefinite-length", "indefinite on an integer"],
  ["5f4101ff", "cbor-indefinite-length", "indefinite byte string"],
  ["ff", "cbor-unexpected-break", "lone break"],
  ["f81f", "cbor-invalid-simple", "simple(31) in two bytes"],
  ["a201020103", "cbor-duplicate-key", "duplicate key 1"],
  ["a2616101616102", "cbor-duplicate-key", "duplicate key \"a\""],
  ["a203040102", "cbor-unsorted-keys", "keys 3 then 1"],
  ["a2616201616102", "cbor-unsorted-keys", "keys \"b\" then \"a\""],
  ["a220010002", "cbor-unsorted-keys", "negative key before unsigned"],
  ["a14000", "cbor-key-type", "byte string as a key"],
  ["a201616af93c006162", "cbor-key-type", "float key 1.0 beside integer key 1"],
  ["a1c249010000000000000000f5", "cbor-key-type", "bignum as a key"],
  ["0000", "cbor-trailing-bytes", "two items"],
  ["", "cbor-truncated", "empty input"],
  ["6261", "cbor-truncated", "short text"],
  ["1a0001", "cbor-truncated", "short argument"],
  ["5bffffffffffffffff", "cbor-truncated", "2^64-1 byte string"],
  ["9a7fffffff", "cbor-truncated", "array of 2^31-1 items in five bytes"],
  ["62c328", "cbor-invalid-utf8", "bad UTF-8"],
  ["c24100", "cbor-non-shortest", "bignum with a leading zero"],
  ["c2480100000000000000", "cbor-non-shortest", "bignum that fits in 64 bits"],
  ["c201", "cbor-bignum", "bignum over an integer"],
  ["f97e01", "cbor-non-shortest", "NaN with a payload"],
  ["fa3fc00000", "cbor-non-shortest", "1.5 as float32"],
  ["fb3ff8000000000000", "cbor-non-shortest", "1.5 as float64"],
  ["81".repeat(17) + "00", "cbor-too-deep", "17 nested arrays"],
  ["d818".repeat(17) + "00", "cbor-too-deep", "17 nested tags"],
  ["990401" + "00".repeat(1025), "cbor-too-many-items", "1025 items"],
  ["b90201" + "0000".repeat(513), "cbor-too-many-items", "513 map entries"],
];

const refusalCases: ConformanceCase[] = REFUSALS.map(([input, code, what]) => ({
  name: `cbor refuses ${what} (${code})`,
  run() {
    checkRefused(() => decode(hex(input)), code, what);
  },
}));

const otherCases: ConformanceCase[] = [
  {
    name: "cbor limits are configurable",
    run() {
      checkRefused(() => decode(hex("450102030405"), { maxStringLength: 4 }), "cbor-string-too-long", "5-byte string, limit 4");
      checkRefused(() => decode(hex("83010203"), { maxLength: 3 }), "cbor-too-long", "4-byte input, limit 3");
      checkRefused(() => decode(hex("8181818100"), { maxDepth: 3 }), "cbor-too-deep", "depth 4, limit 3");
      checkRefused(() => decode(hex("83010203"), { maxItems: 3 }), "cbor-too-many-items", "4 items, limit 3");
      checkEqual(toHex(encode(decode(hex("8181818100"), { maxDepth: 4 }))), "8181818100", "depth 4, limit 4");
    },
  },
  {
    name: "cbor unsorted keys are accepted only when asked",
    run() {
      const value = decode(hex("a203040102"), { requireSortedKeys: false }) as Map<number, number>;
      checkEqual(value.get(3), 4, "key 3");
      checkEqual(toHex(encode(value)), "a201020304", "re-encoded in order");
      checkRefused(() => decode(hex("a201020103"), { requireSortedKeys: false }), "cbor-duplicate-key", "duplicates still refused");
    },
  },
  {
    name: "cbor encoder sorts map keys by their encoded bytes",
    run() {
      const map = new Map<string | number | bigint, CborValue>([
        ["aa", 1],
        ["b", 2],
        [-1, 3],
        [10, 4],
        [100, 5],
        [-100, 6],
        ["a", 7],
        ["ü", 8],
        ["z", 9],
      ]);
      // 0a, 1864, 20, 3863, 6161, 6162, 617a, 626161, 62c3bc
      checkEqual(toHex(encode(map)), "a90a04186405200338630661610761620261" + "7a09" + "6261610162c3bc08", "key order");
      checkRefused(() => encode(new Map<number | bigint, CborValue>([[1, 1], [1n, 2]])), "cbor-duplicate-key", "1 and 1n are one key");
    },
  },
  {
    name: "cbor integers: numbers up to 2^53-1, BigInt beyond, bignums beyond 64 bits",
    run() {
      checkEqual(decode(hex("1b001fffffffffffff")), 9007199254740991, "2^53-1 is a number");
      checkEqual(decode(hex("1b0020000000000000")), 9007199254740992n, "2^53 is a bigint");
      checkEqual(decode(hex("3b001ffffffffffffe")), -9007199254740991, "-(2^53-1) is a number");
      checkEqual(decode(hex("3b001fffffffffffff")), -9007199254740992n, "-(2^53) is a bigint");
      checkEqual(toHex(encode(2 ** 60)), "1b1000000000000000", "a whole number beyond 2^53");
      checkEqual(toHex(encode(-(2n ** 64n) - 1n)), "c349010000000000000000", "negative bignum");
      checkEqual(toHex(encode(1n)), "01", "small bigint");
    },
  },
  {
    name: "cbor floats use the shortest exact width",
    run() {
      checkEqual(toHex(encode(0.5)), "f93800", "0.5 as half");
      checkEqual(toHex(encode(-0)), "f98000", "-0 as half");
      checkEqual(toHex(encode(100000.5)), "fa47c35040", "100000.5 as single");
      checkEqual(toHex(encode(0.1)), "fb3fb999999999999a", "0.1 as double");
      checkEqual(toHex(encode(NaN)), "f97e00", "canonical NaN");
      checkEqual(toHex(encode(new CborFloat(2))), "f94000", "2.0 kept a float");
      checkEqual(toHex(encode(2 ** -24)), "f90001", "smallest half subnormal");
      checkEqual(toHex(encode(2 ** -25)), "fa33000000", "below half range");
    },
  },
  {
    name: "cbor encoder refuses what CBOR cannot carry",
    run() {
      checkRefused(() => encode((() => 1) as unknown as CborValue), "cbor-not-encodable", "a function");
      checkRefused(() => encode(new Date(0) as unknown as CborValue), "cbor-not-encodable", "a Date");
      checkRefused(() => encode(new Map([[new Uint8Array(1), 1]]) as unknown as CborValue), "cbor-key-type", "a byte-string key");
      checkRefused(() => encode(new Map([[2n ** 64n, true]])), "cbor-key-type", "a key beyond 64 bits");
      checkRefused(() => encode(new Map([[1.5, true]])), "cbor-key-type", "a float key");
      for (const tag of [-1, 1.5, NaN, 2, 3, 2n ** 64n]) checkRefused(() => encode(new CborTag(tag, 0)), "cbor-not-encodable", `tag ${String(tag)}`);
      checkEqual(toHex(encode(new CborTag(5n, 0))), "c500", "small bigint tag in its shortest form");
      let deep: CborValue = 0;
      for (let i = 0; i < 17; i++) deep = [deep];
      checkRefused(() => encode(deep), "cbor-too-deep", "17 levels (the decoders refuse them too)");
    },
  },
  {
    // The codec keeps its open containers in module state (a loop, not a recursion, so nesting costs a
    // device no stack): a call that fails half-way must leave none of it to the next call.
    name: "cbor encode and decode that fail inside nested containers leave nothing behind for the next call",
    run() {
      const nested = new Map<string, CborValue>([["a", [1, [2, { b: [3, (() => 4) as unknown as CborValue] }]]]]);
      checkRefused(() => encode(nested), "cbor-not-encodable", "a function three levels down");
      checkEqual(toHex(encode(5)), "05", "a number after the failed encode");
      checkEqual(toHex(encode([1, new Map([["x", [2]]])])), "8201a161788102", "nested containers after the failed encode");
      checkRefused(() => decode(hex("a1616182018202a1616283")), "cbor-truncated", "truncated three levels down");
      checkEqual(decode(hex("05")), 5, "a number after the failed decode");
      checkEqual(toHex(encode(decode(hex("8201a161788102")))), "8201a161788102", "nested containers after the failed decode");
      checkRefused(() => decode(hex("c2820102")), "cbor-bignum", "a bignum tag over an array");
      checkEqual(decode(hex("c249010000000000000000")), 18446744073709551616n, "a bignum after the failed one");
    },
  },
  {
    name: "cbor nesting to the depth limit: deterministic bytes, and the decoders read it back",
    run() {
      let deep: CborValue = 0;
      for (let i = 0; i < 16; i++) deep = i % 3 === 0 ? [deep, i] : i % 3 === 1 ? new Map<number, CborValue>([[i, deep], [-1, "x"]]) : new CborTag(1000 + i, deep);
      const bytes = encode(deep);
      checkEqual(toHex(encode(decode(bytes))), toHex(bytes), "16 levels of arrays, maps and tags round-trip");
      checkRefused(() => decode(bytes, { maxDepth: 15 }), "cbor-too-deep", "the same under a limit of 15");
    },
  },
];

export const cborCases: ConformanceCase[] = [...appendixCases, ...refusalCases, ...otherCases];
