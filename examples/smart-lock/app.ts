// The smart lock application: one door (doors.ts) over a fail-secure lock actuator and a door contact.
// Device code (runs on XS): hardware only through the board it is given (its `lock` and `doorContact`
// pins), time only through the ClockPort and TimerPort, persistence only through the StoragePort.
//
//   const lock = installSmartLock({ device, provider: board, clock, timers, crypto, storage });
//
// Build the lock's Device with SMART_LOCK_DEVICE_OPTIONS (recordAllowed): then every attempt on the door,
// allowed or refused, leaves the device as a signed security event, and so does each lockout (the attempt
// that starts it is refused with code `lockout`). A lockout is also published as a `lockout` telemetry
// event, which the security events' rate limit cannot hold back.
//
// A poll loop (every `pollMs`) watches the door contact, publishes `changed` when the door or the bolt
// changes, and throws the bolt again `relockAfterMs` after an unlock, as soon as the door is closed (through
// the door, like an operator: the relock is an allowed attempt by the local principal).

import { BoundedStorage, GatehouseError, type ClockPort, type CryptoPort, type Device, type LocalDoor, type StoragePort, type TimerHandle, type TimerPort } from "gatehouse/sdk";
import { DoorContact, LockActuator, type BoardProvider } from "gatehouse/boards";
import { AccessCodes } from "./codes";
import { lockDoor } from "./doors";
import { Lockout, type LockoutOptions } from "./lockout";

/** The Device options a smart lock needs: every allowed attempt is a security event too. */
export const SMART_LOCK_DEVICE_OPTIONS = { events: { recordAllowed: true } } as const;

export interface SmartLockOptions extends Pick<LockoutOptions, "maxAttempts" | "lockoutMs" | "maxLockoutMs"> {
  device: Device;
  /** The board: its `lock` and `doorContact` pins are used. */
  provider: BoardProvider;
  clock: ClockPort;
  timers: TimerPort;
  /** Hashes the access codes. */
  crypto: CryptoPort;
  /** Where the code hashes and the lockout counters live (keys "lock.codes", "lock.guard"). */
  storage: StoragePort;
  /** The actuator's driver stage energises on a low level (default false). */
  actuatorActiveLow?: boolean;
  /** Door contact poll period, ms (default 200). */
  pollMs?: number;
  /** The bolt is thrown again this long after an unlock, once the door is closed, ms (default 5000; 0: never). */
  relockAfterMs?: number;
  /** Told of what could not be done (stored codes unreadable, a relock or an event that failed). */
  onError?(error: unknown): void;
}

export interface SmartLock {
  /** Stops the poll loop (the door stays registered and answers). */
  stop(): void;
  /** One poll step, as the timer runs it. */
  poll(): void;
  readonly door: LocalDoor<typeof lockDoor>;
  readonly actuator: LockActuator;
  readonly contact: DoorContact;
}

export function installSmartLock(options: SmartLockOptions): SmartLock {
  const { device, provider, clock, timers } = options;
  const pollMs = options.pollMs ?? 200;
  const relockAfterMs = options.relockAfterMs ?? 5000;
  if (!(pollMs >= 10 && pollMs <= 60_000)) throw new GatehouseError("invalid-options", "pollMs must be from 10 to 60000");
  if (!(relockAfterMs >= 0 && relockAfterMs <= 3_600_000)) throw new GatehouseError("invalid-options", "relockAfterMs must be from 0 to 3600000");
  const storage = new BoundedStorage(options.storage);
  const lockout = new Lockout({ ...options, storage });
  const codes = new AccessCodes({ deviceId: device.id, crypto: options.crypto, storage, onError: options.onError });
  const actuator = new LockActuator({ io: provider.io.Digital, pin: provider.pin.lock, activeLow: options.actuatorActiveLow });
  const contact = new DoorContact({ io: provider.io.Digital, pin: provider.pin.doorContact });

  /** Monotonic ms from which the bolt may be thrown again; undefined while locked or when relock is off. */
  let relockAt: number | undefined;
  let reported = { locked: actuator.locked, doorClosed: contact.closed() };
  let timer: TimerHandle | undefined;
  let stopped = false;

  const door = device.register(lockDoor, {
    read: {
      state: () => ({ locked: actuator.locked, doorClosed: contact.closed(), lockedOutSeconds: Math.ceil(lockout.remainingMs() / 1000) }),
      codes: () => codes.count,
    },
    write: {},
    invoke: {
      unlock: ({ code }) => {
        lockout.check();
        if (codes.count === 0) throw new GatehouseError("no-codes", "no access codes are set: an administrator must rotate them in first");
        if (!codes.matches(code)) {
          const outcome = lockout.wrongCode();
          if (!outcome.lockout) throw new GatehouseError("wrong-code", `wrong code (${outcome.remaining} more before a lockout)`);
          const seconds = Math.ceil(outcome.ms / 1000);
          publish(() => door.emit("lockout", { seconds, level: outcome.level }));
          throw new GatehouseError("lockout", `wrong code, ${lockout.maxAttempts} in a row: unlocking is locked out for ${seconds} s`);
        }
        lockout.rightCode();
        actuator.unlock();
        relockAt = relockAfterMs > 0 ? clock.monotonic() + relockAfterMs : undefined;
        report();
      },
      lock: () => {
        // A bolt thrown into an open door secures nothing, and on most doors stops them closing.
        if (!contact.closed()) throw new GatehouseError("door-open", "the door is open: close it before locking");
        actuator.lock();
        relockAt = undefined;
        report();
      },
      rotateCodes: ({ codes: next }) => codes.rotate(next),
    },
  });

  /** Publishes an event without letting a failure (a full queue, say) undo what the door just did. */
  function publish(emit: () => void): void {
    try {
      emit();
    } catch (e) {
      options.onError?.(e);
    }
  }

  function report(): void {
    const now = { locked: actuator.locked, doorClosed: contact.closed() };
    if (now.locked === reported.locked && now.doorClosed === reported.doorClosed) return;
    reported = now;
    publish(() => door.emit("changed", now));
  }

  function poll(): void {
    report(); // the door first: a door that closed and is then relocked is two changes, both reported
    if (relockAt !== undefined && clock.monotonic() >= relockAt && contact.closed()) {
      relockAt = undefined;
      try {
        door.invoke("lock");
      } catch (e) {
        options.onError?.(e);
      }
    }
  }

  function loop(): void {
    timer = undefined;
    if (stopped) return;
    try {
      poll();
    } catch (e) {
      options.onError?.(e);
    }
    if (!stopped) timer = timers.set(loop, pollMs);
  }

  timer = timers.set(loop, 0);

  return {
    stop() {
      stopped = true;
      if (timer !== undefined) timers.clear(timer);
      timer = undefined;
    },
    poll,
    door,
    actuator,
    contact,
  };
}
