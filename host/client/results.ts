// Waiting for command results (docs/protocol.md section 4, kind "result"): shared by the command client
// (CLI, demo) and the fleet server's relay. A result names the command it answers by `ref`, the first
// 8 bytes of SHA-256 of the command message as the device received it, so a waiter knows its ref before
// it publishes and needs nothing else from the device (refused commands get results without cmdSeq).

import type { MqttClient } from "mqtt";
import { toHex } from "../../sdk/bytes";
import type { CoseKey } from "../../sdk/cose/key";
import { GatehouseError, errorCode } from "../../sdk/errors";
import type { CryptoPort } from "../../sdk/ports/crypto";
import { parseSign1 } from "../../sdk/cose/sign1";
import { fail } from "../../sdk/errors";
import { decodePublication, decodePublicationHeader, openPublication as verifyAndDecode, PUBLICATION_LIMITS, PUBLICATIONS, type PublicationBodies, type PublicationKind, type ResultBody } from "../../sdk/session/publications";
import { nodeCrypto } from "../../ports/node/crypto";
import { toJson, type Json } from "./json-view";

export interface CommandReply {
  ok: boolean;
  /** The door's output when ok (a decoded CBOR value; undefined when the operation returns nothing). */
  value?: unknown;
  code?: string;
  message?: string;
  /**
   * true: the result's signature was checked with the device's key. false: it was NOT; anyone who can
   * publish on the broker could have written it.
   */
  verified: boolean;
  device: string;
  /** The command's sequence number. */
  seq: number;
  /** The ref the result answered, in hex. */
  ref: string;
  /** The kid (hex) the device verified the command with; absent when it refused before that. */
  sender?: string;
  /** The result publication as received (a COSE_Sign1), for whoever wants to verify it again. */
  result: Uint8Array;
}

/** The ref of a command message: the first 8 bytes of its SHA-256. */
export function commandRef(message: Uint8Array, crypto: CryptoPort = nodeCrypto): Uint8Array {
  return crypto.sha256(message).subarray(0, 8);
}

export interface OpenedPublication<K extends PublicationKind> {
  body: PublicationBodies[K];
  verified: boolean;
}

/**
 * Reads a device publication of `kind` with the SDK's publication codec. With the device's key it is
 * verified; without one it is only parsed and checked (tag, structure, limits, fields, the device it
 * names) and marked unverified.
 */
export function openPublication<K extends PublicationKind>(payload: Uint8Array, kind: K, device: string, deviceKey: CoseKey | undefined, crypto: CryptoPort = nodeCrypto): OpenedPublication<K> {
  if (deviceKey) return { body: verifyAndDecode(crypto, payload, deviceKey, kind, device), verified: true };
  // Not verified: only parsed and checked. Anyone who can publish could have written it.
  const parts = parseSign1(payload, { tag: "required", limits: PUBLICATION_LIMITS });
  if (parts.payload === null) return fail("cose-detached-payload", `${kind} has no payload`);
  return { body: decodePublication(kind, decodePublicationHeader(kind, parts.payload, device)), verified: false };
}

/** A result publication, verified when the device's key is given (see openPublication). */
export function openResult(payload: Uint8Array, device: string, deviceKey: CoseKey | undefined, crypto: CryptoPort = nodeCrypto): OpenedPublication<"result"> {
  return openPublication(payload, "result", device, deviceKey, crypto);
}

function replyOf(device: string, seq: number, opened: OpenedPublication<"result">, payload: Uint8Array): CommandReply {
  const { body, verified } = opened;
  const reply: CommandReply = { ok: body.ok, verified, device, seq, ref: toHex(body.ref), result: payload };
  if (body.sender !== undefined) reply.sender = body.sender;
  if (body.ok) {
    if (body.value !== undefined) reply.value = body.value;
  } else {
    reply.code = body.code;
    reply.message = body.message;
  }
  return reply;
}

/** What a waiter knows when no result came: only facts, so the timeout message claims nothing more. */
export interface SilenceFacts {
  /** The broker acknowledged the command's PUBLISH (QoS 1): true, false, or undefined when not known. */
  acknowledged: boolean | undefined;
  /** The command's expiry claim, seconds since the epoch; undefined: it has none. */
  expiresAt?: number;
  /**
   * The device's connection as last announced, and where that comes from (e.g. "the device's latest
   * birth and death (verified)", read as "according to ..."); online undefined: nothing is known, and
   * `source` says what was looked at.
   */
  device?: { online: boolean | undefined; session?: number; source: string };
  /** Further facts, each a sentence (e.g. a suspected session takeover the server recorded). */
  notes?: string[];
}

