// COSE_Sign1 conformance: the cose-wg vectors, byte-exact Ed25519 signing, and every message attack
// of the workspace's security model (../shared/docs/security-model.md) that the Sign1 layer owns.

import { decode, encode, CborTag, type CborMap, type CborValue } from "../../sdk/cbor/index";
import { toHex } from "../../sdk/bytes";
import { utf8 } from "../../sdk/cbor/encode";
import { sign1, verifySign1, StaticKeyRing, HEADER_ALG, HEADER_KID, type VerifyOptions } from "../../sdk/cose/sign1";
import { decodeKey, encodeKey, publicKey, type CoseKey } from "../../sdk/cose/key";
import type { CryptoPort } from "../../sdk/ports/crypto";
import type { ConformanceCase } from "./case";
import { check, checkBytes, checkEqual, checkRefused } from "./check";
import { hex, keyFromVector } from "./vectors";

import pass01 from "../fixtures/cose/sign1-tests/sign-pass-01.json" with { type: "json" };
import pass02 from "../fixtures/cose/sign1-tests/sign-pass-02.json" with { type: "json" };
import pass03 from "../fixtures/cose/sign1-tests/sign-pass-03.json" with { type: "json" };
import fail01 from "../fixtures/cose/sign1-tests/sign-fail-01.json" with { type: "json" };
import fail02 from "../fixtures/cose/sign1-tests/sign-fail-02.json" with { type: "json" };
import fail03 from "../fixtures/cose/sign1-tests/sign-fail-03.json" with { type: "json" };
import fail04 from "../fixtures/cose/sign1-tests/sign-fail-04.json" with { type: "json" };
import fail06 from "../fixtures/cose/sign1-tests/sign-fail-06.json" with { type: "json" };
import fail07 from "../fixtures/cose/sign1-tests/sign-fail-07.json" with { type: "json" };
import eddsa01 from "../fixtures/cose/eddsa-examples/eddsa-sig-01.json" with { type: "json" };
import ecdsa01 from "../fixtures/cose/ecdsa-examples/ecdsa-sig-01.json" with { type: "json" };
import cwtA3 from "../fixtures/cose/CWT/A_3.json" with { type: "json" };
import rfc8152C21 from "../fixtures/cose/RFC8152/Appendix_C_2_1.json" with { type: "json" };

interface Vector {
  title: string;
  input: { plaintext?: string; plaintext_hex?: string; sign0: { key: Parameters<typeof keyFromVector>[0]; external?: string } };
  output: { cbor: string };
}

function payloadOf(v: Vector): Uint8Array {
  return v.input.plaintext_hex !== undefined ? hex(v.input.plaintext_hex) : utf8(v.input.plaintext ?? "");
}

function verifyVector(crypto: CryptoPort, v: Vector, options: VerifyOptions = {}) {
  const key = keyFromVector(v.input.sign0.key);
  const aad = v.input.sign0.external;
  return verifySign1(crypto, hex(v.output.cbor), new StaticKeyRing([publicKey(key)]), {
    externalAad: aad ? hex(aad) : undefined,
    ...options,
  });
}

const PASSING: [Vector, string][] = [
  [pass02 as Vector, "external AAD"],
  [pass03 as Vector, "untagged"],
  [eddsa01 as Vector, "Ed25519"],
  [ecdsa01 as Vector, "ES256 with content type"],
  [rfc8152C21 as Vector, "RFC 8152 C.2.1"],
];

const FAILING: [Vector, string][] = [
  [pass01 as Vector, "alg-unprotected"], // policy: alg must be protected (see test/fixtures/PROVENANCE.md)
  [fail01 as Vector, "cose-bad-tag"],
  [fail02 as Vector, "bad-signature"],
  [fail03 as Vector, "alg-unknown"],
  [fail04 as Vector, "alg-unknown"],
  [fail06 as Vector, "bad-signature"],
  [fail07 as Vector, "bad-signature"],
];

// Test keys (published vectors, never used outside tests): P-256 kid "11" and RFC 8032 TEST 1.
const ES256_KEY = keyFromVector((ecdsa01 as Vector).input.sign0.key);
const EDDSA_KEY = keyFromVector((eddsa01 as Vector).input.sign0.key);
const OTHER_ES256_KEY: CoseKey = keyFromVector((cwtA3 as Vector).input.sign0.key, "other");
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

function ring(...keys: CoseKey[]) {
  return new StaticKeyRing(keys.map(publicKey));
}

/** A crypto port that fails the test if the core calls it: proves a refusal happened before any math. */
function untouchable(): CryptoPort {
  const stop = (): never => {
    throw new Error("the crypto port was called for a message the core must refuse first");
  };
  return { verify: stop, sign: stop, sha256: stop, createSha256: stop };
}

