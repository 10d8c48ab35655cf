// The Node side of the device suite: builds the test apps with Moddable's mcconfig for lin, runs them
// headless in its simulator (xvfb-run mcsim), and reads what they report. See test/device/app/report.ts
// for the app side: parameters in through environment variables, results out as "@@gatehouse {json}"
// trace lines, exit status from libc exit().
//
// Builds go to build/device (gitignored), instrumented (-i) so that the ESP32-shaped app can report its
// memory; every app built there shares the one XS library compiled into it. mcconfig runs the TypeScript
// compiler it finds on PATH: the project's, first.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const BUILD_DIR = join(repoRoot, "build", "device");
export const REPORT_PREFIX = "@@gatehouse ";

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
  readonly name: string;
  readonly mcso: string;
  readonly buildMs: number;
}

const builds = new Map<string, Promise<BuiltApp>>();

export interface BuildOptions {
  /** The app's folder (default test/device/<name>); its name must be `name`. */
  readonly dir?: string;
  /** The manifest in it (default manifest.json). */
  readonly manifest?: string;
  /** Config values, as `mcconfig ... name=value` sets them. */
  readonly config?: Readonly<Record<string, string>>;
}

/**
 * Builds test/device/<name> (its manifest.json), or the app in `options.dir`, for lin, once per process
 * and config. Fails with mcconfig's own errors. `$(GATEHOUSE)` in a manifest names this repository.
 */
export function buildApp(name: string, options: BuildOptions = {}): Promise<BuiltApp> {
  const config = Object.entries(options.config ?? {}).map(([key, value]) => `${key}=${value}`);
  const cacheKey = [name, ...config].join(" ");
  let build = builds.get(cacheKey);
  if (!build) {
    build = (async () => {
      const sdk = moddableSdk();
      mkdirSync(BUILD_DIR, { recursive: true });
      const started = performance.now();
      const env = {
        ...process.env,
        MODDABLE: sdk,
        GATEHOUSE: repoRoot,
        PATH: [join(repoRoot, "node_modules/.bin"), join(sdk, "build/bin/lin/release"), process.env.PATH].join(":"),
      };
      const args = ["-m", "-i", "-p", "lin", "-t", "build", "-o", BUILD_DIR, ...config, ...(options.manifest ? [options.manifest] : [])];
      const { code, output } = await run(join(sdk, "build/bin/lin/release/mcconfig"), args, {
        cwd: options.dir ?? join(repoRoot, "test/device", name),
        env,
      });
      const mcso = join(BUILD_DIR, "bin/lin/mc/instrument", name, "mc.so");
      if (code !== 0 || !existsSync(mcso)) {
        const errors = output.split("\n").filter((line) => /error|Error|failure|not found/.test(line));
        throw new Error(`mcconfig failed for test/device/${name} (exit ${code}):\n${(errors.length ? errors : output.split("\n").slice(-30)).join("\n")}`);
      }
      return { name, mcso, buildMs: performance.now() - started };
    })();
    builds.set(cacheKey, build);
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
export function appEnv(values: Partial<Record<"GATEHOUSE_MODE" | "GATEHOUSE_BROKER_PORT" | "GATEHOUSE_DEVICE_KEY" | "GATEHOUSE_TRUST" | "GATEHOUSE_CLIENT_ID" | "GATEHOUSE_RUN", string>>): Record<string, string> {
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