/**
 * Why no result may have come, from what is known. It names what is a fact (the broker's
 * acknowledgement, the device's announced state, the expiry) and lists as possibilities only what those
 * facts leave open: the broker dropping the command (a full queue for the device's session), another
 * client holding the device's client id, a refusal whose result the device's rate limit suppressed.
 */
export function explainSilence(f: SilenceFacts): string {
  const parts: string[] = [];
  if (f.acknowledged === true) parts.push("The broker acknowledged the command; nothing says whether it reached the device.");
  else if (f.acknowledged === false) parts.push("The broker did not acknowledge the command: it may never have left this client.");
  const session = f.device?.session;
  if (f.device?.online === true) {
    parts.push(
      `According to ${f.device.source}, the device is connected${session !== undefined ? ` (session ${session})` : ""}. The command may have been dropped by the broker (a full queue for the device's session: max_queued_messages), ` +
        "taken by another client connected with the device's client id, or refused before its signature was checked with the result suppressed by the device's event rate limit; or the result was lost on its way back.",
    );
  } else if (f.device?.online === false) {
    parts.push(
      `According to ${f.device.source}, the device is offline${session !== undefined ? ` (its session ${session} ended)` : ""}. The broker delivers the command when the device reconnects only if it still holds the device's persistent session and has room in its queue (max_queued_messages).`,
    );
  } else {
    parts.push(`Nothing tells whether the device is connected (${f.device?.source ?? "nothing was looked at"}). The device may be offline, or the command or its result may have been dropped by the broker (a full queue: max_queued_messages).`);
  }
  if (f.expiresAt !== undefined) parts.push(`The command expires at ${new Date(f.expiresAt * 1000).toISOString()}: delivered later, a device with trusted time refuses it (expired).`);
  else parts.push("The command has no expiry: delivered later, it may still run.");
  for (const note of f.notes ?? []) parts.push(note);
  return parts.join(" ");
}

interface Waiter {
  readonly device: string;
  readonly seq: number;
  readonly deviceKey?: CoseKey;
  resolve(reply: CommandReply): void;
  reject(error: Error): void;
  /** Why the last result carrying this ref was refused (a wrong device key, a forgery). */
  refused?: string;
}

/** Routes result publications to the commands waiting for them, by device and ref. */
export class ResultRouter {
  private readonly waiting = new Map<string, Set<Waiter>>();

  constructor(private readonly crypto: CryptoPort = nodeCrypto) {}

  /** Commands waiting for a result. */
  get pending(): number {
    let n = 0;
    for (const set of this.waiting.values()) n += set.size;
    return n;
  }

  /**
   * A result publication as it arrived on gh/<device>/result: each waiter for its ref gets it, verified
   * with that waiter's device key when it has one. A result that fails verification is ignored (the
   * waiter keeps waiting, and remembers why for its timeout message).
   */
  offer(device: string, payload: Uint8Array): void {
    if (this.waiting.size === 0) return;
    let unverified: OpenedPublication<"result">;
    try {
      unverified = openResult(payload, device, undefined, this.crypto);
    } catch {
      return; // not even a result: nobody waits for it
    }
    const set = this.waiting.get(key(device, toHex(unverified.body.ref)));
    if (!set) return;
    for (const waiter of [...set]) {
      let opened = unverified;
      if (waiter.deviceKey) {
        try {
          opened = openResult(payload, device, waiter.deviceKey, this.crypto);
        } catch (e) {
          waiter.refused = `${errorCode(e)}: ${(e as Error).message}`;
          continue;
        }
      }
      waiter.resolve(replyOf(device, waiter.seq, opened, payload));
    }
  }

  /** A result the caller has already verified with the device's key (the fleet server's ingestion). */
  deliverVerified(device: string, body: ResultBody, payload: Uint8Array): void {
    const set = this.waiting.get(key(device, toHex(body.ref)));
    if (!set) return;
    for (const waiter of [...set]) waiter.resolve(replyOf(device, waiter.seq, { body, verified: true }, payload));
  }

