// The publication codec (sdk/session/publications.ts, docs/protocol.md section 4): what a device
// generates and what a receiver parses, byte for byte, for every kind; round trips; and what either side
// refuses, with its code. Runs on Node, in xsnap and on Moddable's XS 17.
//
// The expected bytes are the core deterministic encoding of each body (RFC 8949 §4.2.1: keys sorted by
// their encoded bytes), the same bytes the device signed before the codec existed; test/publications.test.ts
// checks them against an independent decoder (cbor-x).

import { encode, utf8 } from "../../sdk/cbor/encode";
import { decode } from "../../sdk/cbor/decode";
import type { CborMap, CborObject, CborValue } from "../../sdk/cbor/types";
import { publicKey, type CoseKey } from "../../sdk/cose/key";
import {
  decodePublication,
  encodePublication,
  PUBLICATION_FIELD_LIMITS,
  openPublication,
  PUBLICATION_KINDS,
  PUBLICATION_LIMITS,
  signPublication,
  verifyPublication,
  type PublicationBodies,
  type PublicationKind,
} from "../../sdk/session/publications";
import type { ConformanceCase } from "./case";
import { check, checkBytes, checkEqual, checkRefused, checkSame, CheckFailure } from "./check";
import { hex, keyFromVector } from "./vectors";
import { signRawPublication } from "./raw-publications";
import ecdsa01 from "../fixtures/cose/ecdsa-examples/ecdsa-sig-01.json" with { type: "json" };

const DEVICE_KEY: CoseKey = { ...keyFromVector(ecdsa01.input.sign0.key), kid: utf8("dev-1") };
const REF = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);

type Golden = { [K in PublicationKind]: { readonly name: string; readonly kind: K; readonly body: PublicationBodies[K]; readonly hex: string } }[PublicationKind];

/** One body of each kind (two results: answered, and refused before the signature verified), with its bytes. */
export const GOLDEN: readonly Golden[] = [
  {
    name: "birth",
    kind: "birth",
    body: {
      device: "dev-1",
      seq: 130,
      session: 129,
      firmware: "1.2.3",
      patch: 0,
      epoch: 2,
      doors: [{ name: "relay", properties: { on: { type: { kind: "bool" }, read: "view", write: "operate" } }, actions: {}, events: {} }],
      dropped: { telemetry: 4 },
      droppedRanges: [[0, 3]],
      stream: 128,
      next: 7,
    },
    hex:
      "ab637365711882646e6578740765646f6f727381a4646e616d656572656c6179666576656e7473a067616374696f6e73a06a70726f70657274696573a1626f6ea3647265616464766965776474797065a1646b696e6464626f6f6c657772697465676f7065726174656565706f6368026570617463680066646576696365656465762d316673747265616d18806764726f70706564a16974656c656d65747279046773657373696f6e1881686669726d7761726565312e322e336d64726f7070656452616e67657381820003",
  },
  { name: "death", kind: "death", body: { device: "dev-1", seq: 129, session: 129 }, hex: "a363736571188166646576696365656465762d316773657373696f6e1881" },
  {
    name: "result (answered)",
    kind: "result",
    body: { device: "dev-1", seq: 140, stream: 128, index: 7, ref: REF, ok: true, sender: "6f70", cmdSeq: 5, door: "setpoint", op: "read.target", value: 21.5 },
    hex: "ab626f6bf5626f706b726561642e7461726765746372656648010203040506070863736571188c64646f6f7268736574706f696e7465696e646578076576616c7565f94d6066636d645365710566646576696365656465762d316673656e64657264366637306673747265616d1880",
  },
  {
    name: "result (refused before the signature verified)",
    kind: "result",
    body: { device: "dev-1", seq: 141, stream: 128, index: 8, ref: REF, ok: false, code: "bad-signature", message: "signature does not verify" },
    hex: "a8626f6bf46372656648010203040506070863736571188d64636f64656d6261642d7369676e617475726565696e6465780866646576696365656465762d316673747265616d1880676d65737361676578197369676e617475726520646f6573206e6f7420766572696679",
  },
  {
    name: "telemetry",
    kind: "telemetry",
    body: { device: "dev-1", seq: 142, stream: 128, index: 9, door: "setpoint", event: "changed", data: 21.5, time: 1790000000000 },
    hex: "a863736571188e6464617461f94d6064646f6f7268736574706f696e746474696d651b000001a0c4506c00656576656e74676368616e67656465696e6465780966646576696365656465762d316673747265616d1880",
  },
  {
    name: "event",
    kind: "event",
    body: { device: "dev-1", seq: 143, stream: 128, index: 10, code: "not-allowed", allowed: false, principal: "6f70", door: "setpoint", op: "invoke.setLimits", time: null, uptime: 1234, suppressed: 2 },
    hex: "ac626f7070696e766f6b652e7365744c696d69747363736571188f64636f64656b6e6f742d616c6c6f77656464646f6f7268736574706f696e746474696d65f665696e6465780a66646576696365656465762d316673747265616d188066757074696d651904d267616c6c6f776564f4697072696e636970616c64366637306a7375707072657373656402",
  },
  {
    // The update agent's status (protocol section 8): a refusal naming the manifest. Expected bytes from
    // an independent encoder (a few lines of Python: shortest heads, keys sorted bytewise).
    name: "an update status",
    kind: "update",
    body: { device: "dev-1", seq: 150, stream: 128, index: 11, rollout: "r1", manifest: 7, state: "refused", progress: 0, code: "suit-rollback" },
    hex: "a963736571189664636f64656d737569742d726f6c6c6261636b65696e6465780b657374617465677265667573656466646576696365656465762d316673747265616d188067726f6c6c6f7574627231686d616e6966657374076870726f677265737300",
  },
];

