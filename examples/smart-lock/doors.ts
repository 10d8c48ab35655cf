// The smart lock's door: the only way to the bolt, for operators' commands and the app's own auto-relock
// alike. Device code (runs on XS).
//
//   member              type                                          role        refusals (besides the SDK's)
//   read.state          {locked, doorClosed, lockedOutSeconds}        view
//   read.codes          int 0..8: how many access codes are set       view
//   invoke.unlock       {code: 4-12 digits} -> none                   operate     wrong-code, lockout, locked-out, no-codes
//   invoke.lock         none -> none                                  operate     door-open
//   invoke.rotateCodes  {codes: 1-8 distinct codes} -> int            administer  invalid-codes
//   event changed       {locked, doorClosed}                          view        (telemetry)
//   event lockout       {seconds, level}                              view        (telemetry)
//
// Unlocking needs both a trusted operator key (the signed command) and an access code: what the key holder
// knows, so a stolen operator key alone does not open the door. The device keeps the codes only as hashes.
// Run the lock's Device with `recordAllowed: true` (SMART_LOCK_DEVICE_OPTIONS): every attempt, allowed or
// refused, is then a signed security event.

import { defineDoor, t } from "gatehouse/sdk";

/** The most access codes a lock holds (fixed, so the stored list stays small: 2 + 8 x 32 bytes). */
export const MAX_CODES = 8;

/** An access code: 4 to 12 digits (a keypad's alphabet). */
export const ACCESS_CODE = t.string({ minLength: 4, maxLength: 12, pattern: "[0-9]+" });

/** The longest lockout a lock may be configured for, in seconds (a day). */
export const MAX_LOCKOUT_SECONDS = 86_400;

export const lockDoor = defineDoor({
  name: "lock",
  description: "the door lock: a fail-secure bolt and a door contact",
  properties: {
    state: {
      type: t.record({ locked: t.bool(), doorClosed: t.bool(), lockedOutSeconds: t.int({ min: 0, max: MAX_LOCKOUT_SECONDS }) }),
      read: "view",
      description: "whether the bolt is thrown, whether the door is closed, and how long unlocking stays locked out",
    },
    codes: {
      type: t.int({ min: 0, max: MAX_CODES }),
      read: "view",
      description: "how many access codes are set (the codes themselves never leave the device)",
    },
  },
  actions: {
    unlock: {
      input: t.record({ code: ACCESS_CODE }),
      output: t.none(),
      role: "operate",
      description: "retracts the bolt; it is thrown again once the door has been closed for a while (relock)",
    },
    lock: { input: t.none(), output: t.none(), role: "operate", description: "throws the bolt; refused while the door is open" },
    rotateCodes: {
      input: t.record({ codes: t.array(ACCESS_CODE, { maxItems: MAX_CODES }) }),
      output: t.int({ min: 1, max: MAX_CODES }),
      role: "administer",
      description: "replaces every access code with 1 to 8 distinct new ones; returns how many are set",
    },
  },
  events: {
    changed: { data: t.record({ locked: t.bool(), doorClosed: t.bool() }), role: "view", description: "the bolt or the door changed" },
    lockout: {
      data: t.record({ seconds: t.int({ min: 1, max: MAX_LOCKOUT_SECONDS }), level: t.int({ min: 1, max: 64 }) }),
      role: "view",
      description: "too many wrong codes: unlocking is refused for `seconds` (level: consecutive lockouts)",
    },
  },
});
