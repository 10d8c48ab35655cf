// The crypto ports against published vectors and against each other:
// - ports/node (node:crypto) and ports/noble (@noble, the port that runs inside XS): RFC 8032 Ed25519
//   vectors signed byte-exact and verified, tampering and S + L rejected (strict RFC 8032), ES256 across
//   the two ports both ways, high-S accepted, RFC 6979 signatures exact, lengths and keys checked.
// - ports/moddable (device): it needs Moddable's native modules, which do not exist here. It is bundled
//   with small stand-ins for "crypt", "ecdsa", "curve" and "ecp" written for this test: they follow the
//   API shapes of Moddable's modules (argument types included) and do the math with @noble. That tests the
//   port's own work (hashing, byte layouts, RFC 6979 nonce, range checks), not Moddable's arithmetic.
import test from "ava";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Plugin } from "esbuild";
import { bundleDeviceCode } from "./support/bundle";
import { nodeCrypto } from "../ports/node/crypto";
import { nobleCrypto } from "../ports/noble/crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import type { CoseKey } from "../sdk/cose/key";
import type { CryptoPort } from "../sdk/ports/crypto";
import { errorCode } from "../sdk/errors";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "..");

function hex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, "hex"));
}
function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
function flipBit(bytes: Uint8Array, index: number, bit = 0): Uint8Array {
  const copy = bytes.slice();
  copy[index]! ^= 1 << bit;
  return copy;
}
function bytesToBig(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt("0x" + toHex(bytes));
}
function bigToBytes(value: bigint, length: number): Uint8Array {
  return hex(value.toString(16).padStart(length * 2, "0"));
}
/** The error code of what `action` throws (kept across bundles: it reads `.code`, not the class). */
function codeOf(action: () => unknown): string | undefined {
  try {
    action();
  } catch (e) {
    return typeof (e as { code?: unknown }).code === "string" ? (e as { code: string }).code : errorCode(e);
  }
  return undefined;
}

// ---- vectors --------------------------------------------------------------------------------------

interface Rfc8032Vector {
  readonly name: string;
  readonly secret_key: string;
  readonly public_key: string;
  readonly message: string;
  readonly signature: string;
}
const rfc8032 = (JSON.parse(readFileSync(resolve(here, "fixtures/ed25519/rfc8032.json"), "utf8")) as { vectors: Rfc8032Vector[] }).vectors;

/** Ed25519 group order L (RFC 8032 section 5.1). */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
/** P-256 group order n. */
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/** RFC 6979 appendix A.2.5: ECDSA P-256 with SHA-256, deterministic k. */
const RFC6979_KEY: CoseKey = {
  alg: "ES256",
  kid: utf8("rfc6979"),
  x: hex("60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"),
  y: hex("7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299"),
  d: hex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"),
};
const RFC6979_CASES = [
  {
    message: "sample",
    k: "a6e3c57dd01abe90086538398355dd4c3b17aa873382b0f24d6129493d8aad60",
    r: "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716",
    s: "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8", // high-S: not normalised
  },
  {
    message: "test",
    k: "d16b6ae827f17175e040871a1c7ec3500192c4c92677336ec2537acaee0008e0",
    r: "f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367",
    s: "019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083",
  },
];

function edKey(v: Rfc8032Vector, withPrivate: boolean): CoseKey {
  return withPrivate
    ? { alg: "EdDSA", kid: utf8(v.name), x: hex(v.public_key), d: hex(v.secret_key) }
    : { alg: "EdDSA", kid: utf8(v.name), x: hex(v.public_key) };
}
const publicOf = (key: CoseKey): CoseKey => (key.y ? { alg: key.alg, kid: key.kid, x: key.x, y: key.y } : { alg: key.alg, kid: key.kid, x: key.x });

