// A relay module on a Digital output (the thermostat's heater). Device code: ECMA-419 IO only.
//
//   const heater = new Relay({ io: provider.io.Digital, pin: provider.pin.heater });
//   heater.set(true);
//
// The relay is switched off when it opens and when it closes: a known, safe state at boot and at the end.

import type { DigitalClass, DigitalIO } from "../provider";

export interface RelayOptions {
  /** The host provider's Digital class (`provider.io.Digital`). */
  io: DigitalClass;
  pin: number;
  /** The module switches on with a low level (common for opto-isolated relay boards). Default false. */
  activeLow?: boolean;
}

export class Relay {
  private readonly output: DigitalIO;
  private readonly activeLow: boolean;
  private state = false;

  constructor(options: RelayOptions) {
    this.activeLow = options.activeLow === true;
    this.output = new options.io({ pin: options.pin, mode: options.io.Output });
    this.set(false);
  }

  /** Whether the relay is on (as last switched: a relay has no feedback line). */
  get on(): boolean {
    return this.state;
  }

  set(on: boolean): void {
    this.output.write(on !== this.activeLow ? 1 : 0);
    this.state = on;
  }

  close(): void {
    this.set(false);
    this.output.close();
  }
}
