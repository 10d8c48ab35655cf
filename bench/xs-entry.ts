// XS-side entry of bench/xs-computrons.ts. Bundled with test/support/xs.ts bundleForXs and evaluated
// once in an xsnap worker; it only defines globals (`gatehouseBench.*`). The Node side then calls one
// global per evaluate() (measureCalls), so each evaluate's computron count is the cost of one call plus
// a constant wrapper cost, which the Node side measures with `noop` and subtracts.
//
// Signature math is NOT measured here: the receiver's crypto port is bench/fixture.ts
// noSignatureMathCrypto, whose verify() returns true without computing. The commands were signed for
// real on the Node side (node:crypto) and are passed in as hex, so every other step of the pipeline —
// COSE_Sign1 parsing, Sig_structure encoding, claims decoding, binding/freshness, replay, role check,
// schema validation, door call, door event — runs on exactly the bytes a device would receive.

import { decode as cborxDecode, encode as cborxEncode } from "cbor-x";
import { decode } from "../sdk/cbor/decode";
import { encode } from "../sdk/cbor/encode";
import type { CborValue } from "../sdk/cbor/types";
import { fromHex, toHex } from "../sdk/bytes";
import { COMMAND_AAD, COMMAND_LIMITS, decodeCommand, type Command } from "../sdk/command/envelope";
import { parseSign1, sigStructure, verifySign1 } from "../sdk/cose/sign1";
import type { SignatureAlgorithm } from "../sdk/cose/key";
import { ReplayWindow } from "../sdk/command/replay";
import { cborSample, makeDevice, noSignatureMathCrypto, type BenchDevice } from "./fixture";

function send(message: unknown): void {
  issueCommand(new TextEncoder().encode(JSON.stringify(message)).buffer as ArrayBuffer);
}

function fail(message: string): never {
  throw new Error(message);
}

// ---- pipeline ----------------------------------------------------------------------------------

interface Stream {
  messages: Uint8Array[];
  next: number;
  device: BenchDevice;
}
const streams: Partial<Record<SignatureAlgorithm, Stream>> = {};

function stream(alg: SignatureAlgorithm): Stream {
  return streams[alg] ?? fail(`no messages loaded for ${alg}`);
}

function take(s: Stream): Uint8Array {
  const message = s.messages[s.next++];
  if (!message) fail("out of pre-signed messages");
  return message;
}

/** Loads pre-signed messages (hex) for one algorithm, on a fresh device. */
function load(alg: SignatureAlgorithm, hexMessages: string[]): void {
  streams[alg] = { messages: hexMessages.map((h) => fromHex(h) ?? fail("bad hex")), next: 0, device: makeDevice(noSignatureMathCrypto) };
}

/** One full CommandReceiver.receive() of the next message: the figure of the benchmark. */
function receive(alg: SignatureAlgorithm): void {
  const s = stream(alg);
  const result = s.device.receiver.receive(take(s), "setpoint");
  if (!result.outcome.ok) fail(`command refused in XS: ${result.outcome.code}: ${result.outcome.message}`);
}

// Parts of receive(), each measured alone on the same kind of input (for the breakdown). They read the
// message at `probe` (not consumed) or keep their own state.
const VERIFY_OPTIONS = { tag: "required" as const, externalAad: COMMAND_AAD, limits: COMMAND_LIMITS };
let partReplay = new ReplayWindow();
let partSeq = 1;

function probe(alg: SignatureAlgorithm): Uint8Array {
  return stream(alg).messages[0] ?? fail("no probe message");
}

const parts: Record<string, (alg: SignatureAlgorithm) => void> = {
  /** nothing: the cost of calling a part (subtracted from the others) */
  none: () => {},
  /** decode of the COSE_Sign1 and its protected header, header rules */
  parseSign1: (alg) => {
    parseSign1(probe(alg), VERIFY_OPTIONS);
  },
  /** Sig_structure encoding alone (inputs prepared outside the measured call would be cheaper still) */
  sigStructure: (alg) => {
    const p = preparedParts(alg);
    sigStructure(p.protectedBytes, COMMAND_AAD, p.payload);
  },
  /** verifySign1 with the no-math port: parse + alg/kid/key look-up + range checks + Sig_structure */
  verifySign1: (alg) => {
    verifySign1(noSignatureMathCrypto, probe(alg), stream(alg).device.trust, VERIFY_OPTIONS);
  },
  /** kid to hex (done by receive, and again by TrustList.find, and again by roleOf's caller) */
  toHexKid: (alg) => {
    toHex(preparedParts(alg).kid);
  },
  /** decodeCommand: CBOR decode of the claims + claim checks */
  decodeCommand: (alg) => {
    decodeCommand(preparedParts(alg).payload);
  },
  /** replay check + accept */
  replay: (alg) => {
    const sender = preparedParts(alg).kidHex;
    const seq = partSeq++;
    partReplay.check(sender, seq);
    partReplay.accept(sender, seq);
  },
  /** trust.roleOf + runtime.dispatch (role check, validation, door call, door event) */
  dispatch: (alg) => {
    const s = stream(alg);
    const p = preparedParts(alg);
    const role = s.device.trust.roleOf(p.kidHex);
    const outcome = s.device.runtime.dispatch({ principal: { id: p.kidHex, role: role ?? "view" }, door: p.command.door, op: p.command.op, args: p.command.args });
    if (!outcome.ok) fail(`dispatch refused: ${outcome.code}`);
  },
};

