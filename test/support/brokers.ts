// Brokers for tests, each on a loopback port of its own (never a fixed port, so test files can run in
// parallel):
// - startMosquitto(): a real mosquitto process (Debian's package; .ci/run installs it) with a config file
//   and persistence directory in a fresh temp dir. Persistence is on, so retained messages, persistent
//   sessions (clean session false: subscriptions and queued QoS 1 messages) survive restart(), which stops
//   the broker with SIGTERM (mosquitto saves its database on a clean exit) and starts it again on the same
//   port. restart({ signal: "SIGKILL" }) simulates a crash instead: only what the last autosave wrote
//   survives (mosquitto autosaves once more than `autosaveIntervalSeconds` whole seconds have passed since
//   the last save: with the default 1, what is older than about 2 s).
//   With `allowAnonymous: false` and `extraConfig` from host/broker/mosquitto.ts (the lines `gatehouse
//   broker-config` writes) it enforces a fleet's broker identities; `listeners` adds listeners of its own
//   (TLS ones, say) on free ports, and reload() sends SIGHUP (mosquitto reads its password file, ACL file and
//   revocation list again) and waits until it has.
//   Each mosquitto has a watchdog (a `sh` reading a pipe from this process): if the test process dies
//   without stopping it (ava timeout, SIGKILL), the pipe closes and the watchdog kills the broker.
// - startAedes(): aedes in this process (in-memory persistence; nothing survives stop()).
// - freePort(): a port that was free a moment ago (bind 127.0.0.1:0, read it, close).

import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants as fsConstants, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect as netConnect, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../host/sim/broker";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------------------
// mosquitto

export interface MosquittoOptions {
  /** Seconds between autosaves of the persistence database (default 1); 0: only on a clean exit. */
  autosaveIntervalSeconds?: number;
  /** More mosquitto.conf lines. */
  extraConfig?: readonly string[];
  /** Milliseconds to wait for the broker to accept connections (default 5000). */
  startTimeoutMs?: number;
  /** Let clients in without a username (default true). */
  allowAnonymous?: boolean;
  /** More listeners, each on a free loopback port of its own, with its lines (certfile, ...). */
  listeners?: readonly (readonly string[])[];
  /** Lines for every listener, the main one too (use_username_as_clientid, ...). */
  everyListener?: readonly string[];
}

export interface MosquittoBroker {
  readonly url: string;
  readonly port: number;
  /** The temp dir holding mosquitto.conf and mosquitto.db. */
  readonly dir: string;
  /** The ports of `listeners`, in order. */
  readonly listenerPorts: readonly number[];
  /** The broker's log (stderr) since start, at most the last 64 KiB. */
  log(): string;
  /** SIGHUP: mosquitto reloads its configuration's files; resolves once its log says it has. */
  reload(): Promise<void>;
  /** Stops the broker and removes its temp dir. */
  stop(): Promise<void>;
  /** Stops the broker (SIGTERM by default: a clean exit that saves the database) and starts it again on the same port. */
  restart(options?: { signal?: NodeJS.Signals }): Promise<void>;
}

