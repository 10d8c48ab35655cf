// The Node side of the device suite: builds the test apps with Moddable's mcconfig for lin, runs them
// headless in its simulator (xvfb-run mcsim), and reads what they report. See test/device/app/report.ts
// for the app side: parameters in through environment variables, results out as "@@gatehouse {json}"
// trace lines, exit status from libc exit().
//
// Builds go to build/device (gitignored), instrumented (-i) so that the ESP32-shaped app can report its
// memory; every app built there shares the one XS library compiled into it. mcconfig runs the TypeScript
// compiler it finds on PATH: the project's, first.

import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const BUILD_DIR = join(repoRoot, "build", "device");
export const REPORT_PREFIX = "@@gatehouse ";
/** Bytes of an XS slot on lin (64-bit); on an ESP32 a slot takes 16. */
export const SLOT_BYTES = 32;

export type Report = Record<string, unknown> & { kind: string };

/** $MODDABLE, checked; the message tells a developer what to do. */
export function moddableSdk(): string {
  const sdk = process.env.MODDABLE;
  const hint = "install the Moddable SDK (https://github.com/Moddable-OpenSource/moddable, its Linux getting-started guide) and set MODDABLE to its folder";
  if (!sdk) throw new Error(`MODDABLE is not set: the device suite builds and runs apps with the Moddable SDK; ${hint}`);
  for (const tool of ["mcconfig", "mcsim"]) {
    if (!existsSync(join(sdk, "build/bin/lin/release", tool))) throw new Error(`MODDABLE=${sdk} has no build/bin/lin/release/${tool}: build its lin tools and simulator first (${hint})`);
  }
  return sdk;
}

function run(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<{ code: number | null; output: string }> {
  return new Promise((done, failed) => {
    const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("error", failed);
    child.on("close", (code) => done({ code, output }));
  });
}

export interface BuiltApp {
  /** The build's name: its manifest's folder name (mcconfig names the build after it). */
  readonly name: string;
  /** This build's mc.so, copied out of mcconfig's output: a later build of the same app does not touch it. */
  readonly mcso: string;
  /** mcconfig's temporary folder for the app (its generated tsconfig files, manifest_flat.json). */
  readonly tmp: string;
  readonly buildMs: number;
}

const builds = new Map<string, Promise<BuiltApp>>();

/**
 * Builds the app whose manifest is in `folder` (from the repository root, or absolute) for lin,
 * instrumented, with `config` as mcconfig key=value pairs; once per process for the same folder, manifest
 * and config. Every app shares build/device, so XS itself is compiled once, and a rebuild of an app
 * compiles only what changed (a new config: only mc/config). `$(GATEHOUSE)` in a manifest names this
 * repository. Fails with mcconfig's own errors.
 */
export function buildApp(folder: string, config: Readonly<Record<string, string>> = {}, options: { manifest?: string } = {}): Promise<BuiltApp> {
  const key = `${folder} ${options.manifest ?? "manifest.json"} ${JSON.stringify(config)}`;
  let build = builds.get(key);
  if (!build) {
    // One mcconfig at a time: builds of one app share its temporary folder.
    const previous = [...builds.values()].at(-1)?.catch(() => undefined);
    build = (async () => {
      await previous;
      const sdk = moddableSdk();
      mkdirSync(BUILD_DIR, { recursive: true });
      const started = performance.now();
      const env = {
        ...process.env,
        MODDABLE: sdk,
        GATEHOUSE: repoRoot,
        PATH: [join(repoRoot, "node_modules/.bin"), join(sdk, "build/bin/lin/release"), process.env.PATH].join(":"),
      };
      const name = basename(folder);
      const args = ["-m", "-i", "-p", "lin", "-t", "build", "-o", BUILD_DIR, ...Object.entries(config).map(([k, v]) => `${k}=${v}`), ...(options.manifest ? [options.manifest] : [])];
      const { code, output } = await run(join(sdk, "build/bin/lin/release/mcconfig"), args, { cwd: resolve(repoRoot, folder), env });
      const built = join(BUILD_DIR, "bin/lin/mc/instrument", name, "mc.so");
      if (code !== 0 || !existsSync(built)) {
        const errors = output.split("\n").filter((line) => /error|Error|failure|not found/.test(line));
        throw new Error(`mcconfig failed for ${folder} (exit ${code}):\n${(errors.length ? errors : output.split("\n").slice(-30)).join("\n")}`);
      }
      // Copied under a name of its own per config, and replaced by a rename: an app still running from an
      // earlier copy keeps the file it mapped.
      const copy = join(BUILD_DIR, "apps", `${name}-${createHash("sha256").update(key).digest("hex").slice(0, 12)}`);
      mkdirSync(copy, { recursive: true });
      copyFileSync(built, join(copy, "mc.so.new"));
      renameSync(join(copy, "mc.so.new"), join(copy, "mc.so"));
      return { name, mcso: join(copy, "mc.so"), tmp: join(BUILD_DIR, "tmp/lin/mc/instrument", name), buildMs: performance.now() - started };
    })();
    builds.set(key, build);
  }
  return build;
}

export interface AppExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
}