interface PreparedParts {
  protectedBytes: Uint8Array;
  payload: Uint8Array;
  kid: Uint8Array;
  kidHex: string;
  command: Command;
}
const prepared: Partial<Record<SignatureAlgorithm, PreparedParts>> = {};

function preparedParts(alg: SignatureAlgorithm): PreparedParts {
  let p = prepared[alg];
  if (!p) {
    const verified = verifySign1(noSignatureMathCrypto, probe(alg), stream(alg).device.trust, VERIFY_OPTIONS);
    const parsed = parseSign1(probe(alg), VERIFY_OPTIONS);
    p = { protectedBytes: parsed.protectedBytes, payload: verified.payload, kid: verified.key.kid, kidHex: toHex(verified.key.kid), command: decodeCommand(verified.payload) };
    prepared[alg] = p;
  }
  return p;
}

function part(name: string, alg: SignatureAlgorithm): void {
  const fn = parts[name] ?? fail(`no part ${name}`);
  fn(alg);
}

function resetParts(): void {
  partReplay = new ReplayWindow();
  partSeq = 1;
}

// ---- CBOR: sdk/cbor vs cbor-x --------------------------------------------------------------------

// The same JavaScript value for both codecs: a plain object with 10 text keys. sdk/cbor encodes plain
// objects as maps (deterministic: keys sorted) and decodes to a Map; cbor-x (default options, as
// exported by the package) encodes objects as maps and decodes maps to objects. Each codec decodes its
// own encoding (sdk/cbor's strict decoder refuses cbor-x's non-deterministic map heads).
const sample = cborSample() as unknown as CborValue;
const sampleMap = new Map(Object.entries(cborSample())) as CborValue;
const sampleValues = Object.values(cborSample()) as CborValue[];
const ONE_BYTE = Uint8Array.of(0);
const oursBytes = encode(sample);
const oursMapBytes = encode(sampleMap);
const cborxBytes: Uint8Array = cborxEncode(sample);

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const cbor: Record<string, () => void> = {
  oursRoundTrip: () => {
    decode(encode(sample));
  },
  oursEncode: () => {
    encode(sample);
  },
  oursDecode: () => {
    decode(oursBytes);
  },
  oursMapRoundTrip: () => {
    decode(encode(sampleMap));
  },
  oursMapEncode: () => {
    encode(sampleMap);
  },
  // Profile of sdk/cbor's encode: the ten values alone (an array: no keys, no key order to establish).
  oursValuesOnly: () => {
    encode(sampleValues);
  },
  cborxValuesOnly: () => {
    cborxEncode(sampleValues);
  },
  // Profile of decode: the fixed cost of one decode() call (a one-byte item).
  oursDecodeFixed: () => {
    decode(ONE_BYTE);
  },
  cborxDecodeFixed: () => {
    cborxDecode(ONE_BYTE);
  },
  cborxRoundTrip: () => {
    cborxDecode(cborxEncode(sample));
  },
  cborxEncode: () => {
    cborxEncode(sample);
  },
  cborxDecode: () => {
    cborxDecode(cborxBytes);
  },
};

function cborCall(name: string): void {
  (cbor[name] ?? fail(`no cbor case ${name}`))();
}

/** Sanity: both codecs round-trip the sample (checked once, outside any measurement). */
function cborCheck(): void {
  try {
    const ours = decode(oursBytes) as Map<string, unknown>;
    const theirs = cborxDecode(cborxBytes) as Record<string, unknown>;
    if (!(ours instanceof Map) || ours.size !== 10) fail("sdk/cbor did not decode a 10-entry map");
    if (Object.keys(theirs).length !== 10) fail("cbor-x did not decode a 10-field object");
    for (const [k, v] of ours) {
      const w = theirs[k];
      const same = v instanceof Uint8Array ? w instanceof Uint8Array && sameBytes(v, w) : JSON.stringify(v) === JSON.stringify(w);
      if (!same) fail(`field ${k} differs between codecs: ${JSON.stringify(v)} vs ${JSON.stringify(w)}`);
    }
    if (!sameBytes(oursBytes, oursMapBytes)) fail("sdk/cbor encodes the object and the Map differently");
    send({ kind: "cbor-check", ok: true, oursBytes: oursBytes.length, cborxBytes: cborxBytes.length, ours: toHex(oursBytes), cborx: toHex(cborxBytes) });
  } catch (e) {
    send({ kind: "cbor-check", ok: false, error: String((e as Error)?.stack ?? e) });
  }
}

function noop(): void {}

(globalThis as { gatehouseBench?: unknown }).gatehouseBench = { load, receive, part, resetParts, cborCall, cborCheck, noop };
// measureCalls needs plain global functions.
Object.assign(globalThis, {
  benchNoop: noop,
  benchReceive: receive,
  benchPart: part,
  benchCbor: cborCall,
});