/** s' = n - s: the other signature of the same (r, k), valid for ECDSA verifiers that accept high-S. */
function negateS(signature: Uint8Array): Uint8Array {
  const out = signature.slice();
  out.set(bigToBytes(N - bytesToBig(signature.subarray(32)), 32), 32);
  return out;
}
const isHighS = (signature: Uint8Array): boolean => bytesToBig(signature.subarray(32)) > N / 2n;

// ---- the Moddable port, bundled with stand-ins for Moddable's modules ---------------------------------

interface MockStats {
  verifyCalls: number;
  signCalls: number;
  /** Calls that would never return on a real device (s = 0 reaching ECDSA.verify). */
  hangs: number;
}

const MOCKS: Record<string, string> = {
  hmac: `
    import { hmac } from "@noble/hashes/hmac.js";
    import { sha256 } from "@noble/hashes/sha2.js";
    export default class HMAC {
      constructor(digest, key) {
        if (!(key instanceof ArrayBuffer)) throw new TypeError("stand-in hmac: the key must be an ArrayBuffer");
        this.key = new Uint8Array(key);
      }
      process(...items) {
        const h = hmac.create(sha256, this.key);
        for (const item of items) h.update(new Uint8Array(item));
        return h.digest().slice().buffer;
      }
    }`,
  crypt: `
    import { sha256 } from "@noble/hashes/sha2.js";
    export class Digest {
      constructor(algorithm) {
        if (algorithm !== "SHA256") throw new Error("stand-in crypt: SHA256 only");
        this.parts = [];
      }
      reset() { this.parts = []; this.closed = false; }
      write(data) {
        if (this.closed) throw new Error("crypt: can't call digest write after close");
        // Stricter than recent Moddable on purpose: older versions take ArrayBuffers only.
        if (!(data instanceof ArrayBuffer)) throw new TypeError("stand-in crypt: write takes an ArrayBuffer");
        this.parts.push(new Uint8Array(data.slice(0)));
      }
      update(data) { this.write(data); }
      close() {
        this.closed = true;
        const h = sha256.create();
        for (const p of this.parts) h.update(p);
        return h.digest().slice().buffer;
      }
      process(...items) { this.reset(); for (const i of items) this.write(i); return this.close(); }
      get outputSize() { return 32; }
      get blockSize() { return 64; }
    }`,
  ecp: `
    const big = (u8) => u8.reduce((v, b) => (v << 8n) | BigInt(b), 0n);
    export default class ECPoint {
      constructor(x, y, identity = false) { this.x = x; this.y = y; this.z = identity ? 0n : 1n; }
      get X() { return this.x; }
      get Y() { return this.y; }
      isZero() { return this.z === 0n; }
      static fromOctetString(os) {
        if (!(os instanceof Uint8Array)) throw new TypeError("stand-in ecp: a Uint8Array is expected");
        if (os[0] !== 0x04) throw new Error("unsupported format");
        const f = (os.length - 1) >> 1;
        return new ECPoint(big(os.slice(1, 1 + f)), big(os.slice(1 + f)));
      }
    }`,
  curve: `
    import ECPoint from "ecp";
    import { p256 } from "@noble/curves/nist.js";
        export default class Curve {
      constructor(name) {
        if (name !== "secp256r1") return;
        const G = p256.Point.BASE.toAffine();
        this.G = new ECPoint(G.x, G.y);
        this.ec = { standIn: "ec" };
        this.n = p256.Point.Fn.ORDER;
      }
      get orderSize() { return 32; } // a prototype getter, as in Moddable
    }`,
  ecdsa: `
    import { p256 } from "@noble/curves/nist.js";
        const { Point } = p256;
    const Fn = Point.Fn;
    const stats = (globalThis.gatehouseEcdsaStandIn ??= { verifyCalls: 0, signCalls: 0, hangs: 0 });
    const big = (buffer) => new Uint8Array(buffer).reduce((v, b) => (v << 8n) | BigInt(b), 0n);
    const bytes = (v, n) => { const u = new Uint8Array(n); for (let i = n - 1; i >= 0; i--) { u[i] = Number(v & 0xffn); v >>= 8n; } return u; };
    export default class ECDSA {
      constructor(key, curve) {
        this.u = key;
        this.G = curve.G;
        this.orderSize = curve.orderSize;
        this.n = curve.n;
        this.ec = curve.ec;
        this.k = curve.k;
        if (this.orderSize !== 32 || this.n !== Fn.ORDER || !this.ec || !this.G) throw new Error("stand-in ecdsa: incomplete curve");
      }
      sign(H, asn1) {
        stats.signCalls++;
        if (asn1) throw new Error("stand-in ecdsa: raw only");
        if (!(H instanceof ArrayBuffer)) throw new TypeError("stand-in ecdsa: the hash must be an ArrayBuffer");
        if (typeof this.u !== "bigint") throw new TypeError("stand-in ecdsa: signing needs the private scalar");
        if (typeof this.k !== "bigint") throw new Error("stand-in ecdsa: random nonces are not modelled");
        const R = Point.BASE.multiply(this.k).toAffine();
        const r = R.x; // Moddable takes R.X as r without reducing it mod n
        const s = Fn.create(Fn.create(big(H) + Fn.create(this.u * r)) * Fn.inv(this.k));
        if (s === 0n) { stats.hangs++; throw new Error("would loop forever"); }
        const out = new Uint8Array(64);
        out.set(bytes(r, 32), 0);
        out.set(bytes(s, 32), 32);
        return out.buffer;
      }
      verify(H, sig, asn1) {
        stats.verifyCalls++;
        if (asn1) throw new Error("stand-in ecdsa: raw only");
        if (!(H instanceof ArrayBuffer) || !(sig instanceof ArrayBuffer)) throw new TypeError("stand-in ecdsa: ArrayBuffers expected");
        const r = big(sig.slice(0, 32));
        const s = big(sig.slice(32, 64));
        if (Fn.create(s) === 0n) { stats.hangs++; throw new Error("would never return (s = 0)"); }
        const si = Fn.inv(Fn.create(s));
        const u1 = Fn.create(big(H) * si);
        const u2 = Fn.create(r * si);
        const Q = Point.fromAffine({ x: this.u.X, y: this.u.Y });
        const R = Point.BASE.multiplyUnsafe(u1).add(Q.multiplyUnsafe(u2));
        return !R.is0() && R.toAffine().x === r;
      }
    }`,
};