function scalarBytes(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 31; i >= 0; i--) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

function bigFromBytes(bytes: Uint8Array): bigint {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

/** Rebuilds a signed message with one part replaced, keeping everything else as it was. */
function rebuild(message: Uint8Array, change: (parts: CborValue[]) => void): Uint8Array {
  const item = decode(message) as CborTag;
  const parts = (item.value as CborValue[]).slice();
  change(parts);
  return encode(new CborTag(18, parts));
}

function withSignature(message: Uint8Array, signature: Uint8Array): Uint8Array {
  return rebuild(message, (parts) => {
    parts[3] = signature;
  });
}

const vectorCases: ConformanceCase[] = [
  ...PASSING.map(([v, what]): ConformanceCase => ({
    name: `cose vector verifies: ${v.title} (${what})`,
    run(env) {
      const result = verifyVector(env.crypto, v);
      checkBytes(result.payload, payloadOf(v), "payload");
    },
  })),
  {
    name: "cose vector verifies: RFC 8392 A.3 signed CWT (no kid, single key)",
    run(env) {
      const v = cwtA3 as Vector;
      const result = verifySign1(env.crypto, hex(v.output.cbor), publicKey(OTHER_ES256_KEY));
      checkBytes(result.payload, payloadOf(v), "payload");
      const claims = decode(result.payload) as CborMap;
      checkEqual(claims.get(2), "erikw", "sub claim");
    },
  },
  ...FAILING.map(([v, code]): ConformanceCase => ({
    name: `cose vector refused: ${v.title} (${code})`,
    run(env) {
      checkRefused(() => verifyVector(env.crypto, v), code, v.title);
    },
  })),
  {
    name: "cose sign-pass-02 needs its external AAD",
    run(env) {
      const v = pass02 as Vector;
      checkRefused(() => verifySign1(env.crypto, hex(v.output.cbor), ring(ES256_KEY)), "bad-signature", "no AAD");
    },
  },
  {
    name: "cose Ed25519 signing is byte-exact with eddsa-sig-01",
    run(env) {
      const v = eddsa01 as Vector;
      const message = sign1(env.crypto, EDDSA_KEY, payloadOf(v), {
        protectedHeader: new Map([[HEADER_ALG, -8], [3, 0]]),
        unprotectedHeader: new Map([[HEADER_KID, EDDSA_KEY.kid]]),
      });
      checkEqual(toHex(message), v.output.cbor.toLowerCase(), "signed message");
    },
  },
];

function signedPair(env: { crypto: CryptoPort }, key: CoseKey) {
  const payload = utf8("open the door");
  return { payload, message: sign1(env.crypto, key, payload) };
}

const attackCases: ConformanceCase[] = [];
for (const key of [ES256_KEY, EDDSA_KEY]) {
  const alg = key.alg;
  attackCases.push(
    {
      name: `cose ${alg}: sign then verify, tagged and untagged, with AAD`,
      run(env) {
        const aad = utf8("device-1");
        const tagged = sign1(env.crypto, key, utf8("hello"), { externalAad: aad });
        const untagged = sign1(env.crypto, key, utf8("hello"), { externalAad: aad, tagged: false });
        const keys = ring(key);
        checkEqual(verifySign1(env.crypto, tagged, keys, { externalAad: aad, tag: "required" }).alg, alg, "tagged");
        checkEqual(verifySign1(env.crypto, untagged, keys, { externalAad: aad, tag: "forbidden" }).alg, alg, "untagged");
        checkRefused(() => verifySign1(env.crypto, untagged, keys, { externalAad: aad, tag: "required" }), "cose-untagged", "tag required");
        checkRefused(() => verifySign1(env.crypto, tagged, keys, { externalAad: aad, tag: "forbidden" }), "cose-tagged", "tag forbidden");
        checkRefused(() => verifySign1(env.crypto, tagged, keys, { externalAad: utf8("device-2") }), "bad-signature", "other AAD");
        const protectedBytes = ((decode(tagged) as CborTag).value as Uint8Array[])[0];
        const protectedHeader = decode(protectedBytes) as CborMap;
        checkBytes(protectedHeader.get(HEADER_KID) as Uint8Array, key.kid, "kid is protected");
      },
    },
    {
      name: `cose ${alg}: every flipped byte is refused (tampering)`,
      run(env) {
        const { message } = signedPair(env, key);
        const keys = ring(key);
        for (let i = 0; i < message.length; i++) {
          const tampered = message.slice();
          tampered[i] ^= 0x01;
          let accepted = false;
          try {
            verifySign1(env.crypto, tampered, keys);
            accepted = true;
          } catch (e) {
            check((e as { code?: string }).code !== undefined, `byte ${i}: untyped error ${(e as Error).message}`);
          }
          check(!accepted, `a message with byte ${i} flipped was accepted`);
        }
      },
    },
    {
      name: `cose ${alg}: forged, truncated and extended signatures are refused`,
      run(env) {
        const { message } = signedPair(env, key);
        const other = sign1(env.crypto, key, utf8("another message"));
        const otherSignature = ((decode(other) as CborTag).value as Uint8Array[])[3];
        const signature = ((decode(message) as CborTag).value as Uint8Array[])[3];
        const keys = ring(key);
        checkRefused(() => verifySign1(env.crypto, withSignature(message, otherSignature), keys), "bad-signature", "signature of another message");
        checkRefused(() => verifySign1(env.crypto, withSignature(message, signature.subarray(0, 63)), keys), "bad-signature", "truncated");
        const extended = new Uint8Array(65);
        extended.set(signature);
        checkRefused(() => verifySign1(env.crypto, withSignature(message, extended), keys), "bad-signature", "extended");
        checkRefused(() => verifySign1(env.crypto, withSignature(message, new Uint8Array(0)), keys), "bad-signature", "empty");
      },
    },
    {
      name: `cose ${alg}: wrong key and unknown kid are refused`,
      run(env) {
        const { message } = signedPair(env, key);
        const impostor: CoseKey = { ...publicKey(alg === "ES256" ? OTHER_ES256_KEY : ES256_KEY), kid: key.kid };
        checkRefused(() => verifySign1(env.crypto, message, new StaticKeyRing([{ ...publicKey(OTHER_ES256_KEY), kid: utf8("nobody") }])), "unknown-kid", "kid not in the ring");
        const wrongKeyCode = alg === "ES256" ? "bad-signature" : "alg-not-allowed";
        checkRefused(() => verifySign1(env.crypto, message, new StaticKeyRing([impostor])), wrongKeyCode, "another key under the same kid");
      },
    },
  );
}

const headerCases: ConformanceCase[] = [
  {
    name: "cose alg confusion: an EdDSA message for an ES256 key is refused",
    run(env) {
      const message = sign1(env.crypto, EDDSA_KEY, utf8("x"));
      const es256UnderSameKid: CoseKey = { ...publicKey(ES256_KEY), kid: EDDSA_KEY.kid };
      checkRefused(() => verifySign1(untouchable(), message, new StaticKeyRing([es256UnderSameKid])), "alg-not-allowed", "alg of another key type");
    },
  },
  {
    name: "cose alg missing, unprotected-only, or unknown is refused before any math",
    run(env) {
      const { message } = signedPair(env, ES256_KEY);
      const keys = ring(ES256_KEY);
      const noAlg = rebuild(message, (p) => {
        p[0] = encode(new Map([[HEADER_KID, ES256_KEY.kid]]));
      });
      checkRefused(() => verifySign1(untouchable(), noAlg, keys), "alg-missing", "no alg");
      const algOutside = rebuild(message, (p) => {
        p[0] = encode(new Map([[HEADER_KID, ES256_KEY.kid]]));
        p[1] = new Map([[HEADER_ALG, -7]]);
      });
      checkRefused(() => verifySign1(untouchable(), algOutside, keys), "alg-unprotected", "alg unprotected only");
      const hs256 = rebuild(message, (p) => {
        p[0] = encode(new Map<number, CborValue>([[HEADER_ALG, 5], [HEADER_KID, ES256_KEY.kid]]));
      });
      checkRefused(() => verifySign1(untouchable(), hs256, keys), "alg-unknown", "HMAC alg");
      const both = rebuild(message, (p) => {
        p[1] = new Map([[HEADER_ALG, -7]]);
      });
      checkRefused(() => verifySign1(untouchable(), both, keys), "cose-duplicate-header", "alg in both buckets");
    },
  },
  {
    name: "cose ES256 r or s outside [1, n-1] is refused before the port is called",
    run(env) {
      const { message } = signedPair(env, ES256_KEY);
      const signature = ((decode(message) as CborTag).value as Uint8Array[])[3];
      const r = signature.subarray(0, 32);
      const s = signature.subarray(32);
      const keys = ring(ES256_KEY);
      const join = (a: Uint8Array, b: Uint8Array) => {
        const out = new Uint8Array(64);
        out.set(a);
        out.set(b, 32);
        return out;
      };
      const zero = new Uint8Array(32);
      const n = scalarBytes(P256_N);
      for (const [sig, what] of [
        [join(r, zero), "s = 0"],
        [join(zero, s), "r = 0"],
        [join(r, n), "s = n"],
        [join(n, s), "r = n"],
        [join(r, new Uint8Array(32).fill(0xff)), "s > n"],
      ] as [Uint8Array, string][]) {
        checkRefused(() => verifySign1(untouchable(), withSignature(message, sig), keys), "bad-signature", what);
      }
    },
  },
  {
    name: "cose ES256 high-S signatures are accepted (OpenSSL makes them)",
    run(env) {
      const { message, payload } = signedPair(env, ES256_KEY);
      const signature = ((decode(message) as CborTag).value as Uint8Array[])[3];
      const s = bigFromBytes(signature.subarray(32));
      const flipped = new Uint8Array(64);
      flipped.set(signature.subarray(0, 32));
      flipped.set(scalarBytes(P256_N - s), 32);
      const result = verifySign1(env.crypto, withSignature(message, flipped), ring(ES256_KEY));
      checkBytes(result.payload, payload, "payload under the mirrored s");
    },
  },
  {
    name: "cose critical headers must be understood and protected",
    run(env) {
      const understood = sign1(env.crypto, ES256_KEY, utf8("x"), {
        protectedHeader: new Map<number, CborValue>([[HEADER_KID, ES256_KEY.kid], [2, [HEADER_KID]]]),
      });
      checkEqual(verifySign1(env.crypto, understood, ring(ES256_KEY)).alg, "ES256", "crit naming kid");
      const unknown = sign1(env.crypto, ES256_KEY, utf8("x"), {
        protectedHeader: new Map<number, CborValue>([[HEADER_KID, ES256_KEY.kid], [2, [99]], [99, 1]]),
      });
      checkRefused(() => verifySign1(untouchable(), unknown, ring(ES256_KEY)), "cose-unknown-critical", "crit 99");
      const critOutside = sign1(env.crypto, ES256_KEY, utf8("x"), { unprotectedHeader: new Map([[2, [4]]]) });
      checkRefused(() => verifySign1(untouchable(), critOutside, ring(ES256_KEY)), "cose-malformed", "crit unprotected");
    },
  },
  {
    name: "cose malformed envelopes are refused with stable codes",
    run(env) {
      const keys = ring(ES256_KEY);
      const cases: [CborValue, string][] = [
        [new CborTag(18, [new Uint8Array(0), new Map()]), "cose-malformed"],
        [new CborTag(18, "text"), "cose-malformed"],
        [new CborTag(18, [new Map(), new Map(), new Uint8Array(0), new Uint8Array(64)]), "cose-malformed"],
        [new CborTag(18, [encode(new Map([[1, -7]])), new Map(), "text", new Uint8Array(64)]), "cose-malformed"],
        [new CborTag(18, [encode([1]), new Map(), new Uint8Array(0), new Uint8Array(64)]), "cose-malformed"],
        [new CborTag(98, [new Uint8Array(0), new Map(), new Uint8Array(0), new Uint8Array(64)]), "cose-bad-tag"],
      ];
      for (const [value, code] of cases) checkRefused(() => verifySign1(untouchable(), encode(value), keys), code, `${code} envelope`);
      checkRefused(() => verifySign1(untouchable(), new Uint8Array([0xd2, 0x84]), keys), "cbor-truncated", "truncated envelope");
    },
  },
  {
    name: "cose detached payload must be supplied by the caller",
    run(env) {
      const { message, payload } = signedPair(env, EDDSA_KEY);
      const detached = rebuild(message, (p) => {
        p[2] = null;
      });
      checkRefused(() => verifySign1(env.crypto, detached, ring(EDDSA_KEY)), "cose-detached-payload", "no payload given");
      checkBytes(verifySign1(env.crypto, detached, ring(EDDSA_KEY), { detachedPayload: payload }).payload, payload, "detached");
    },
  },
  {
    name: "cose keys round-trip as COSE_Key with kid and alg",
    run() {
      for (const key of [ES256_KEY, EDDSA_KEY]) {
        const back = decodeKey(encodeKey(key, true));
        checkEqual(back.alg, key.alg, "alg");
        checkBytes(back.kid, key.kid, "kid");
        checkBytes(back.d as Uint8Array, key.d as Uint8Array, "d");
        checkEqual(decodeKey(encodeKey(key)).d, undefined, "public form has no d");
      }
      checkRefused(() => decodeKey(encode(new Map([[1, 2], [3, -8]]))), "key-invalid", "EdDSA alg on an EC2 key");
      checkRefused(() => decodeKey(encode(new Map<number, CborValue>([[1, 1], [2, utf8("k")], [3, -8], [-1, 6], [-2, new Uint8Array(31)]]))), "key-invalid", "short x");
    },
  },
];

export const coseCases: ConformanceCase[] = [...vectorCases, ...attackCases, ...headerCases];
