// The smart lock's hardware: a lock actuator on a Digital output and a door contact on a Digital input.
// Device code: ECMA-419 IO only.
//
//   const actuator = new LockActuator({ io: provider.io.Digital, pin: provider.pin.lock });
//   const contact = new DoorContact({ io: provider.io.Digital, pin: provider.pin.doorContact });
//
// The actuator is FAIL-SECURE: energising it retracts the bolt, a spring throws it. So a power cut, a
// crash or a reboot leaves the door locked, and the driver locks (de-energises) when it opens and closes.
// A fail-safe lock (energise to lock, as fire codes require on some escape routes) is a different
// product: wire it through an inverting stage or set `activeLow`, and think about what a reboot does.
//
// The door contact is a reed switch to ground read with the internal pull-up: the magnet on the door
// closes it, so the pin reads 0 while the door is closed and 1 while it is open (or the wire is cut,
// which is also "not closed"). Use a pin that has a pull-up (not GPIO 34-39 on the classic ESP32).

import type { DigitalClass, DigitalIO } from "../provider";

export interface LockActuatorOptions {
  /** The host provider's Digital class (`provider.io.Digital`). */
  io: DigitalClass;
  pin: number;
  /** The driver stage energises the actuator on a low level. Default false. */
  activeLow?: boolean;
}

export class LockActuator {
  private readonly output: DigitalIO;
  private readonly activeLow: boolean;
  private isLocked = true;

  constructor(options: LockActuatorOptions) {
    this.activeLow = options.activeLow === true;
    this.output = new options.io({ pin: options.pin, mode: options.io.Output });
    this.lock();
  }

  /** Whether the bolt was last driven out (a lock without a bolt sensor knows only what it drove). */
  get locked(): boolean {
    return this.isLocked;
  }

  /** De-energises the actuator: the spring throws the bolt. */
  lock(): void {
    this.drive(false);
    this.isLocked = true;
  }

  /** Energises the actuator: the bolt retracts. */
  unlock(): void {
    this.drive(true);
    this.isLocked = false;
  }

  close(): void {
    this.lock();
    this.output.close();
  }

  private drive(energised: boolean): void {
    this.output.write(energised !== this.activeLow ? 1 : 0);
  }
}

export interface DoorContactOptions {
  /** The host provider's Digital class (`provider.io.Digital`). */
  io: DigitalClass;
  pin: number;
}

export class DoorContact {
  private readonly input: DigitalIO;

  constructor(options: DoorContactOptions) {
    this.input = new options.io({ pin: options.pin, mode: options.io.InputPullUp });
  }

  /** Whether the door is closed (the reed switch pulls the pin low). */
  closed(): boolean {
    return this.input.read() === 0;
  }

  close(): void {
    this.input.close();
  }
}