const moddableStandIns: Plugin = {
  name: "moddable-stand-ins",
  setup(b) {
    b.onResolve({ filter: /^(crypt|ecdsa|curve|ecp|hmac)$/ }, (args) => ({ path: args.path, namespace: "moddable-stand-in" }));
    b.onLoad({ filter: /.*/, namespace: "moddable-stand-in" }, (args) => ({ contents: MOCKS[args.path], loader: "js", resolveDir: repoRoot }));
  },
};

let moddable: Promise<{ port: CryptoPort; stats: () => MockStats }> | undefined;
function loadModdablePort(): Promise<{ port: CryptoPort; stats: () => MockStats }> {
  moddable ??= (async () => {
    const { code } = await bundleDeviceCode("ports/moddable/crypto.ts", { format: "esm", plugins: [moddableStandIns] });
    const dir = mkdtempSync(join(tmpdir(), "gatehouse-moddable-port-"));
    const file = join(dir, "moddable-crypto.mjs");
    writeFileSync(file, code);
    let module: { moddableCrypto: CryptoPort };
    try {
      module = (await import(pathToFileURL(file).href)) as { moddableCrypto: CryptoPort };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const stats = (): MockStats => ({ ...(globalThis as unknown as { gatehouseEcdsaStandIn: MockStats }).gatehouseEcdsaStandIn });
    return { port: module.moddableCrypto, stats };
  })();
  return moddable;
}

// ---- Ed25519: RFC 8032 ----------------------------------------------------------------------------

const hostPorts: ReadonlyArray<readonly [string, CryptoPort]> = [
  ["node", nodeCrypto],
  ["noble", nobleCrypto],
];

test("the RFC 8032 fixture holds the five section 7.1 vectors", (t) => {
  t.deepEqual(
    rfc8032.map((v) => v.name),
    ["TEST 1", "TEST 2", "TEST 3", "TEST 1024", "TEST SHA(abc)"],
  );
  t.is(rfc8032[3]!.message.length, 2046);
});

for (const [name, port] of hostPorts) {
  for (const v of rfc8032) {
    test(`${name}: Ed25519 ${v.name} signs byte-exact and verifies`, (t) => {
      const message = hex(v.message);
      const signature = port.sign("EdDSA", edKey(v, true), message);
      t.is(toHex(signature), v.signature);
      t.is(Object.getPrototypeOf(signature), Uint8Array.prototype, "a plain Uint8Array, not a Buffer");
      t.true(port.verify("EdDSA", edKey(v, false), message, hex(v.signature)));
    });

    test(`${name}: Ed25519 ${v.name} rejects flipped bits in R, S and the message`, (t) => {
      const key = edKey(v, false);
      const message = hex(v.message);
      const signature = hex(v.signature);
      for (const bit of [0, 5]) {
        t.false(port.verify("EdDSA", key, message, flipBit(signature, 0, bit)), `R byte 0 bit ${bit}`);
        t.false(port.verify("EdDSA", key, message, flipBit(signature, 17, bit)), `R byte 17 bit ${bit}`);
        t.false(port.verify("EdDSA", key, message, flipBit(signature, 32, bit)), `S byte 0 bit ${bit}`);
        t.false(port.verify("EdDSA", key, message, flipBit(signature, 60, bit)), `S byte 28 bit ${bit}`);
      }
      if (message.length > 0) {
        t.false(port.verify("EdDSA", key, flipBit(message, 0), signature), "message first byte");
        t.false(port.verify("EdDSA", key, flipBit(message, message.length - 1, 7), signature), "message last byte");
      } else {
        t.false(port.verify("EdDSA", key, Uint8Array.of(0), signature), "one byte instead of the empty message");
      }
      t.false(port.verify("EdDSA", key, message, flipBit(signature, 63, 7)), "top bit of S");
    });

    test(`${name}: Ed25519 ${v.name} rejects S + L (RFC 8032 strictness)`, (t) => {
      const signature = hex(v.signature);
      const s = bytesToBig(signature.subarray(32).slice().reverse()); // little-endian
      t.true(s < L);
      const malleated = signature.slice();
      malleated.set(bigToBytes(s + L, 32).reverse(), 32);
      t.not(toHex(malleated), v.signature);
      t.false(port.verify("EdDSA", edKey(v, false), hex(v.message), malleated));
    });
  }

  test(`${name}: Ed25519 with the wrong key fails`, (t) => {
    const [a, b] = [rfc8032[0]!, rfc8032[1]!];
    t.false(port.verify("EdDSA", edKey(b, false), hex(a.message), hex(a.signature)));
  });
}

/** Every 32-byte encoding that decodes (leniently) to a point of order 1, 2, 4 or 8, computed with @noble. */
function smallOrderEncodings(): Map<string, string> {
  const P = 2n ** 255n - 19n;
  const le = (v: bigint): Uint8Array => bigToBytes(v, 32).reverse();
  const { Point } = ed25519;
  // [L]Q kills the prime-order part of any point Q: the result lies in the torsion subgroup.
  const timesL = (q: InstanceType<typeof Point>): InstanceType<typeof Point> => {
    let acc = Point.ZERO;
    let base = q;
    for (let k = L; k > 0n; k >>= 1n, base = base.double()) if (k & 1n) acc = acc.add(base);
    return acc;
  };
  let t8: InstanceType<typeof Point> | undefined;
  for (let y = 2n; t8 === undefined; y++) {
    let q;
    try {
      q = Point.fromBytes(le(y));
    } catch {
      continue; // y is not the y of a curve point
    }
    const t = timesL(q);
    if (!t.multiplyUnsafe(4n).is0()) t8 = t; // order exactly 8
  }
  const out = new Map<string, string>();
  let point = Point.ZERO;
  for (let i = 0; i < 8; i++, point = point.add(t8)) {
    const { x, y } = point.toAffine();
    const variants: Array<[bigint, boolean, string]> = [[y, (x & 1n) === 1n, "canonical"]];
    if (x === 0n) variants.push([y, true, "x = 0 with the sign bit"]);
    if (y + P < 2n ** 255n) {
      variants.push([y + P, (x & 1n) === 1n, "y + p"]);
      if (x === 0n) variants.push([y + P, true, "y + p, x = 0 with the sign bit"]);
    }
    for (const [value, sign, what] of variants) {
      const bytes = le(value);
      if (sign) bytes[31]! |= 0x80;
      out.set(toHex(bytes), `${8 * i}/8 multiple of T8, ${what}`);
    }
  }
  return out;
}

test("Ed25519: small-order and non-canonical public keys verify nothing, on both ports", (t) => {
  const encodings = smallOrderEncodings();
  t.is(encodings.size, 14, "8 torsion points, 2 with x = 0 and the sign bit, 4 with y + p");
  const identity = hex("0100000000000000000000000000000000000000000000000000000000000000");
  for (const [encoding, what] of encodings) {
    const key: CoseKey = { alg: "EdDSA", kid: utf8("small"), x: hex(encoding) };
    // With A of small order, S = 0 and R = A or R = identity satisfy the cofactored equation for many messages.
    for (const r of [hex(encoding), identity]) {
      const signature = new Uint8Array(64);
      signature.set(r, 0);
      for (const message of [utf8("x"), utf8("y"), new Uint8Array(0)]) {
        for (const [name, port] of hostPorts) t.false(port.verify("EdDSA", key, message, signature), `${name}: ${what}`);
      }
    }
  }
});

// ---- ES256 ----------------------------------------------------------------------------------------

test("ES256: node signs, noble verifies; noble signs, node verifies", (t) => {
  const key = nodeCrypto.generateKey("ES256", utf8("es256-cross"));
  const pub = publicOf(key);
  let highSeen = 0;
  for (let i = 0; i < 24; i++) {
    const message = randomBytes(i * 7);
    const fromNode = nodeCrypto.sign("ES256", key, message);
    t.is(fromNode.length, 64);
    if (isHighS(fromNode)) highSeen++;
    t.true(nobleCrypto.verify("ES256", pub, message, fromNode), `noble verifies node's signature ${i}`);
    t.true(nodeCrypto.verify("ES256", pub, message, fromNode), `node verifies its own signature ${i}`);
    const fromNoble = nobleCrypto.sign("ES256", key, message);
    t.is(fromNoble.length, 64);
    t.true(nodeCrypto.verify("ES256", pub, message, fromNoble), `node verifies noble's signature ${i}`);
    t.true(nobleCrypto.verify("ES256", pub, message, fromNoble), `noble verifies its own signature ${i}`);
  }
  t.true(highSeen > 0, "OpenSSL produced at least one high-S signature in 24 (probability of none: 2^-24)");
});

test("ES256: a high-S signature (s' = n - s) verifies on both", (t) => {
  const key = nodeCrypto.generateKey("ES256", utf8("high-s"));
  const pub = publicOf(key);
  const message = utf8("high-S is valid ECDSA; COSE does not require low-S");
  const signature = nodeCrypto.sign("ES256", key, message);
  const other = negateS(signature);
  t.not(isHighS(signature), isHighS(other));
  const high = isHighS(signature) ? signature : other;
  for (const [name, port] of hostPorts) {
    t.true(port.verify("ES256", pub, message, high), `${name}: high-S`);
    t.true(port.verify("ES256", pub, message, negateS(high)), `${name}: its low-S twin`);
  }
});

test("ES256: noble signs RFC 6979 A.2.5 byte-exact, without low-S normalisation; node verifies them", (t) => {
  for (const c of RFC6979_CASES) {
    const message = utf8(c.message);
    t.is(toHex(nobleCrypto.sign("ES256", RFC6979_KEY, message)), c.r + c.s, c.message);
    for (const [name, port] of hostPorts) t.true(port.verify("ES256", publicOf(RFC6979_KEY), message, hex(c.r + c.s)), `${name}: ${c.message}`);
  }
});

for (const [name, port] of hostPorts) {
  test(`${name}: ES256 rejects tampering and the wrong key`, (t) => {
    const key = nodeCrypto.generateKey("ES256", utf8("es256-tamper"));
    const wrong = nodeCrypto.generateKey("ES256", utf8("es256-wrong"));
    const message = utf8("open the gate");
    const signature = port.sign("ES256", key, message);
    t.true(port.verify("ES256", publicOf(key), message, signature));
    t.false(port.verify("ES256", publicOf(wrong), message, signature), "wrong key");
    t.false(port.verify("ES256", publicOf(key), utf8("open the gatf"), signature), "message");
    t.false(port.verify("ES256", publicOf(key), message, flipBit(signature, 5)), "r");
    t.false(port.verify("ES256", publicOf(key), message, flipBit(signature, 40)), "s");
  });

  test(`${name}: a signature of the wrong length is false, not an exception`, (t) => {
    const es = nodeCrypto.generateKey("ES256", utf8("len-es"));
    const ed = nodeCrypto.generateKey("EdDSA", utf8("len-ed"));
    const message = utf8("length");
    const esSig = port.sign("ES256", es, message);
    const edSig = port.sign("EdDSA", ed, message);
    for (const [alg, key, sig] of [["ES256", publicOf(es), esSig], ["EdDSA", publicOf(ed), edSig]] as const) {
      for (const bad of [new Uint8Array(0), sig.subarray(0, 63), Uint8Array.of(...sig, 0), new Uint8Array(128)]) {
        t.notThrows(() => port.verify(alg, key, message, bad));
        t.false(port.verify(alg, key, message, bad), `${alg} length ${bad.length}`);
      }
    }
  });

  test(`${name}: sha256("abc") known answer, and a view with an offset`, (t) => {
    const expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const digest = port.sha256(utf8("abc"));
    t.is(toHex(digest), expected);
    t.is(Object.getPrototypeOf(digest), Uint8Array.prototype);
    t.is(toHex(port.sha256(utf8("xxabcyy").subarray(2, 5))), expected);
    t.is(toHex(port.sha256(new Uint8Array(0))), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  test(`${name}: createSha256 hashes in pieces (views with offsets too) what sha256 hashes at once; streams are independent`, (t) => {
    const data = new Uint8Array(10_000).map((_, i) => (i * 7 + 3) & 0xff);
    const whole = toHex(port.sha256(data));
    const a = port.createSha256();
    const b = port.createSha256();
    for (let at = 0; at < data.length; at += 999) a.update(data.subarray(at, at + 999));
    b.update(utf8("abc"));
    t.is(toHex(a.digest()), whole);
    t.is(toHex(b.digest()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    t.is(toHex(port.createSha256().digest()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  test(`${name}: keys are bound to their algorithm, and malformed keys are refused`, (t) => {
    const ed = nodeCrypto.generateKey("EdDSA", utf8("bound"));
    const es = nodeCrypto.generateKey("ES256", utf8("bound-es"));
    const message = utf8("m");
    t.is(codeOf(() => port.verify("ES256", publicOf(ed), message, new Uint8Array(64))), "alg-not-allowed");
    t.is(codeOf(() => port.sign("EdDSA", es, message)), "alg-not-allowed");
    t.is(codeOf(() => port.sign("ES256", publicOf(es), message)), "key-invalid", "no d");
    t.is(codeOf(() => port.verify("ES256", { alg: "ES256", kid: utf8("k"), x: es.x }, message, new Uint8Array(64))), "key-invalid", "no y");
    t.is(codeOf(() => port.verify("EdDSA", { alg: "EdDSA", kid: utf8("k"), x: ed.x.subarray(1) }, message, new Uint8Array(64))), "key-invalid", "31-byte x");
  });
}

// ---- key generation (node) ------------------------------------------------------------------------

for (const alg of ["ES256", "EdDSA"] as const) {
  test(`generateKey(${alg}) makes a key that carries its kid and signs and verifies on both ports`, (t) => {
    const kid = utf8(`device-${alg}`);
    const key = nodeCrypto.generateKey(alg, kid);
    t.is(key.alg, alg);
    t.deepEqual(key.kid, kid);
    t.is(key.x.length, 32);
    t.is(key.d?.length, 32);
    if (alg === "ES256") t.is(key.y?.length, 32);
    else t.is(key.y, undefined);
    for (const part of [key.x, key.y, key.d, key.kid]) if (part) t.is(Object.getPrototypeOf(part), Uint8Array.prototype);
    const other = nodeCrypto.generateKey(alg, kid);
    t.not(toHex(other.d!), toHex(key.d!), "fresh randomness per key");

    const message = utf8("signed publication");
    for (const [signer, signPort] of hostPorts) {
      const signature = signPort.sign(alg, key, message);
      for (const [verifier, verifyPort] of hostPorts) {
        t.true(verifyPort.verify(alg, publicOf(key), message, signature), `${signer} -> ${verifier}`);
        t.false(verifyPort.verify(alg, publicOf(other), message, signature), `${signer} -> ${verifier}, other key`);
      }
    }
    if (alg === "EdDSA") {
      // The same seed gives the same (deterministic) signature on both ports: x and d belong together.
      t.is(toHex(nodeCrypto.sign(alg, key, message)), toHex(nobleCrypto.sign(alg, key, message)));
    }
  });
}

test("an ES256 public key that is not on P-256 is refused as key-invalid by every port", async (t) => {
  const { port: moddablePort } = await loadModdablePort();
  const key = nodeCrypto.generateKey("ES256", utf8("off-curve"));
  const signature = nodeCrypto.sign("ES256", key, utf8("m"));
  for (const [name, port] of [...hostPorts, ["moddable (stand-ins)", moddablePort] as const]) {
    // Fresh objects each time: ports cache per key object.
    const bad: CoseKey = { alg: "ES256", kid: key.kid, x: key.x, y: flipBit(key.y!, 31) };
    t.is(codeOf(() => port.verify("ES256", bad, utf8("m"), signature)), "key-invalid", name);
    const tooBig: CoseKey = { alg: "ES256", kid: key.kid, x: new Uint8Array(32).fill(0xff), y: key.y! };
    t.is(codeOf(() => port.verify("ES256", tooBig, utf8("m"), signature)), "key-invalid", `${name}: x >= p`);
    t.true(port.verify("ES256", publicOf(key), utf8("m"), signature), `${name}: the real key still works`);
  }
});

// ---- the Moddable port, on stand-ins --------------------------------------------------------------

test("moddable (stand-ins): ES256 signs RFC 6979 byte-exact, like noble, and node verifies", async (t) => {
  const { port } = await loadModdablePort();
  for (const c of RFC6979_CASES) t.is(toHex(port.sign("ES256", RFC6979_KEY, utf8(c.message))), c.r + c.s, c.message);
  const key = nodeCrypto.generateKey("ES256", utf8("device"));
  for (let i = 0; i < 8; i++) {
    const message = randomBytes(1 + i * 13);
    const signature = port.sign("ES256", key, message);
    t.is(toHex(signature), toHex(nobleCrypto.sign("ES256", key, message)), "same RFC 6979 signature as noble");
    t.true(nodeCrypto.verify("ES256", publicOf(key), message, signature));
    t.true(port.verify("ES256", publicOf(key), message, signature));
  }
});

test("moddable (stand-ins): ES256 verifies node's signatures (high-S included) and rejects tampering", async (t) => {
  const { port } = await loadModdablePort();
  const key = nodeCrypto.generateKey("ES256", utf8("device-verify"));
  const wrong = nodeCrypto.generateKey("ES256", utf8("device-wrong"));
  const message = utf8("xxA signed command for the device").subarray(2); // a view with an offset
  const signature = nodeCrypto.sign("ES256", key, message);
  t.true(port.verify("ES256", publicOf(key), message, signature));
  t.true(port.verify("ES256", publicOf(key), message, negateS(signature)), "the other of high-S / low-S");
  t.true(port.verify("ES256", publicOf(key), message, signature), "again, with the cached verifier");
  t.false(port.verify("ES256", publicOf(wrong), message, signature), "wrong key");
  t.false(port.verify("ES256", publicOf(key), flipBit(message, 3), signature), "message");
  t.false(port.verify("ES256", publicOf(key), message, flipBit(signature, 1)), "r");
  t.false(port.verify("ES256", publicOf(key), message, flipBit(signature, 63)), "s");
});

test("moddable (stand-ins): wrong lengths and out-of-range r, s are false and never reach ECDSA.verify", async (t) => {
  const { port, stats } = await loadModdablePort();
  const key = publicOf(nodeCrypto.generateKey("ES256", utf8("device-range")));
  const message = utf8("m");
  const before = stats();
  const one = bigToBytes(1n, 32);
  const cases: Array<[string, Uint8Array]> = [
    ["empty", new Uint8Array(0)],
    ["63 bytes", new Uint8Array(63).fill(1)],
    ["65 bytes", new Uint8Array(65).fill(1)],
    ["s = 0", Uint8Array.of(...one, ...new Uint8Array(32))],
    ["s = n", Uint8Array.of(...one, ...bigToBytes(N, 32))],
    ["r = 0", Uint8Array.of(...new Uint8Array(32), ...one)],
    ["r = n", Uint8Array.of(...bigToBytes(N, 32), ...one)],
    ["all ones", new Uint8Array(64).fill(0xff)],
  ];
  for (const [what, signature] of cases) {
    t.notThrows(() => port.verify("ES256", key, message, signature), what);
    t.false(port.verify("ES256", key, message, signature), what);
  }
  const after = stats();
  t.is(after.verifyCalls, before.verifyCalls, "ECDSA.verify was never called");
  t.is(after.hangs, 0);
  t.true(port.verify("ES256", key, message, Uint8Array.of(...one, ...one)) === false);
  t.is(stats().verifyCalls, before.verifyCalls + 1, "r = s = 1 is in range, so it does reach ECDSA.verify");
});

test("moddable (stand-ins): EdDSA is alg-unsupported; sha256 uses Digest", async (t) => {
  const { port } = await loadModdablePort();
  const v = rfc8032[0]!;
  t.is(codeOf(() => port.verify("EdDSA", edKey(v, false), hex(v.message), hex(v.signature))), "alg-unsupported");
  t.is(codeOf(() => port.sign("EdDSA", edKey(v, true), hex(v.message))), "alg-unsupported");
  t.is(toHex(port.sha256(utf8("abc"))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  t.is(toHex(port.sha256(utf8("xxabc").subarray(2))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const stream = port.createSha256();
  stream.update(utf8("xxab").subarray(2));
  stream.update(utf8("c"));
  t.is(toHex(stream.digest()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "createSha256 through Digest, views copied");
  t.is(codeOf(() => port.sign("ES256", publicOf(RFC6979_KEY), utf8("m"))), "key-invalid");
});

// ---- noble is the port that runs in XS: it must not depend on Node or on randomness -------------

test("noble port bundles for a neutral platform with no Node built-ins", async (t) => {
  const { code } = await bundleDeviceCode("ports/noble/crypto.ts");
  t.false(/\bfrom\s*["']node:|require\(\s*["']/.test(code), "no Node imports");
  t.false(/\bBuffer\b/.test(code), "no Buffer");
});
