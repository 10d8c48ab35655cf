// Doors, access rules, security events, replay window and signed commands: the device-side behaviour
// that must be identical on Node and in XS.

import { defineDoor, GatehouseError, t } from "../../sdk/index";
import { DeviceRuntime, MAX_DOORS } from "../../sdk/doors/runtime";
import { describeDoor } from "../../sdk/doors/describe";
import { diagnostic } from "../../sdk/cbor/diagnostic";
import { SecurityEventLog, type SecurityEvent } from "../../sdk/events";
import { CommandReceiver } from "../../sdk/command/receiver";
import { signCommand } from "../../sdk/command/sender";
import { ReplayWindow } from "../../sdk/command/replay";
import { COMMAND_AAD, encodeCommand, type Command } from "../../sdk/command/envelope";
import { sign1 } from "../../sdk/cose/sign1";
import { encode, utf8 } from "../../sdk/cbor/encode";
import { decode } from "../../sdk/cbor/decode";
import type { CborValue } from "../../sdk/cbor/types";
import { toHex } from "../../sdk/bytes";
import { TrustList, decodeTrust, encodeTrust } from "../../sdk/trust";
import type { CoseKey } from "../../sdk/cose/key";
import type { ClockPort } from "../../sdk/ports/clock";
import type { ConformanceCase, ConformanceEnv } from "./case";
import { check, checkEqual, checkRefused } from "./check";
import { keyFromVector } from "./vectors";
import ecdsa01 from "../fixtures/cose/ecdsa-examples/ecdsa-sig-01.json" with { type: "json" };
import eddsa01 from "../fixtures/cose/eddsa-examples/eddsa-sig-01.json" with { type: "json" };
import cwtA3 from "../fixtures/cose/CWT/A_3.json" with { type: "json" };

// Published test keys: the operator signs with Ed25519, the admin with ES256, the stranger is untrusted.
const OPERATOR = keyFromVector(eddsa01.input.sign0.key, "operator");
const ADMIN: CoseKey = { ...keyFromVector(ecdsa01.input.sign0.key), kid: utf8("admin") };
const STRANGER: CoseKey = keyFromVector(cwtA3.input.sign0.key, "stranger");
const NOW_S = 1_790_000_000;

export class FakeClock implements ClockPort {
  wall: number | undefined = NOW_S * 1000;
  mono = 0;
  wallTime() {
    return this.wall;
  }
  monotonic() {
    return this.mono;
  }
}

export const setpointDoor = defineDoor({
  name: "setpoint",
  description: "target temperature and the limits it must stay within",
  properties: {
    target: { type: t.number({ min: 5, max: 30 }), read: "view", write: "operate" },
    mode: { type: t.enum(["heat", "cool", "off"]), read: "view", write: "operate" },
    label: { type: t.string({ maxLength: 8, pattern: "[a-z]+" }), read: "view" },
  },
  actions: {
    setLimits: {
      input: t.record({ min: t.int({ min: 0, max: 40 }), max: t.int({ min: 0, max: 40 }), note: t.optional(t.string({ maxLength: 16 })) }),
      output: t.bool(),
      role: "administer",
    },
    reset: { input: t.none(), output: t.none(), role: "manage" },
    broken: { input: t.none(), output: t.int(), role: "view" },
  },
  events: { changed: { data: t.number(), role: "view" } },
});

export interface SetpointState {
  target: number;
  mode: "heat" | "cool" | "off";
  min: number;
  max: number;
  /** Writes of the target that ran. */
  writes: number;
}

export function newSetpointState(): SetpointState {
  return { target: 20, mode: "heat", min: 5, max: 30, writes: 0 };
}

/**
 * Registers the setpoint door with the tests' implementation on a runtime or a device (one
 * implementation for every test and benchmark). `invoke.broken` returns a value outside its schema.
 */