  /**
   * Registers a wait for the result of `ref` (register before publishing: a result can arrive before
   * publish() returns). Resolves with the reply; rejects with "no-result" after `timeoutMs` (its message
   * built by explainSilence from what `silence` reports then), or with the error given to `cancel`.
   */
  wait(device: string, ref: Uint8Array, options: { seq: number; deviceKey?: CoseKey; timeoutMs: number; silence?: () => SilenceFacts }): { promise: Promise<CommandReply>; cancel(error: Error): void } {
    const k = key(device, toHex(ref));
    let waiter!: Waiter;
    const promise = new Promise<CommandReply>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (): boolean => {
        const set = this.waiting.get(k);
        if (!set?.delete(waiter)) return false; // already settled
        if (set.size === 0) this.waiting.delete(k);
        clearTimeout(timer);
        return true;
      };
      waiter = {
        device,
        seq: options.seq,
        deviceKey: options.deviceKey,
        resolve: (reply) => {
          if (finish()) resolve(reply);
        },
        reject: (error) => {
          if (finish()) reject(error);
        },
      };
      let set = this.waiting.get(k);
      if (!set) this.waiting.set(k, (set = new Set()));
      set.add(waiter);
      timer = setTimeout(() => {
        const refused = waiter.refused ? ` A result did arrive but failed verification (${waiter.refused}): is the device key right?` : "";
        const facts = options.silence?.() ?? { acknowledged: undefined };
        waiter.reject(new GatehouseError("no-result", `no result from ${device} within ${options.timeoutMs} ms. ${explainSilence(facts)}${refused}`));
      }, options.timeoutMs);
    });
    return { promise, cancel: (error) => waiter.reject(error) };
  }

  /** Rejects every wait (on shutdown). */
  cancelAll(error: Error): void {
    for (const set of [...this.waiting.values()]) for (const waiter of [...set]) waiter.reject(error);
  }
}

function key(device: string, refHex: string): string {
  return `${device}\n${refHex}`;
}

export interface RelayOptions {
  client: MqttClient;
  router: ResultRouter;
  topicPrefix: string;
  device: string;
  door: string;
  /** The signed command (COSE_Sign1), published as is. */
  message: Uint8Array;
  /** The command's seq, for the reply. */
  seq: number;
  /** Verify the result with this key; without it the reply is unverified. */
  deviceKey?: CoseKey;
  timeoutMs: number;
  /** Runs after the wait is registered and before the command is published (e.g. subscribe to the result topic). */
  beforePublish?(): Promise<void>;
  /** The command's expiry claim (seconds since the epoch), for the timeout message. */
  expiresAt?: number;
  /** What the caller knows of the device when no result came (its announced state, notes). */
  silence?(): Omit<SilenceFacts, "acknowledged" | "expiresAt">;
  crypto?: CryptoPort;
}

/**
 * Publishes a signed command on <prefix>/<device>/cmd/<door> (QoS 1, not retained) and waits for the
 * result whose ref is SHA-256(message)[0..8]. The caller must route result publications into `router`.
 */
export async function awaitResult(o: RelayOptions): Promise<CommandReply> {
  const ref = commandRef(o.message, o.crypto);
  let acknowledged = false;
  const silence = (): SilenceFacts => ({ ...o.silence?.(), acknowledged, expiresAt: o.expiresAt });
  const wait = o.router.wait(o.device, ref, { seq: o.seq, deviceKey: o.deviceKey, timeoutMs: o.timeoutMs, silence });
  try {
    await o.beforePublish?.();
    await o.client.publishAsync(`${o.topicPrefix}/${o.device}/cmd/${o.door}`, Buffer.from(o.message.buffer, o.message.byteOffset, o.message.byteLength), {
      qos: 1,
      retain: false,
    });
    acknowledged = true;
  } catch (e) {
    const error = e instanceof GatehouseError ? e : new GatehouseError("broker-error", `cannot publish the command: ${(e as Error).message}`);
    wait.cancel(error);
  }
  return wait.promise;
}

/** The result topic of a device. */
export function resultTopic(topicPrefix: string, device: string): string {
  return `${topicPrefix}/${device}/${PUBLICATIONS.result.topic}`;
}

/** The JSON form of a reply, as the fleet server's API returns it (byte strings and the raw result in hex). */
export function replyToJson(reply: CommandReply): { [key: string]: Json } {
  const json: { [key: string]: Json } = { ok: reply.ok, verified: reply.verified, device: reply.device, seq: reply.seq, ref: reply.ref };
  if (reply.ok) {
    if (reply.value !== undefined) json.value = toJson(reply.value); // absent: the operation returns nothing
  } else {
    json.code = reply.code ?? "unknown";
    json.message = reply.message ?? "";
  }
  if (reply.sender !== undefined) json.sender = reply.sender;
  json.result = toHex(reply.result);
  return json;
}