const LOG_LIMIT = 64 * 1024;
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function findMosquitto(): string {
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), "/usr/sbin", "/usr/local/sbin", "/sbin"];
  for (const dir of dirs) {
    const candidate = join(dir, "mosquitto");
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error("mosquitto is not installed (looked in PATH and /usr/sbin). .ci/run installs it (apt-get install -y mosquitto).");
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export async function startMosquitto(options: MosquittoOptions = {}): Promise<MosquittoBroker> {
  const binary = findMosquitto();
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-mosquitto-"));
  const confPath = join(dir, "mosquitto.conf");
  const startTimeout = options.startTimeoutMs ?? 5000;
  let log = "";
  let child: ChildProcess | undefined;
  let port = 0;
  let listenerPorts: number[] = [];

  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A test process that dies must not leave brokers behind.
    process.once("exit", () => {
      for (const c of running) c.kill("SIGKILL");
    });
  }

  const writeConfig = () => {
    const lines = [
      `allow_anonymous ${options.allowAnonymous === false ? "false" : "true"}`,
      "persistence true",
      `persistence_location ${dir}/`,
      `autosave_interval ${options.autosaveIntervalSeconds ?? 1}`,
      "log_dest stderr",
      "log_type error",
      "log_type warning",
      "log_type notice",
      "log_type information",
      "max_queued_messages 1000",
      // Without it mosquitto waits for Nagle on every small packet: about 44 ms per command round trip.
      "set_tcp_nodelay true",
      // As root, mosquitto would switch to the "mosquitto" user, which cannot write our temp dir.
      ...(process.getuid?.() === 0 ? ["user root"] : []),
      ...(options.extraConfig ?? []),
      // Listeners last: the lines after a listener line are that listener's.
      `listener ${port} 127.0.0.1`,
      ...(options.everyListener ?? []),
      ...(options.listeners ?? []).flatMap((lines, i) => [`listener ${listenerPorts[i]} 127.0.0.1`, ...(options.everyListener ?? []), ...lines]),
    ];
    writeFileSync(confPath, lines.join("\n") + "\n");
  };

  const spawnOnce = async (): Promise<void> => {
    const proc = spawn(binary, ["-c", confPath], { stdio: ["ignore", "ignore", "pipe"] });
    child = proc;
    running.add(proc);
    const watchdog = proc.pid === undefined ? undefined : spawn("sh", ["-c", 'read _ ; kill -9 "$0" 2>/dev/null', String(proc.pid)], { stdio: ["pipe", "ignore", "ignore"] });
    if (watchdog) {
      watchdog.on("error", () => {});
      watchdog.stdin?.on("error", () => {});
      watchdog.unref();
      (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    }
    proc.once("exit", () => {
      running.delete(proc);
      watchdog?.kill("SIGKILL"); // before the pid can be reused
    });
    proc.once("error", (e) => {
      log += `\n[spawn error] ${e.message}\n`;
    });
    proc.stderr?.setEncoding("utf8");
    proc.stderr?.on("data", (text: string) => {
      log += text;
      if (log.length > LOG_LIMIT) log = log.slice(-LOG_LIMIT);
    });
    const deadline = Date.now() + startTimeout;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) break;
      if ((await canConnect(port)) && (await Promise.all(listenerPorts.map(canConnect))).every(Boolean)) return;
      await sleep(20);
    }
    proc.kill("SIGKILL");
    await waitExit(proc, 2000);
    throw new Error(`mosquitto did not start on port ${port}:\n${log}`);
  };

  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc) return;
    proc.kill(signal);
    if (!(await waitExit(proc, 5000))) {
      proc.kill("SIGKILL");
      await waitExit(proc, 2000);
    }
  };

  // The port can be taken between freePort() and mosquitto's bind: try a few.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    listenerPorts = await Promise.all((options.listeners ?? []).map(() => freePort()));
    writeConfig();
    try {
      await spawnOnce();
      break;
    } catch (e) {
      if (attempt >= 3) {
        rmSync(dir, { recursive: true, force: true });
        throw e;
      }
    }
  }

  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    listenerPorts,
    dir,
    log: () => log,
    async reload() {
      const before = log.split("Reloading config.").length;
      child?.kill("SIGHUP");
      const deadline = Date.now() + 10_000;
      while (log.split("Reloading config.").length === before) {
        if (Date.now() > deadline) throw new Error(`mosquitto did not reload within 10 s:\n${log.slice(-2000)}`);
        await sleep(20);
      }
    },
    async stop() {
      await halt("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
    async restart(restartOptions = {}) {
      await halt(restartOptions.signal ?? "SIGTERM");
      await spawnOnce();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// aedes

export type AedesBroker = EmbeddedBroker;

/** aedes in this process, on a free loopback port: the same embedded broker the demo runs. */
export function startAedes(): Promise<AedesBroker> {
  return startEmbeddedBroker();
}