export function registerSetpoint<S extends SetpointState>(host: { register: DeviceRuntime["register"] }, state: S) {
  const door = host.register(setpointDoor, {
    read: { target: () => state.target, mode: () => state.mode, label: () => "lounge" },
    write: {
      target: (v) => {
        state.target = v;
        state.writes++;
        door.emit("changed", v);
      },
      mode: (v) => {
        state.mode = v;
      },
    },
    invoke: {
      setLimits: (limits) => {
        state.min = limits.min;
        state.max = limits.max;
        return limits.min < limits.max;
      },
      reset: () => {
        state.target = 20;
      },
      broken: () => "not a number" as unknown as number,
    },
  });
  return door;
}

function setup(env: ConformanceEnv, options: { recordAllowed?: boolean; burst?: number } = {}) {
  const clock = new FakeClock();
  const events: SecurityEvent[] = [];
  const doorEvents: [string, string, unknown][] = [];
  const log = new SecurityEventLog({ clock, sink: (e) => events.push(e), recordAllowed: options.recordAllowed, burst: options.burst });
  const runtime = new DeviceRuntime({ events: log, onDoorEvent: (d, e, data) => doorEvents.push([d, e, data]) });
  const state = newSetpointState();
  const door = registerSetpoint(runtime, state);
  const trust = new TrustList([
    { key: OPERATOR, role: "operate" },
    { key: ADMIN, role: "administer" },
  ]);
  const receiver = new CommandReceiver({ deviceId: "dev-1", crypto: env.crypto, clock, trust, runtime });
  return { clock, events, doorEvents, log, runtime, door, state, receiver, trust };
}

function command(overrides: Partial<Command> = {}): Command {
  return { device: "dev-1", door: "setpoint", op: "write.target", args: 22, seq: 1, issuedAt: NOW_S, expiresAt: NOW_S + 60, ...overrides };
}

