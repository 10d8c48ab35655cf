// Receiving a signed command on the device. Order matters: authenticate first (nothing in the payload
// is read before the signature checks), then the claims that bind the message to this device, door and
// time, then replay, and only then the door dispatch — the same path application code uses.

import { GatehouseError } from "../errors";
import { toHex } from "../bytes";
import { verifySign1 } from "../cose/sign1";
import type { CryptoPort } from "../ports/crypto";
import type { ClockPort } from "../ports/clock";
import type { TrustList } from "../trust";
import type { DeviceRuntime, Outcome } from "../doors/runtime";
import { COMMAND_AAD, COMMAND_LIMITS, decodeCommand, type Command } from "./envelope";
import { ReplayWindow } from "./replay";

/** What a device may tune of how it accepts commands (DeviceOptions.commands). */
export interface CommandSettings {
  /** Oldest issued-at accepted, when the device has trusted time (default 300 s). */
  maxAgeSeconds?: number;
  /** How far in the future issued-at may be (default 30 s). */
  clockSkewSeconds?: number;
  /**
   * Refuse a command without an expiry claim when the device has trusted time (default true, code
   * "expiry-missing"). A command that can be held back and delivered later (by a client that took the
   * device's MQTT session over, say) stays valid only until its expiry; without one, until the 300 s
   * staleness bound or, without trusted time, for as long as nothing newer from its sender arrives.
   */
  requireExpiry?: boolean;
}

export interface CommandReceiverOptions extends CommandSettings {
  deviceId: string;
  crypto: CryptoPort;
  clock: ClockPort;
  trust: TrustList;
  runtime: DeviceRuntime;
  replay?: ReplayWindow;
  /** Called when a sequence number is consumed (to persist the replay window). */
  onAccepted?: (sender: string, seq: number) => void;
}

export interface CommandResult {
  /** The signer's kid in hex, once the signature verified. */
  readonly sender?: string;
  readonly command?: Command;
  readonly outcome: Outcome;
  /** A repeated delivery of a command already executed: `outcome` is the first one's. */
  readonly duplicate?: boolean;
  /** For a refusal before dispatch or a duplicate: whether its security event passed the rate limit. */
  readonly reported?: boolean;
}

/** How many recent outcomes are kept to answer QoS 1 redeliveries. */
const RECENT_RESULTS = 16;

export class CommandReceiver {
  readonly replay: ReplayWindow;
  private readonly options: CommandReceiverOptions;
  private readonly recent = new Map<string, Outcome>();

  constructor(options: CommandReceiverOptions) {
    this.options = options;
    this.replay = options.replay ?? new ReplayWindow();
  }

  /** Handles one command message. `expectedDoor` is the door the transport addressed, if any. */
  receive(message: Uint8Array, expectedDoor?: string): CommandResult {
    const o = this.options;
    let sender: string | undefined;
    let command: Command | undefined;
    try {
      const verified = verifySign1(o.crypto, message, o.trust, { tag: "required", externalAad: COMMAND_AAD, limits: COMMAND_LIMITS });
      sender = toHex(verified.key.kid);
      command = decodeCommand(verified.payload);
      this.checkBinding(command, expectedDoor);
      this.replay.check(sender, command.seq);
      this.replay.accept(sender, command.seq);
      o.onAccepted?.(sender, command.seq);
    } catch (e) {
      const error = e instanceof GatehouseError ? e : new GatehouseError("internal", String(e));
      // A recent command delivered again (a QoS 1 redelivery, possibly after newer commands moved the
      // window past it, or a replay): never executed twice, answered with its first outcome. It is
      // still an event, under the same rate limit, so replays cannot make the device sign without bound.
      const isReplay = error.code === "replayed" || error.code === "too-old";
      const earlier = isReplay && sender !== undefined && command ? this.recent.get(`${sender}:${command.seq}`) : undefined;
      if (earlier && command) {
        const reported = o.runtime.refuse("duplicate", sender as string, command.door, command.op);
        return { sender, command, outcome: earlier, duplicate: true, reported };
      }
      const reported = o.runtime.refuse(error.code, sender ?? "unknown", command?.door, command?.op);
      return { sender, command, outcome: { ok: false, code: error.code, message: error.message }, reported };
    }
    const role = o.trust.roleOf(sender);
    const outcome = o.runtime.dispatch({ principal: { id: sender, role: role ?? "view" }, door: command.door, op: command.op, args: command.args });
    this.remember(`${sender}:${command.seq}`, outcome);
    return { sender, command, outcome };
  }

  private remember(key: string, outcome: Outcome): void {
    if (this.recent.size >= RECENT_RESULTS) this.recent.delete(this.recent.keys().next().value as string);
    this.recent.set(key, outcome);
  }

  private checkBinding(command: Command, expectedDoor: string | undefined): void {
    const o = this.options;
    if (command.device !== o.deviceId) throw new GatehouseError("wrong-device", `command is for device "${command.device}"`);
    if (expectedDoor !== undefined && command.door !== expectedDoor) throw new GatehouseError("wrong-door", `command for door "${command.door}" arrived for "${expectedDoor}"`);
    const nowMs = o.clock.wallTime();
    if (nowMs === undefined) return; // no trusted time: the replay window alone guards freshness
    const now = Math.floor(nowMs / 1000);
    if (command.issuedAt > now + (o.clockSkewSeconds ?? 30)) throw new GatehouseError("not-yet-valid", `issued-at ${command.issuedAt} is in the future`);
    if (now - command.issuedAt > (o.maxAgeSeconds ?? 300)) throw new GatehouseError("stale", `issued ${now - command.issuedAt} s ago`);
    if (command.expiresAt === undefined) {
      if (o.requireExpiry !== false) throw new GatehouseError("expiry-missing", "the command has no expiry (exp) and this device requires one");
    } else if (now >= command.expiresAt) {
      throw new GatehouseError("expired", `expired at ${command.expiresAt}`);
    }
  }
}
