// The benchmark device: one real door (the conformance suite's `setpoint`), a trust list of two
// published test keys, a fake clock and a CommandReceiver. Device-safe: the same module runs on Node
// (bench/host-pipeline.ts) and inside XS (bench/xs-entry.ts), so both measure the same pipeline.

import { CommandReceiver } from "../sdk/command/receiver";
import { DeviceRuntime } from "../sdk/doors/runtime";
import { SecurityEventLog, type SecurityEvent } from "../sdk/events";
import { TrustList } from "../sdk/trust";
import { utf8 } from "../sdk/cbor/encode";
import type { Command } from "../sdk/command/envelope";
import type { CoseKey, SignatureAlgorithm } from "../sdk/cose/key";
import type { CryptoPort } from "../sdk/ports/crypto";
import { FakeClock, newSetpointState, registerSetpoint } from "../test/conformance/doors.cases";
import { keyFromVector } from "../test/conformance/vectors";
import ecdsa01 from "../test/fixtures/cose/ecdsa-examples/ecdsa-sig-01.json";
import eddsa01 from "../test/fixtures/cose/eddsa-examples/eddsa-sig-01.json";

/** Ed25519 signer, role "operate" (published key of cose-wg/Examples eddsa-sig-01). */
export const OPERATOR: CoseKey = keyFromVector(eddsa01.input.sign0.key, "operator");
/** P-256 signer, role "administer" (published key of cose-wg/Examples ecdsa-sig-01). */
export const ADMIN: CoseKey = { ...keyFromVector(ecdsa01.input.sign0.key), kid: utf8("admin") };

export const DEVICE_ID = "dev-1";
export const DOOR = "setpoint";
/** The fake clock's wall time, in seconds: commands are issued "now", so freshness checks pass. */
export const NOW_S = Math.floor((new FakeClock().wall as number) / 1000);
/** First sequence number: every seq of a run has the same CBOR width (2-byte argument up to 65535). */
export const FIRST_SEQ = 1000;

export function signerFor(alg: SignatureAlgorithm): CoseKey {
  return alg === "ES256" ? ADMIN : OPERATOR;
}

/** The benchmark command: write the setpoint's target (a role check, schema validation, a door event). */
export function benchCommand(seq: number): Command {
  return { device: DEVICE_ID, door: DOOR, op: "write.target", args: 22, seq, issuedAt: NOW_S, expiresAt: NOW_S + 60 };
}

export interface BenchDevice {
  readonly receiver: CommandReceiver;
  readonly runtime: DeviceRuntime;
  readonly trust: TrustList;
  readonly state: { target: number; writes: number; doorEvents: number };
  readonly securityEvents: SecurityEvent[];
}

/** A fresh device (fresh replay window). Setup cost is never part of a measurement. */
export function makeDevice(crypto: CryptoPort): BenchDevice {
  const clock = new FakeClock();
  const securityEvents: SecurityEvent[] = [];
  const state = { ...newSetpointState(), doorEvents: 0 };
  const log = new SecurityEventLog({ clock, sink: (e) => securityEvents.push(e) });
  const runtime = new DeviceRuntime({
    events: log,
    onDoorEvent: () => {
      state.doorEvents++;
    },
  });
  registerSetpoint(runtime, state);
  const trust = new TrustList([
    { key: OPERATOR, role: "operate" },
    { key: ADMIN, role: "administer" },
  ]);
  const receiver = new CommandReceiver({ deviceId: DEVICE_ID, crypto, clock, trust, runtime });
  return { receiver, runtime, trust, state, securityEvents };
}

/**
 * A crypto port that does NO signature math: verify() answers true at once. Used only to measure the
 * pipeline's own cost (COSE parsing, Sig_structure encoding, claims, replay, authorization, dispatch)
 * without the elliptic-curve work, which on a device is done by the platform's native crypto.
 */
export const noSignatureMathCrypto: CryptoPort = {
  verify: () => true,
  sign: () => {
    throw new Error("noSignatureMathCrypto cannot sign");
  },
  sha256: () => {
    throw new Error("noSignatureMathCrypto cannot hash");
  },
  createSha256: () => {
    throw new Error("noSignatureMathCrypto cannot hash");
  },
};

/** The 10-field map of the CBOR benchmark: text keys, small and larger ints, a float, text, bytes, a bool, a nested array. */
export function cborSample(): Record<string, unknown> {
  return {
    id: 4711,
    name: "kitchen thermostat",
    temp: 21.5,
    ok: true,
    mode: 2,
    raw: Uint8Array.of(0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c),
    tags: [1, 2, "eco"],
    delta: -7,
    ts: NOW_S,
    unit: "C",
  };
}
