// Fuzz targets: each takes untrusted bytes the way the device does and returns "ok" or the stable code
// of the refusal. Anything else that escapes (a TypeError, a RangeError, a stack overflow, a refusal
// without a GatehouseError, a decode refusal outside the "cbor-" family) is a bug in the SDK and is
// thrown as an UntypedEscape.
//
// Device-safe: no Node built-ins. The crypto port is passed in (node:crypto on Node).

import { decode } from "../../sdk/cbor/decode";
import { encode, utf8 } from "../../sdk/cbor/encode";
import { CborFloat, CborSimple, CborTag, type CborMap, type CborValue } from "../../sdk/cbor/types";
import { GatehouseError } from "../../sdk/errors";
import { sign1, verifySign1, StaticKeyRing } from "../../sdk/cose/sign1";
import { publicKey, type CoseKey } from "../../sdk/cose/key";
import { CommandReceiver } from "../../sdk/command/receiver";
import { signCommand } from "../../sdk/command/sender";
import { COMMAND_AAD, encodeCommand, type Command } from "../../sdk/command/envelope";
import { ReplayWindow } from "../../sdk/command/replay";
import { DeviceRuntime } from "../../sdk/doors/runtime";
import { SecurityEventLog } from "../../sdk/events";
import { TrustList } from "../../sdk/trust";
import type { CryptoPort } from "../../sdk/ports/crypto";
import { FakeClock, newSetpointState, registerSetpoint } from "../conformance/doors.cases";
import { keyFromVector } from "../conformance/vectors";
import ecdsa01 from "../fixtures/cose/ecdsa-examples/ecdsa-sig-01.json";
import eddsa01 from "../fixtures/cose/eddsa-examples/eddsa-sig-01.json";
import cwtA3 from "../fixtures/cose/CWT/A_3.json";