export const doorCases: ConformanceCase[] = [
  {
    name: "doors: local calls go through the door and its checks",
    run(env) {
      const { door, state, doorEvents, events } = setup(env, { recordAllowed: true });
      checkEqual(door.read("target"), 20, "read");
      door.write("target", 21.5);
      checkEqual(state.target, 21.5, "written");
      checkEqual(door.invoke("setLimits", { min: 10, max: 25 }), true, "action output");
      door.invoke("reset");
      checkEqual(state.target, 20, "reset");
      checkEqual(doorEvents.length, 1, "one door event");
      checkEqual(doorEvents[0][2], 21.5, "event data");
      checkRefused(() => door.write("target", 31), "invalid-args", "out of range");
      checkEqual(events.filter((e) => e.allowed).length, 4, "allowed attempts recorded when asked");
      checkEqual(events.filter((e) => !e.allowed).length, 1, "refusal recorded");
      checkEqual(events[events.length - 1].principal, "local", "local principal");
    },
  },
  {
    name: "doors: roles gate every operation, refusals become security events",
    run(env) {
      const { runtime, events } = setup(env);
      const viewer = { id: "aa", role: "view" as const };
      const operator = { id: "bb", role: "operate" as const };
      checkEqual(runtime.dispatch({ principal: viewer, door: "setpoint", op: "read.target" }).ok, true, "view may read");
      const refused = runtime.dispatch({ principal: viewer, door: "setpoint", op: "write.target", args: 22 });
      checkEqual(refused.ok ? "ok" : refused.code, "not-allowed", "view may not write");
      checkEqual(runtime.dispatch({ principal: operator, door: "setpoint", op: "write.target", args: 22 }).ok, true, "operate may write");
      const limits = runtime.dispatch({ principal: operator, door: "setpoint", op: "invoke.setLimits", args: { min: 1, max: 2 } });
      checkEqual(limits.ok ? "ok" : limits.code, "not-allowed", "only administer may change limits");
      // The role check comes before input validation: a caller without access learns nothing of the schema.
      const garbage = runtime.dispatch({ principal: viewer, door: "setpoint", op: "invoke.setLimits", args: "junk" });
      checkEqual(garbage.ok ? "ok" : garbage.code, "not-allowed", "role before schema");
      checkEqual(events.length, 3, "three refusals, no allowed events by default");
      const e = events[0];
      checkEqual(e.code, "not-allowed", "event code");
      checkEqual(e.principal, "aa", "event principal");
      checkEqual(e.door, "setpoint", "event door");
      checkEqual(e.op, "write.target", "event op");
      checkEqual(e.time, NOW_S * 1000, "event time");
    },
  },
  {
    name: "doors: unknown doors and operations, and read-only properties, are refused",
    run(env) {
      const { runtime } = setup(env);
      const admin = { id: "cc", role: "administer" as const };
      const codeOf = (door: string, op: string, args?: unknown) => {
        const o = runtime.dispatch({ principal: admin, door, op, args });
        return o.ok ? "ok" : o.code;
      };
      checkEqual(codeOf("lock", "read.state"), "unknown-door", "no such door");
      checkEqual(codeOf("setpoint", "read.nothing"), "unknown-op", "no such property");
      checkEqual(codeOf("setpoint", "write.label", "x"), "unknown-op", "read-only property");
      checkEqual(codeOf("setpoint", "invoke.toString"), "unknown-op", "inherited names are not operations");
      checkEqual(codeOf("setpoint", "target"), "unknown-op", "operation without a verb");
      checkEqual(codeOf("setpoint", "invoke.broken"), "door-failed", "output outside the schema");
    },
  },
  {
    name: "doors: arguments outside the schema are refused with the reason",
    run(env) {
      const { runtime, state } = setup(env);
      const admin = { id: "cc", role: "administer" as const };
      const reasons: [string, unknown, string][] = [
        ["write.target", "22", "type"],
        ["write.target", 4.9, "range"],
        ["write.target", NaN, "type"],
        ["write.target", undefined, "type"],
        ["write.mode", "dry", "enum"],
        ["invoke.setLimits", { min: 1 }, "missing-field"],
        ["invoke.setLimits", { min: 1, max: 2, extra: 3 }, "extra-field"],
        ["invoke.setLimits", { min: 1.5, max: 2 }, "type"],
        ["invoke.setLimits", { min: 1, max: 41 }, "range"],
        ["invoke.setLimits", { min: 1, max: 2, note: "x".repeat(17) }, "length"],
        ["invoke.setLimits", new Map<CborValue, CborValue>([[1, 2]]), "extra-field"],
        ["invoke.setLimits", [1, 2], "type"],
        ["invoke.reset", 1, "type"],
      ];
      for (const [op, args, reason] of reasons) {
        const outcome = runtime.dispatch({ principal: admin, door: "setpoint", op, args });
        if (outcome.ok) throw new Error(`${op} with ${String(args)} must be refused`);
        checkEqual(outcome.code, "invalid-args", `${op} code`);
        checkEqual((outcome.detail as { reason: string }).reason, reason, `${op} with ${String(args)}: reason`);
      }
      checkEqual(state.target, 20, "nothing changed");
      const fromCbor = runtime.dispatch({ principal: admin, door: "setpoint", op: "invoke.setLimits", args: new Map<CborValue, CborValue>([["min", 3], ["max", 9]]) });
      checkEqual(fromCbor.ok && fromCbor.value, true, "records arrive as CBOR maps too");
      checkEqual(state.max, 9, "limits set");
    },
  },
  {
    name: "events: a flood of refusals is rate-limited and the drops are counted",
    run(env) {
      const { runtime, events, log, clock } = setup(env, { burst: 10 });
      const viewer = { id: "aa", role: "view" as const };
      for (let i = 0; i < 1000; i++) runtime.dispatch({ principal: viewer, door: "setpoint", op: "write.target", args: 22 });
      checkEqual(events.length, 10, "only the burst leaves");
      checkEqual(log.suppressed, 990, "the rest is counted");
      clock.mono += 1000; // one second later: five more tokens at the default rate
      runtime.dispatch({ principal: viewer, door: "setpoint", op: "write.target", args: 22 });
      checkEqual(events.length, 11, "one more after a pause");
      checkEqual(events[10].suppressed, 990, "the next event carries the count of dropped ones");
    },
  },
  {
    name: "replay window: OSCORE-style, 32 wide, survives a snapshot",
    run() {
      const w = new ReplayWindow();
      const accept = (seq: number) => {
        w.check("a", seq);
        w.accept("a", seq);
      };
      accept(5);
      checkRefused(() => w.check("a", 5), "replayed", "same number");
      accept(3); // late but inside the window
      accept(40);
      checkRefused(() => w.check("a", 3), "too-old", "below the window");
      accept(9); // 40 - 9 = 31: the oldest inside a 32-wide window
      checkRefused(() => w.check("a", 8), "too-old", "one below the window");
      checkRefused(() => w.check("a", 9), "replayed", "edge of the window");
      w.check("b", 1); // senders are independent
      const copy = new ReplayWindow();
      copy.restore(w.snapshot());
      checkRefused(() => copy.check("a", 40), "replayed", "after restore");
      checkRefused(() => copy.check("a", 9), "replayed", "bitmap after restore");
      copy.check("a", 41);
      accept(1000);
      checkRefused(() => w.check("a", 968), "too-old", "after a big jump");
      w.check("a", 999);
      checkRefused(() => new ReplayWindow(33), "config-invalid", "width above 32");
    },
  },
  {
    name: "commands: a signed command executes through the door",
    run(env) {
      const { receiver, state, events } = setup(env);
      const result = receiver.receive(signCommand(env.crypto, OPERATOR, command()), "setpoint");
      check(result.outcome.ok, `command refused: ${result.outcome.ok ? "" : result.outcome.code}`);
      checkEqual(state.target, 22, "target written");
      checkEqual(result.sender, toHex(OPERATOR.kid), "sender");
      checkEqual(result.command?.seq, 1, "seq for correlation");
      const read = receiver.receive(signCommand(env.crypto, ADMIN, command({ op: "read.target", args: undefined, seq: 7 })));
      checkEqual(read.outcome.ok && read.outcome.value, 22, "read result");
      checkEqual(events.length, 0, "no refusals");
    },
  },
  {
    name: "commands: replays, stale, expired, wrong device or door are refused and change nothing",
    run(env) {
      const { receiver, state, events, clock } = setup(env);
      const first = signCommand(env.crypto, OPERATOR, command({ seq: 50 }));
      check(receiver.receive(first).outcome.ok, "first delivery runs");
      state.target = 20;
      // The same message again is a redelivery: answered with the first outcome, not executed.
      const again = receiver.receive(first);
      check(again.duplicate === true && again.outcome.ok, "a recent duplicate gets the first outcome");
      checkEqual(state.target, 20, "and is not executed again");
      checkEqual(events[0]?.code, "duplicate", "but it is visible as a security event");
      const refusals: [Uint8Array, string][] = [
        [signCommand(env.crypto, OPERATOR, command({ seq: 10 })), "too-old"],
        [signCommand(env.crypto, OPERATOR, command({ seq: 51, device: "dev-2" })), "wrong-device"],
        [signCommand(env.crypto, OPERATOR, command({ seq: 52, issuedAt: NOW_S - 301 })), "stale"],
        [signCommand(env.crypto, OPERATOR, command({ seq: 53, expiresAt: NOW_S })), "expired"],
        [signCommand(env.crypto, OPERATOR, command({ seq: 54, issuedAt: NOW_S + 31 })), "not-yet-valid"],
        [signCommand(env.crypto, STRANGER, command({ seq: 55 })), "unknown-kid"],
        [signCommand(env.crypto, OPERATOR, command({ seq: 56, op: "invoke.setLimits", args: { min: 1, max: 2 } })), "not-allowed"],
        [signCommand(env.crypto, OPERATOR, command({ seq: 57, args: 99 })), "invalid-args"],
        [signCommand(env.crypto, OPERATOR, command({ seq: 58, door: "relay" })), "unknown-door"],
        [sign1(env.crypto, OPERATOR, encodeCommand(command({ seq: 59 }))), "bad-signature"], // no command AAD
        [sign1(env.crypto, OPERATOR, encodeCommand(command({ seq: 60 })), { externalAad: COMMAND_AAD, tagged: false }), "cose-untagged"],
        [sign1(env.crypto, OPERATOR, encode(new Map<number, CborValue>([[3, "dev-1"], [99, 1]])), { externalAad: COMMAND_AAD }), "command-malformed"],
        [sign1(env.crypto, OPERATOR, encode([1, 2]), { externalAad: COMMAND_AAD }), "command-malformed"],
      ];
      for (const [message, code] of refusals) {
        const result = receiver.receive(message);
        checkEqual(result.outcome.ok ? "ok" : result.outcome.code, code, `refusal ${code}`);
      }
      const tampered = signCommand(env.crypto, OPERATOR, command({ seq: 61 }));
      tampered[tampered.length - 70] ^= 1;
      checkEqual((receiver.receive(tampered).outcome as { code: string }).code, "bad-signature", "tampered");
      const otherDoor = receiver.receive(signCommand(env.crypto, OPERATOR, command({ seq: 62 })), "relay");
      checkEqual(otherDoor.outcome.ok ? "ok" : otherDoor.outcome.code, "wrong-door", "addressed to another door");
      checkEqual(state.target, 20, "nothing executed");
      checkEqual(events.length, refusals.length + 3, "every refusal is an event");
      checkEqual(events[1].code, "too-old", "first refusal");
      checkEqual(events[6].principal, "unknown", "unverified sender is unknown");
      // Without trusted time the replay window alone guards freshness: an old issued-at is accepted.
      clock.wall = undefined;
      check(receiver.receive(signCommand(env.crypto, OPERATOR, command({ seq: 63, issuedAt: 1 }))).outcome.ok, "no trusted time");
    },
  },
  {
    name: "commands: out-of-order delivery inside the window is accepted once",
    run(env) {
      const { receiver } = setup(env);
      const ok = (seq: number) => receiver.receive(signCommand(env.crypto, ADMIN, command({ seq }))).outcome.ok;
      check(ok(10), "10");
      check(ok(8), "8 after 10");
      check(ok(9), "9");
      check(ok(42), "42");
      // 10 is now below the window, but a redelivery of it (QoS 1, acknowledgements lost) must get its
      // first outcome again, never a contradicting refusal.
      const late = receiver.receive(signCommand(env.crypto, ADMIN, command({ seq: 10 })));
      check(late.duplicate === true && late.outcome.ok, `redelivery of 10 after 42: ${late.outcome.ok ? "ok" : late.outcome.code}`);
      // A replay older than the few outcomes kept for redeliveries is refused outright.
      for (let seq = 43; seq < 70; seq++) check(ok(seq), `${seq}`);
      const replay = receiver.receive(signCommand(env.crypto, ADMIN, command({ seq: 45 })));
      checkEqual(replay.outcome.ok ? "ok" : replay.outcome.code, "replayed", "old replay inside the window");
      const ancient = receiver.receive(signCommand(env.crypto, ADMIN, command({ seq: 10 })));
      checkEqual(ancient.outcome.ok ? "ok" : ancient.outcome.code, "too-old", "old replay below the window, no longer remembered");
    },
  },
  {
    name: "doors: a section a door does not use is left out, in the schema and in the implementation; its description still has every section",
    run() {
      const { runtime } = setup({ crypto: undefined as never, platform: "node" });
      const gauge = defineDoor({ name: "gauge", properties: { level: { type: t.int({ min: 0, max: 9 }), read: "view" } } });
      const door = runtime.register(gauge, { read: { level: () => 7 } });
      checkEqual(door.read("level"), 7, "read through a door with properties only");
      const bell = defineDoor({ name: "bell", actions: { ring: { input: t.none(), output: t.none(), role: "operate" } } });
      let rings = 0;
      runtime.register(bell, { invoke: { ring: () => void rings++ } });
      checkEqual(runtime.dispatch({ principal: { id: "x", role: "operate" }, door: "bell", op: "invoke.ring" }).ok, true, "invoke through a door with actions only");
      checkEqual(rings, 1, "rung");
      checkEqual(runtime.dispatch({ principal: { id: "x", role: "administer" }, door: "bell", op: "read.ring" }).ok ? "ok" : "unknown-op", "unknown-op", "a door without properties has no reads");
      checkEqual(diagnostic(decode(encode(describeDoor(bell)))), '{"name": "bell", "events": {}, "actions": {"ring": {"role": "operate", "input": {"kind": "none"}, "output": {"kind": "none"}}}, "properties": {}}', "described with every section");
    },
  },
  {
    name: "doors: registration refuses bad member names, a missing implementation and more than the most doors (door-invalid)",
    run() {
      const { runtime } = setup({ crypto: undefined as never, platform: "node" });
      const long = defineDoor({ name: "long", events: { ["e".repeat(33)]: { data: t.int(), role: "view" } } });
      checkRefused(() => runtime.register(long, {}), "door-invalid", "a member name over 32 characters");
      const dotted = defineDoor({ name: "dotted", properties: { "a.b": { type: t.int(), read: "view" } } });
      checkRefused(() => runtime.register(dotted, { read: { "a.b": () => 1 } }), "door-invalid", "a member name with a dot");
      const missing = defineDoor({ name: "missing", properties: { x: { type: t.int(), read: "view", write: "operate" } } });
      checkRefused(() => runtime.register(missing, { read: { x: () => 1 } } as never), "door-invalid", "no write.x");
      checkRefused(() => runtime.register(missing, { read: { x: () => 1 }, write: { constructor: () => {} } } as never), "door-invalid", "an inherited name is no implementation");
      const many = new DeviceRuntime({ events: new SecurityEventLog({ clock: new FakeClock(), sink: () => {} }) });
      for (let i = 0; i < MAX_DOORS; i++) many.register(defineDoor({ name: `d${i}` }), {});
      checkRefused(() => many.register(defineDoor({ name: "one-more" }), {}), "door-invalid", `door ${MAX_DOORS + 1}`);
    },
  },
  {
    name: "doors: a door's own refusal code is passed on; one that results and events cannot carry becomes door-failed",
    run() {
      const { runtime, events } = setup({ crypto: undefined as never, platform: "node" });
      const codes = ["out-of-limits", "", "Bad Code", "c".repeat(65)];
      const strict = defineDoor({ name: "strict", actions: { go: { input: t.int({ min: 0, max: 9 }), output: t.none(), role: "view" } } });
      runtime.register(strict, {
        invoke: {
          go: (i) => {
            throw new GatehouseError(codes[i], "no");
          },
        },
      });
      const outcomes = codes.map((_, i) => runtime.dispatch({ principal: { id: "x", role: "view" }, door: "strict", op: "invoke.go", args: i }));
      checkEqual(outcomes.map((o) => (o.ok ? "ok" : o.code)).join(","), "out-of-limits,door-failed,door-failed,door-failed", "codes");
      const last = outcomes[3];
      check(!last.ok && last.message.indexOf("ccccc") >= 0 && last.message.endsWith(": no"), "the message names the code and keeps the door's message");
      checkEqual(events[events.length - 1].code, "door-failed", "and so does the security event");
    },
  },
  {
    name: "trust list: round-trips as CBOR and refuses duplicates and bad roles",
    run() {
      const trust = new TrustList([
        { key: OPERATOR, role: "operate" },
        { key: ADMIN, role: "administer" },
      ]);
      const back = decodeTrust(encodeTrust(trust));
      checkEqual(back.roleOf(toHex(ADMIN.kid)), "administer", "admin role");
      checkEqual(back.find(OPERATOR.kid)?.d, undefined, "no private parts in a trust list");
      checkRefused(() => new TrustList([{ key: ADMIN, role: "view" }, { key: ADMIN, role: "administer" }]), "trust-invalid", "duplicate kid");
      checkRefused(() => decodeTrust(encode([[new Map(), "root"]])), "trust-invalid", "unknown role");
    },
  },
];
