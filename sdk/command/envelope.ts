// The signed command envelope (docs/protocol.md): a COSE_Sign1, tagged, whose payload is a CBOR map of
// CWT claims (RFC 8392) and Gatehouse claims in the private-use range (below -65536).

import { fail } from "../errors";
import { decode } from "../cbor/decode";
import { encode, utf8 } from "../cbor/encode";
import type { CborMap, CborValue } from "../cbor/types";

export const CLAIM_AUD = 3; // the target device id (text)
export const CLAIM_EXP = 4; // expiry, seconds since the epoch (optional)
export const CLAIM_IAT = 6; // issued at, seconds since the epoch
export const CLAIM_DOOR = -65537; // door name (text)
export const CLAIM_OP = -65538; // operation name (text)
export const CLAIM_ARGS = -65539; // arguments (any CBOR; absent for none)
export const CLAIM_SEQ = -65540; // the sender's sequence number (unsigned integer)

const KNOWN_CLAIMS = [CLAIM_AUD, CLAIM_EXP, CLAIM_IAT, CLAIM_DOOR, CLAIM_OP, CLAIM_ARGS, CLAIM_SEQ];

/** External AAD of every command signature: binds the signature to its purpose (domain separation). */
export const COMMAND_AAD = utf8("gatehouse command v1");

/**
 * The expiry the reference tools give a command: this many seconds after issue. Short, so that a command
 * held back (a full broker queue, a client that took the device's session over) cannot run much later;
 * long enough for a device clock a little ahead of the sender's.
 */
export const DEFAULT_COMMAND_EXPIRY_SECONDS = 60;

/** Limits on a command payload: small, shallow maps. */
export const COMMAND_LIMITS = { maxDepth: 8, maxItems: 256, maxStringLength: 4096, maxLength: 8192 };

export interface Command {
  readonly device: string;
  readonly door: string;
  readonly op: string;
  readonly args?: CborValue;
  readonly seq: number;
  /** Seconds since the epoch. */
  readonly issuedAt: number;
  /** Seconds since the epoch. */
  readonly expiresAt?: number;
}

export function encodeCommand(command: Command): Uint8Array {
  const claims: CborMap = new Map<number, CborValue>([
    [CLAIM_AUD, command.device],
    [CLAIM_IAT, command.issuedAt],
    [CLAIM_DOOR, command.door],
    [CLAIM_OP, command.op],
    [CLAIM_SEQ, command.seq],
  ]);
  if (command.expiresAt !== undefined) claims.set(CLAIM_EXP, command.expiresAt);
  if (command.args !== undefined) claims.set(CLAIM_ARGS, command.args);
  return encode(claims);
}

function text(claims: CborMap, key: number, name: string): string {
  const value = claims.get(key);
  if (typeof value !== "string" || value.length === 0 || value.length > 64) fail("command-malformed", `claim ${name} must be text of 1 to 64 characters`);
  return value;
}

function seconds(claims: CborMap, key: number, name: string, optional: boolean): number | undefined {
  const value = claims.get(key);
  if (value === undefined && optional) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) fail("command-malformed", `claim ${name} must be an unsigned integer`);
  return value;
}

/** Parses an authenticated command payload. Unknown claims are refused: no field goes unchecked. */
export function decodeCommand(payload: Uint8Array): Command {
  const claims = decode(payload, COMMAND_LIMITS);
  if (!(claims instanceof Map)) return fail("command-malformed", "command payload is not a map");
  for (const key of claims.keys()) {
    if (typeof key !== "number" || KNOWN_CLAIMS.indexOf(key) < 0) fail("command-malformed", `unknown claim ${String(key)}`);
  }
  const seq = claims.get(CLAIM_SEQ);
  if (typeof seq !== "number" || !Number.isInteger(seq) || seq < 0) fail("command-malformed", "claim seq must be an unsigned integer below 2^53");
  return {
    device: text(claims, CLAIM_AUD, "aud"),
    door: text(claims, CLAIM_DOOR, "door"),
    op: text(claims, CLAIM_OP, "op"),
    args: claims.get(CLAIM_ARGS),
    seq,
    issuedAt: seconds(claims, CLAIM_IAT, "iat", false) as number,
    expiresAt: seconds(claims, CLAIM_EXP, "exp", true),
  };
}