/** Something other than a typed refusal came out of a target: a bug. */
export class UntypedEscape extends Error {
  readonly target: string;
  readonly input: Uint8Array;
  readonly error: unknown;
  constructor(target: string, input: Uint8Array, error: unknown, why: string) {
    super(`${target}: ${why}: ${describe(error)}`);
    this.name = "UntypedEscape";
    this.target = target;
    this.input = input;
    this.error = error;
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

export interface FuzzTarget {
  readonly name: string;
  /** Valid inputs to start mutating from. */
  readonly seeds: readonly Uint8Array[];
  /** "ok", or the code of a typed refusal. Throws UntypedEscape for anything else. */
  run(input: Uint8Array): string;
}

// The same published test keys as the conformance cases: the operator signs with Ed25519, the admin
// with ES256, the stranger is not trusted.
export const OPERATOR = keyFromVector(eddsa01.input.sign0.key, "operator");
export const ADMIN: CoseKey = { ...keyFromVector(ecdsa01.input.sign0.key), kid: utf8("admin") };
export const STRANGER: CoseKey = keyFromVector(cwtA3.input.sign0.key, "stranger");

const NOW_S = Math.floor((new FakeClock().wall as number) / 1000);
const DETACHED = utf8("detached content");

/** The one refusal a door may legitimately turn into "door-failed": the test door's broken action. */
const DOOR_FAILED_OK = 'door "setpoint" returned a value outside its schema';

/** Values that cover every major type, every head width and the edges of each. */
export function cborSeeds(): Uint8Array[] {
  const values: CborValue[] = [
    0, 23, 24, 255, 256, 65535, 65536, 0xffffffff, 0x100000000, Number.MAX_SAFE_INTEGER, 2n ** 53n, 2n ** 64n - 1n,
    -1, -24, -25, -256, -257, -65537, -(2 ** 32), -Number.MAX_SAFE_INTEGER, -(2n ** 53n), -(2n ** 64n),
    2n ** 64n, -(2n ** 64n) - 1n, 2n ** 100n,
    0.5, -0, NaN, Infinity, -Infinity, 1.1, 65504, 5.960464477539063e-8, 3.4028234663852886e38, 1e300, 100000.5,
    new CborFloat(1), new CborFloat(-2),
    "", "a", "ü", "€", "😀", "x".repeat(23), "y".repeat(24), "z".repeat(300), "\uFEFFbom",
    new Uint8Array(0), Uint8Array.of(1), new Uint8Array(24), new Uint8Array(300).fill(7),
    [], [1, [2, [3, [4]]]], new Array(25).fill(0),
    new Map<number | string, CborValue>([[1, "a"], [-1, "b"], ["k", [true, false]], ["longer key", null]]),
    new Map<number, CborValue>([[0, new Map<number, CborValue>([[1, new Map()]])]]),
    new CborTag(1, 1_790_000_000), new CborTag(24, Uint8Array.of(0x82, 1, 2)), new CborTag(2 ** 40, "big tag"),
    new CborTag(18, [Uint8Array.of(0xa1, 1, 0x27), new Map(), null, new Uint8Array(64)]),
    new CborSimple(0), new CborSimple(19), new CborSimple(32), new CborSimple(255),
    true, false, null, undefined,
  ];
  let deep: CborValue = "bottom";
  for (let i = 0; i < 15; i++) deep = i % 3 === 0 ? [deep] : i % 3 === 1 ? new Map([[i, deep]]) : new CborTag(i + 100, deep);
  values.push(deep);
  return values.map((v) => encode(v));
}

function command(overrides: Partial<Command>): Command {
  return { device: "dev-1", door: "setpoint", op: "write.target", args: 22, seq: 1, issuedAt: NOW_S, expiresAt: NOW_S + 60, ...overrides };
}

/** Signed commands that the receiver accepts, for each key and several operations. */
function commandSeeds(crypto: CryptoPort): Uint8Array[] {
  const limits = new Map<string, CborValue>([["min", 10], ["max", 25], ["note", "evening"]]);
  return [
    signCommand(crypto, OPERATOR, command({ seq: 1 })),
    signCommand(crypto, OPERATOR, command({ seq: 2, op: "write.mode", args: "cool" })),
    signCommand(crypto, OPERATOR, command({ seq: 3, op: "read.target", args: undefined, expiresAt: NOW_S + 60 })),
    signCommand(crypto, ADMIN, command({ seq: 4, op: "invoke.setLimits", args: limits })),
    signCommand(crypto, ADMIN, command({ seq: 5, op: "invoke.reset", args: undefined })),
    signCommand(crypto, ADMIN, command({ seq: 6, op: "write.target", args: 21.5 })),
    // An unprotected header: mutations there leave the signature valid.
    sign1(crypto, OPERATOR, encodeCommand(command({ seq: 7 })), {
      externalAad: COMMAND_AAD,
      unprotectedHeader: new Map<number, CborValue>([[5, new Uint8Array(12)], [-70000, "note"]]),
    }),
  ];
}

/** Valid COSE_Sign1 messages for ES256 and EdDSA, in the shapes the verifier supports. */
function sign1Seeds(crypto: CryptoPort): Uint8Array[] {
  const payload = encode(new Map<number, CborValue>([[1, "issuer"], [2, "subject"], [6, NOW_S]]));
  const detached = (key: CoseKey): Uint8Array => {
    const message = decode(sign1(crypto, key, DETACHED)) as CborTag;
    const parts = (message.value as CborValue[]).slice();
    parts[2] = null;
    return encode(new CborTag(18, parts));
  };
  const kidUnprotected = (key: CoseKey): Uint8Array =>
    sign1(crypto, key, payload, { protectedHeader: new Map(), unprotectedHeader: new Map<number, CborValue>([[4, key.kid]]) });
  const withCrit: CborMap = new Map<number, CborValue>([[2, [3]], [3, "application/cbor"], [4, OPERATOR.kid]]);
  return [
    sign1(crypto, OPERATOR, payload),
    sign1(crypto, ADMIN, payload),
    sign1(crypto, OPERATOR, new Uint8Array(0), { tagged: false }),
    sign1(crypto, ADMIN, utf8("hello"), { tagged: false }),
    sign1(crypto, OPERATOR, payload, { protectedHeader: withCrit, unprotectedHeader: new Map<number, CborValue>([[5, new Uint8Array(16)]]) }),
    sign1(crypto, ADMIN, payload, { unprotectedHeader: new Map<number | string, CborValue>([["note", "unsigned"], [-1, [1, 2, 3]]]) }),
    kidUnprotected(OPERATOR),
    kidUnprotected(ADMIN),
    detached(OPERATOR),
    detached(ADMIN),
    sign1(crypto, STRANGER, payload),
  ];
}

/** A device runtime with the conformance cases' setpoint door, and a receiver for commands. */
function deviceFor(crypto: CryptoPort) {
  const clock = new FakeClock();
  // The sink keeps nothing: a flood of refusals must cost a counter, not memory.
  const log = new SecurityEventLog({ clock, sink: () => {} });
  const runtime = new DeviceRuntime({ events: log });
  registerSetpoint(runtime, newSetpointState());
  const trust = new TrustList([
    { key: OPERATOR, role: "operate" },
    { key: ADMIN, role: "administer" },
  ]);
  const receiver = new CommandReceiver({ deviceId: "dev-1", crypto, clock, trust, runtime });
  return { clock, runtime, trust, receiver };
}

/** Runs `action`; a GatehouseError becomes its code, anything else an UntypedEscape. */
function typed(target: string, input: Uint8Array, action: () => void, allowed?: (code: string) => boolean): string {
  try {
    action();
    return "ok";
  } catch (e) {
    if (!(e instanceof GatehouseError)) throw new UntypedEscape(target, input, e, "untyped exception");
    if (typeof e.code !== "string" || e.code.length === 0) throw new UntypedEscape(target, input, e, "GatehouseError without a code");
    if (allowed && !allowed(e.code)) throw new UntypedEscape(target, input, e, `unexpected code "${e.code}"`);
    return e.code;
  }
}

/** The receiver never throws; its outcome carries the code. "internal" means an untyped exception inside. */
function receiveOutcome(target: string, receiver: CommandReceiver, message: Uint8Array, input = message): string {
  let result;
  try {
    result = receiver.receive(message);
  } catch (e) {
    throw new UntypedEscape(target, input, e, "CommandReceiver.receive threw");
  }
  const outcome = result.outcome;
  // A redelivery of a command already executed is answered with the first outcome; count it apart.
  if ((result as { duplicate?: boolean }).duplicate === true) return "duplicate";
  if (outcome.ok) return "ok";
  if (outcome.code === "internal") throw new UntypedEscape(target, input, new Error(outcome.message), "untyped exception inside the receiver");
  // dispatch turns a non-GatehouseError thrown in a door into "door-failed": only the test door's
  // deliberate broken action may produce it.
  if (outcome.code === "door-failed" && !outcome.message.startsWith(DOOR_FAILED_OK)) {
    throw new UntypedEscape(target, input, new Error(outcome.message), "untyped exception inside door dispatch");
  }
  return outcome.code;
}

export function createTargets(crypto: CryptoPort): FuzzTarget[] {
  const ring = new StaticKeyRing([publicKey(OPERATOR), publicKey(ADMIN)]);
  const device = deviceFor(crypto);
  const commands = commandSeeds(crypto);
  const signed = sign1Seeds(crypto);
  const payloadSeeds = [
    encodeCommand(command({ seq: 1 })),
    encodeCommand(command({ seq: 2, op: "invoke.setLimits", args: new Map<string, CborValue>([["min", 1], ["max", 2]]) })),
    encodeCommand(command({ seq: 3, op: "write.mode", args: "off", expiresAt: NOW_S + 10 })),
    encodeCommand(command({ seq: 4, op: "invoke.broken", args: undefined })),
    encodeCommand(command({ seq: 5, op: "write.label", args: "abc" })),
  ];

  return [
    {
      name: "decode",
      seeds: [...cborSeeds(), ...signed.slice(0, 3), commands[0]],
      run: (input) => typed("decode", input, () => void decode(input), (code) => code.startsWith("cbor-")),
    },
    {
      name: "sign1",
      seeds: signed,
      run: (input) => typed("sign1", input, () => void verifySign1(crypto, input, ring, { detachedPayload: DETACHED })),
    },
    {
      // Whole signed messages into the receiver, replay window and all.
      name: "command",
      seeds: commands,
      run: (input) => receiveOutcome("command", device.receiver, input),
    },
    {
      // The input is a command payload; it is signed properly, so every step after the signature runs:
      // claims, binding, replay (a fresh window each time) and dispatch with arbitrary arguments.
      name: "command-payload",
      seeds: payloadSeeds,
      run: (input) => {
        const key = input.length % 3 === 0 ? ADMIN : OPERATOR;
        const message = sign1(crypto, key, input, { externalAad: COMMAND_AAD });
        const receiver = new CommandReceiver({
          deviceId: "dev-1",
          crypto,
          clock: device.clock,
          trust: device.trust,
          runtime: device.runtime,
          replay: new ReplayWindow(),
        });
        return receiveOutcome("command-payload", receiver, message, input);
      },
    },
  ];
}