/** A valid body of `kind` (the golden one) with some fields replaced; `undefined` removes one. */
function variant<K extends PublicationKind>(kind: K, changes: CborObject): CborObject {
  const golden = GOLDEN.find((g) => g.kind === kind) as Golden;
  const body: CborObject = { ...(golden.body as unknown as CborObject), ...changes };
  for (const key of Object.keys(changes)) if (changes[key] === undefined) delete body[key];
  return body;
}

/** What a receiver must refuse: a payload (encoded as is, without the codec) and the message part that names the problem. */
export const REFUSALS: { readonly name: string; readonly kind: PublicationKind; readonly payload: CborObject | CborMap; readonly says: string }[] = [
  { name: "a field it does not know", kind: "birth", payload: variant("birth", { bootloader: "2.0" }), says: 'unknown field "bootloader"' },
  { name: "an integer key", kind: "death", payload: new Map<string | number, CborValue>([["device", "dev-1"], ["seq", 1], ["session", 1], [1, 1]]), says: "unknown field 1" },
  { name: "a missing field", kind: "birth", payload: variant("birth", { firmware: undefined }), says: "has no firmware" },
  { name: "firmware longer than 64", kind: "birth", payload: variant("birth", { firmware: "f".repeat(65) }), says: "firmware is not text of 1 to 64" },
  { name: "dropped ranges out of order", kind: "birth", payload: variant("birth", { droppedRanges: [[5, 6], [1, 2]] }), says: "droppedRanges" },
  { name: "dropped ranges that overlap", kind: "birth", payload: variant("birth", { droppedRanges: [[1, 5], [5, 6]] }), says: "droppedRanges" },
  { name: "a range whose last is below its first", kind: "birth", payload: variant("birth", { droppedRanges: [[3, 2]] }), says: "droppedRanges" },
  { name: "more dropped ranges than a device lists", kind: "birth", payload: variant("birth", { droppedRanges: Array.from({ length: PUBLICATION_FIELD_LIMITS.droppedRanges + 1 }, (_, i) => [2 * i, 2 * i]) }), says: "droppedRanges" },
  { name: "a dropped count under a name that is no kind", kind: "birth", payload: variant("birth", { dropped: new Map([["__proto__", 1]]) }), says: "dropped is not" },
  { name: "a door description without a name", kind: "birth", payload: variant("birth", { doors: [{ properties: {} }] }), says: "doors is not" },
  { name: "a negative session", kind: "death", payload: variant("death", { session: -1 }), says: "session is not an unsigned integer" },
  { name: "a session with a fraction", kind: "death", payload: variant("death", { session: 1.5 }), says: "session is not an unsigned integer" },
  { name: "a ref of 7 bytes", kind: "result", payload: variant("result", { ref: REF.subarray(0, 7) }), says: "ref is not 8 bytes" },
  { name: "an ok result with a code", kind: "result", payload: variant("result", { code: "x" }), says: "an ok result has a code or message" },
  { name: "a refused result without a message", kind: "result", payload: variant("result", { ok: false, value: undefined, code: "stale" }), says: "a refused result has no code or no message" },
  { name: "a refused result with a value", kind: "result", payload: variant("result", { ok: false, code: "stale", message: "old" }), says: "a refused result has a value" },
  { name: "an optional field that is null", kind: "result", payload: variant("result", { sender: null }), says: "sender is not" },
  { name: "an optional field that is undefined", kind: "result", payload: new Map<string, CborValue>([...Object.entries(variant("result", {})), ["value", undefined]]), says: "value is not" },
  { name: "a code longer than 64", kind: "result", payload: variant("result", { ok: false, value: undefined, code: "c".repeat(65), message: "m" }), says: "code is not text of 1 to 64" },
  { name: "a numbered kind without its stream", kind: "telemetry", payload: variant("telemetry", { stream: undefined }), says: "has no stream" },
  { name: "an index with a fraction", kind: "telemetry", payload: variant("telemetry", { index: 0.5 }), says: "index is not" },
  { name: "a time with a fraction", kind: "telemetry", payload: variant("telemetry", { time: 1.5 }), says: "time is not an unsigned integer or null" },
  { name: "an empty door name", kind: "event", payload: variant("event", { door: "" }), says: "door is not" },
  { name: "a principal longer than a kid in hex", kind: "event", payload: variant("event", { principal: "a".repeat(129) }), says: "principal is not" },
  { name: "a negative uptime", kind: "event", payload: variant("event", { uptime: -1 }), says: "uptime is not" },
  { name: "allowed that is not a boolean", kind: "event", payload: variant("event", { allowed: "no" }), says: "allowed is not a boolean" },
];

