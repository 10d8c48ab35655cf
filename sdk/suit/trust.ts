// Update trust: the keys allowed to sign updates and how many of them must sign one (k of n).
//
// This is separate from the command trust (sdk/trust.ts): an operator who may turn a thermostat's
// setpoint must not thereby be able to replace its firmware. The threshold is fixed when the device is
// provisioned; only a trust update accepted under the current threshold changes it (issue 7, item 2).
//
// Refusals (stable codes): suit-trust-invalid.

import { fail } from "../errors";
import { toHex } from "../bytes";
import type { CoseKey } from "../cose/key";
import { publicKey } from "../cose/key";

/** More keys than this make a kid-less signature block too costly to match on a device. */
export const MAX_UPDATE_KEYS = 8;

export interface UpdateTrust {
  /** Public keys, each with a distinct kid and distinct key material. */
  readonly keys: readonly CoseKey[];
  /** Signatures by distinct keys of `keys` that an update needs: 1 <= threshold <= keys.length. */
  readonly threshold: number;
}

/** Trusts made by createUpdateTrust: the only ones a verifier accepts (their keys were checked). Made on first use: a Moddable app
 * preloads this module, and a WeakSet made at load time would be read-only in flash (sdk/doors/validate.ts).
 */
let checkedTrusts: WeakSet<UpdateTrust> | undefined;
const markedCheckedTrusts = (): WeakSet<UpdateTrust> => (checkedTrusts ??= new WeakSet<UpdateTrust>());

/**
 * Checks and freezes an update trust. Two entries with the same key material under different kids
 * would let one signer count twice, so they are refused, as are repeated kids.
 */
export function createUpdateTrust(keys: readonly CoseKey[], threshold: number): UpdateTrust {
  if (keys.length === 0) fail("suit-trust-invalid", "update trust needs at least one key");
  if (keys.length > MAX_UPDATE_KEYS) fail("suit-trust-invalid", `update trust holds at most ${MAX_UPDATE_KEYS} keys, not ${keys.length}`);
  if (!Number.isSafeInteger(threshold) || threshold < 1 || threshold > keys.length) {
    fail("suit-trust-invalid", `threshold must be 1 to ${keys.length}, not ${String(threshold)}`);
  }
  const kids = new Set<string>();
  const material = new Set<string>();
  const publicKeys: CoseKey[] = [];
  for (const key of keys) {
    const kid = toHex(key.kid);
    const point = toHex(key.x) + (key.y ? toHex(key.y) : "");
    if (kids.has(kid)) fail("suit-trust-invalid", `two update keys have kid ${kid}`);
    if (material.has(point)) fail("suit-trust-invalid", `update key ${kid} is the same key as another one`);
    kids.add(kid);
    material.add(point);
    publicKeys.push(Object.freeze(publicKey(key)));
  }
  const trust: UpdateTrust = Object.freeze({ keys: Object.freeze(publicKeys), threshold });
  markedCheckedTrusts().add(trust);
  return trust;
}

/**
 * Refuses an update trust that createUpdateTrust did not make: a hand-built one could list one key
 * twice under two kids and let a single signer meet a threshold of two.
 */
export function checkUpdateTrust(trust: UpdateTrust): void {
  if (!markedCheckedTrusts().has(trust)) fail("suit-trust-invalid", "the update trust was not made by createUpdateTrust");
}
