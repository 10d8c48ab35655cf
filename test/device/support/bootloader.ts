// A bootloader for an app on Moddable's lin simulator that updates itself (ports/moddable/update-lin):
// the update port keeps two slot files and a boot record (sdk/update/file-port.ts) in the device's slot
// folder, and the "image" in a slot is an app's mc.so. When the app ends with the restart status, or
// crashes (any other status: a watchdog would reset it), this reads boot.cbor and starts mcsim on the mc.so
// of the slot it boots, as a bootloader does at reset: a slot still "pending" there never confirmed, so the
// other slot boots (the app's own port records that rollback when it starts). Slot 0 holds the factory
// build, copied there at the start. Ending it (stop) kills the running app and boots nothing more.

import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { decode } from "../../../sdk/cbor/decode";
import type { CborMap } from "../../../sdk/cbor/types";
import { BOOT_RECORD_FILE, SLOT_FILES } from "../../../sdk/update/file-port";
import { RunningApp } from "./moddable";

/** ports/moddable/update-lin/port.ts RESTART_STATUS: the app asks to be restarted. */
export const RESTART_STATUS = 75;

export interface Boot {
  readonly slot: number;
  readonly app: RunningApp;
  /** Why the previous run ended: its exit status (undefined for the first boot). */
  readonly after?: number | null;
}

export class LinBootloader {
  readonly boots: Boot[] = [];
  private stopped = false;

  /**
   * `folder` is the device's working folder (its Preference file); the slot folder is `slotDir` inside it
   * (the app's updatedir; "gh-update/" under config.file.root "./" by default).
   */
  constructor(
    private readonly folder: string,
    private readonly factory: string,
    private readonly env: Record<string, string>,
    private readonly options: { slotDir?: string; timeoutMs: number; onBoot?: (boot: Boot) => void },
  ) {}

  get slotDir(): string {
    return join(this.folder, this.options.slotDir ?? "gh-update");
  }

  get current(): Boot {
    const boot = this.boots.at(-1);
    if (!boot) throw new Error("not booted");
    return boot;
  }

  /** Puts the factory build in slot 0 and boots. */
  start(): RunningApp {
    mkdirSync(this.slotDir, { recursive: true });
    copyFileSync(this.factory, join(this.slotDir, SLOT_FILES[0]));
    return this.boot(undefined);
  }

  /** Waits until the `n`th boot (counting from 1) has started. */
  async booted(n: number, ms: number): Promise<Boot> {
    const deadline = Date.now() + ms;
    while (this.boots.length < n) {
      if (this.stopped) throw new Error(`the bootloader stopped after ${this.boots.length} boots`);
      if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for boot ${n}; ${this.boots.length} so far; last output:\n${this.current.app.output.slice(-20).join("\n")}`);
      await new Promise((wake) => setTimeout(wake, 100));
    }
    return this.boots[n - 1];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const app = this.boots.at(-1)?.app;
    app?.kill();
    await app?.exited;
  }

  /** The slot the boot record boots (0 when there is none yet). */
  bootSlot(): number {
    const path = join(this.slotDir, BOOT_RECORD_FILE);
    if (!existsSync(path)) return 0;
    const record = decode(new Uint8Array(readFileSync(path)), { maxLength: 256, maxDepth: 3, maxItems: 16 }) as CborMap;
    const slot = record.get("boot") as number;
    const states = record.get("states") as string[];
    return states[slot] === "pending" ? 1 - slot : slot;
  }

  private boot(after: number | null | undefined): RunningApp {
    const slot = this.bootSlot();
    const image = join(this.folder, `boot-${this.boots.length + 1}.so`);
    copyFileSync(join(this.slotDir, SLOT_FILES[slot]), image);
    const app = new RunningApp(image, this.env, { cwd: this.folder, timeoutMs: this.options.timeoutMs });
    const boot: Boot = { slot, app, after };
    this.boots.push(boot);
    this.options.onBoot?.(boot);
    void app.exited.then((exit) => {
      // Killed (by stop, a test or its timeout): not a reset.
      if (this.stopped || exit.signal !== null || exit.timedOut) return;
      this.boot(exit.code);
    });
    return app;
  }
}