function checkMessage(error: unknown, says: string, what: string): void {
  const message = (error as Error).message;
  if (message.indexOf(says) < 0) throw new CheckFailure(`${what}: the refusal "${message}" does not say "${says}"`);
}

export const publicationCases: ConformanceCase[] = [
  {
    name: "publications: generate: every kind's body encodes to its expected bytes",
    run() {
      checkSame(
        GOLDEN.map((g) => g.kind).filter((kind, i, all) => all.indexOf(kind) === i),
        PUBLICATION_KINDS,
        "one case per kind, at least",
      );
      for (const g of GOLDEN) checkBytes(encodePublication(g.kind, g.body), hex(g.hex), g.name);
    },
  },
  {
    name: "publications: parse: the expected bytes decode to the typed body",
    run() {
      for (const g of GOLDEN) checkSame(decodePublication(g.kind, decode(hex(g.hex), PUBLICATION_LIMITS) as CborMap), g.body, g.name);
    },
  },
  {
    name: "publications: round trip: decode(encode(body)) is the body; encode(decode(bytes)) the bytes; signed too",
    run(env) {
      const variants: Golden[] = [
        ...GOLDEN,
        { name: "result without output", kind: "result", body: { device: "dev-1", seq: 7, stream: 0, index: 0, ref: REF, ok: true, sender: "01", cmdSeq: 1, door: "relay", op: "write.on" } },
        { name: "telemetry whose data is undefined", kind: "telemetry", body: { device: "dev-1", seq: 8, stream: 0, index: 1, door: "relay", event: "tick", data: undefined, time: null } },
        { name: "a birth with no doors or drops", kind: "birth", body: { device: "dev-1", seq: 2, session: 1, firmware: "f", patch: 1, epoch: 0, doors: [], dropped: {}, droppedRanges: [], stream: 0, next: 0 } },
        {
          name: "a birth with the update agent's state",
          kind: "birth",
          body: {
            device: "dev-1", seq: 2, session: 1, firmware: "f", patch: 1, epoch: 0, doors: [], dropped: {}, droppedRanges: [], stream: 0, next: 0,
            update: { vendorId: new Uint8Array(16).fill(1), classId: new Uint8Array(16).fill(2), seq: 9, epoch: 2, minEpoch: 1, trustSeq: 3, state: "trial" },
          },
        },
        { name: "a trust update's status", kind: "update", body: { device: "dev-1", seq: 9, stream: 0, index: 2, rollout: "t1", trust: 4, state: "trusted", progress: 100 } },
      ].map((v) => ({ ...v, hex: "" }) as Golden);
      for (const v of variants) {
        const bytes = encodePublication(v.kind, v.body);
        const body = decodePublication(v.kind, decode(bytes, PUBLICATION_LIMITS) as CborMap);
        checkSame(body, v.body, `${v.name}: decoded`);
        checkBytes(encodePublication(v.kind, body), bytes, `${v.name}: encoded again`);
        const signed = signPublication(env.crypto, DEVICE_KEY, v.kind, v.body);
        checkSame(openPublication(env.crypto, signed, publicKey(DEVICE_KEY), v.kind, "dev-1"), v.body, `${v.name}: signed and opened`);
      }
    },
  },
  {
    name: "publications: refusals: unknown, missing, mistyped and inconsistent fields are publication-malformed, naming the field",
    run() {
      for (const r of REFUSALS) {
        const payload = decode(encode(r.payload), PUBLICATION_LIMITS) as CborMap;
        const error = checkRefused(() => decodePublication(r.kind, payload), "publication-malformed", `${r.kind}: ${r.name}`);
        checkMessage(error, r.says, `${r.kind}: ${r.name}`);
      }
    },
  },
  {
    name: "publications: the encoder refuses what the decoder would: a device cannot publish a body of the wrong shape",
    run() {
      for (const r of REFUSALS) {
        if (r.payload instanceof Map) continue; // not a body an encoder is given
        const unknownField = r.says.startsWith("unknown field");
        if (unknownField) {
          // Fields the table does not have are not encoded at all: the payload is the valid body without them.
          const body = decodePublication(r.kind, decode(encodePublication(r.kind, r.payload as never), PUBLICATION_LIMITS) as CborMap);
          check(!Object.prototype.hasOwnProperty.call(body, "bootloader"), "an unknown field is left out");
          continue;
        }
        const error = checkRefused(() => encodePublication(r.kind, r.payload as never), "publication-malformed", `encode ${r.kind}: ${r.name}`);
        checkMessage(error, r.says, `encode ${r.kind}: ${r.name}`);
      }
      const long = variant("result", { ok: false, value: undefined, code: "door-failed", message: "m".repeat(PUBLICATION_FIELD_LIMITS.message + 1) });
      checkRefused(() => encodePublication("result", long as never), "publication-malformed", "a message over the limit");
      const big = variant("telemetry", { data: new Uint8Array(PUBLICATION_LIMITS.maxLength) });
      const error = checkRefused(() => encodePublication("telemetry", big as never), "publication-malformed", "a payload over the limit");
      checkMessage(error, "bytes, more than 32768", "a payload over the limit");
    },
  },
  {
    name: "publications: signed ones are refused for another device, another kind, a payload that is not a map, or no seq",
    run(env) {
      const key = publicKey(DEVICE_KEY);
      const telemetry = signPublication(env.crypto, DEVICE_KEY, "telemetry", GOLDEN[4].body as PublicationBodies["telemetry"]);
      checkRefused(() => openPublication(env.crypto, telemetry, key, "telemetry", "dev-2"), "wrong-device", "a publication naming another device");
      checkRefused(() => openPublication(env.crypto, telemetry, key, "event", "dev-1"), "bad-signature", "a telemetry signature presented as an event");
      const list = signRawPublication(env.crypto, DEVICE_KEY, "death", [1, 2] as unknown as CborObject);
      checkMessage(checkRefused(() => verifyPublication(env.crypto, list, key, "death", "dev-1"), "publication-malformed", "an array payload"), "payload is not a map", "an array payload");
      const noSeq = signRawPublication(env.crypto, DEVICE_KEY, "death", { device: "dev-1", session: 1 });
      checkMessage(checkRefused(() => verifyPublication(env.crypto, noSeq, key, "death", "dev-1"), "publication-malformed", "no seq"), "has no valid seq", "no seq");
      // verifyPublication judges only the header: a receiver moves its window first, then decodes.
      const bad = signRawPublication(env.crypto, DEVICE_KEY, "death", { device: "dev-1", seq: 9, session: "one" });
      checkEqual(verifyPublication(env.crypto, bad, key, "death", "dev-1").get("seq"), 9, "the header of a malformed body");
      checkRefused(() => openPublication(env.crypto, bad, key, "death", "dev-1"), "publication-malformed", "its body");
    },
  },
];