/** A running app: what it has reported so far, its other output, and its end. */
export class RunningApp {
  readonly reports: Report[] = [];
  /** Every stdout line that is not a report (trace output, XS errors such as "memory full"). */
  readonly output: string[] = [];
  readonly exited: Promise<AppExit>;
  private readonly child: ChildProcess;
  private waiters: Array<() => void> = [];
  private ended: AppExit | undefined;

  constructor(mcso: string, env: Record<string, string>, options: { cwd: string; timeoutMs: number }) {
    const sdk = moddableSdk();
    mkdirSync(options.cwd, { recursive: true });
    // Its own process group: xvfb-run starts Xvfb and mcsim beneath it, and a timeout ends all three.
    this.child = spawn("xvfb-run", ["-a", "stdbuf", "-o0", join(sdk, "build/bin/lin/release/mcsim"), mcso], {
      cwd: options.cwd,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const lines = createInterface({ input: this.child.stdout! });
    lines.on("line", (line) => {
      if (line.startsWith(REPORT_PREFIX)) {
        try {
          this.reports.push(JSON.parse(line.slice(REPORT_PREFIX.length)) as Report);
        } catch {
          this.output.push(line);
        }
      } else this.output.push(line);
      this.wake();
    });
    this.child.stderr!.on("data", (d) => this.output.push(...String(d).split("\n").filter(Boolean)));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.kill();
    }, options.timeoutMs);
    this.exited = new Promise((done) => {
      this.child.on("close", (code, signal) => {
        clearTimeout(timer);
        this.ended = { code, signal, timedOut };
        this.wake();
        done(this.ended);
      });
    });
  }

  /** Waits for the first report matching `match` (from the start of the run), or fails naming `what`. */
  async waitFor(what: string, match: (r: Report) => boolean, ms = 30_000): Promise<Report> {
    const deadline = Date.now() + ms;
    for (let seen = 0; ; ) {
      for (; seen < this.reports.length; seen++) if (match(this.reports[seen])) return this.reports[seen];
      if (this.ended) throw new Error(`the app ended (exit ${this.ended.code}${this.ended.timedOut ? ", timed out" : ""}) before ${what}; its output:\n${this.output.slice(-20).join("\n")}`);
      if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}; app output:\n${this.output.slice(-20).join("\n")}`);
      await new Promise<void>((wake) => {
        const timer = setTimeout(wake, 200);
        this.waiters.push(() => {
          clearTimeout(timer);
          wake();
        });
      });
    }
  }

  /**
   * One column of the simulator's "instruments:" lines, which an instrumented build prints every second
   * (the names are on its "instruments key:" line, e.g. "Stack used", "Chunk used", "Slot used").
   */
  instrument(name: string): number[] {
    const key = this.output.find((line) => line.startsWith("instruments key: "));
    const column = key?.slice("instruments key: ".length).split(",").indexOf(name) ?? -1;
    if (column < 0) return [];
    return this.output.filter((line) => line.startsWith("instruments: ")).map((line) => Number(line.slice("instruments: ".length).split(",")[column]));
  }

  /**
   * The deepest the XS stack has been, in slots (32 bytes each on lin): the highest "Stack used" of the
   * per-second lines, each the peak of its second (Moddable resets the peak after printing it).
   */
  stackPeakSlots(): number {
    return Math.max(0, ...this.instrument("Stack used")) / SLOT_BYTES;
  }

  kill(): void {
    try {
      if (this.child.pid !== undefined) process.kill(-this.child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** A fresh working folder for one device: the app's preference file (config.file.root "./") lives there. */
export function deviceFolder(name: string, options: { fresh: boolean }): string {
  const dir = join(BUILD_DIR, "devices", name);
  if (options.fresh) rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Runs an app to its end. */
export async function runApp(mcso: string, env: Record<string, string>, options: { cwd: string; timeoutMs: number }): Promise<{ reports: Report[]; output: string[]; exit: AppExit }> {
  const app = new RunningApp(mcso, env, options);
  const exit = await app.exited;
  return { reports: app.reports, output: app.output, exit };
}

/** Every variable an app may read, empty unless given (getenv of an unset variable would be NULL). */
export function appEnv(values: Partial<Record<"GATEHOUSE_MODE" | "GATEHOUSE_BROKER_PORT" | "GATEHOUSE_DEVICE_KEY" | "GATEHOUSE_TRUST" | "GATEHOUSE_CLIENT_ID" | "GATEHOUSE_RUN" | "GATEHOUSE_BROKER_HOST" | "GATEHOUSE_BROKER_CA" | "GATEHOUSE_BROKER_USER" | "GATEHOUSE_BROKER_PASSWORD", string>>): Record<string, string> {
  return {
    GATEHOUSE_MODE: "",
    GATEHOUSE_BROKER_PORT: "",
    GATEHOUSE_DEVICE_KEY: "",
    GATEHOUSE_TRUST: "",
    GATEHOUSE_CLIENT_ID: "",
    GATEHOUSE_RUN: "",
    ...values,
  };
}
