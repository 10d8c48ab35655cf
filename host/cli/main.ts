// The `gatehouse` command line: a registry of commands, help, and the one error format.
//
// To add a command, write host/cli/commands/<name>.ts exporting the Command fields (name, summary,
// usage, run; see util.ts) and add ONE line to COMMANDS below. Modules load only when needed: running
// a command loads that module alone; `gatehouse --help` loads them all for their summaries, so keep
// heavy imports (broker, database, MQTT) inside run() as `await import(...)`.
//
// Exit codes: 0 success, 1 failure, 2 usage error. Failures print exactly one line on standard error,
//   gatehouse <command>: error <code>: <message>
// where <code> is the stable GatehouseError code, or "internal" for anything else (a bug). No stack
// traces, unless GATEHOUSE_DEBUG is set.

import { GatehouseError } from "../../sdk/errors";
import { bold, red, type Command } from "./util";

export type { Command } from "./util";

/** name -> loader. The key is the command's name; one line per command. */
export const COMMANDS: Record<string, () => Promise<Command>> = {
  keygen: () => import("./commands/keygen"),
  sign: () => import("./commands/sign"),
  verify: () => import("./commands/verify"),
  inspect: () => import("./commands/inspect"),
  provision: () => import("./commands/provision"),
  ca: () => import("./commands/ca"),
  "broker-config": () => import("./commands/broker-config"),
  sim: () => import("./commands/sim"),
  server: () => import("./commands/server"),
  send: () => import("./commands/send"),
  events: () => import("./commands/events"),
  demo: () => import("./commands/demo"),
  update: () => import("./commands/update"),
  patch: () => import("./commands/patch"),
  webhook: () => import("./commands/webhook"),
  user: () => import("./commands/user"),
  token: () => import("./commands/token"),
};

const HELP_FLAGS = new Set(["--help", "-h"]);

export async function loadCommand(name: string): Promise<Command> {
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (load === undefined) throw new GatehouseError("usage", `unknown command ${JSON.stringify(name)} (see 'gatehouse --help')`);
  const command = await load();
  if (command.name !== name) throw new GatehouseError("internal", `command module for ${name} calls itself ${command.name}`);
  return command;
}

async function overview(): Promise<string> {
  const commands = await Promise.all(Object.keys(COMMANDS).map(loadCommand));
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${bold(c.name.padEnd(width))}  ${c.summary}`);
  return [
    "Usage: gatehouse <command> [options]",
    "",
    "Commands:",
    ...lines,
    "",
    "Run 'gatehouse <command> --help' for a command's options.",
    "Exit status: 0 success, 1 failure, 2 usage error. Errors are one line on standard error:",
    "  gatehouse <command>: error <code>: <message>",
    "",
  ].join("\n");
}

/** True when argv asks for help (before a `--`, after which everything is an operand). */
function wantsHelp(argv: string[]): boolean {
  for (const arg of argv) {
    if (arg === "--") return false;
    if (HELP_FLAGS.has(arg)) return true;
  }
  return false;
}

/** Runs the CLI; resolves to the exit code. Never throws. */
export async function main(argv: string[]): Promise<number> {
  let commandName: string | undefined;
  try {
    const [first, ...rest] = argv;
    if (first === undefined) throw new GatehouseError("usage", "no command given (see 'gatehouse --help')");
    if (HELP_FLAGS.has(first) || (first === "help" && (rest.length === 0 || HELP_FLAGS.has(rest[0])))) {
      process.stdout.write(await overview());
      return 0;
    }
    if (first === "help") {
      if (rest.length > 1) throw new GatehouseError("usage", "help takes at most one command name");
      const command = await loadCommand(rest[0]);
      process.stdout.write(helpText(command));
      return 0;
    }
    if (first.startsWith("-")) throw new GatehouseError("usage", `unknown option ${first} (commands come first; see 'gatehouse --help')`);
    const command = await loadCommand(first);
    commandName = command.name;
    if (wantsHelp(rest)) {
      process.stdout.write(helpText(command));
      return 0;
    }
    return await command.run(rest);
  } catch (e) {
    return reportError(commandName, e);
  }
}

function helpText(command: Command): string {
  return command.usage.endsWith("\n") ? command.usage : command.usage + "\n";
}

/** Prints the one error line and returns the exit code for it. */
export function reportError(commandName: string | undefined, e: unknown): number {
  const code = e instanceof GatehouseError ? e.code : "internal";
  const raw = e instanceof Error ? e.message : String(e);
  const message = raw.replace(/\s*[\r\n]+\s*/g, " ").trim() || "(no message)";
  const who = commandName === undefined ? "gatehouse" : `gatehouse ${commandName}`;
  process.stderr.write(`${who}: ${red("error", process.stderr)} ${code}: ${message}\n`);
  if (process.env.GATEHOUSE_DEBUG && e instanceof Error && e.stack) process.stderr.write(e.stack + "\n");
  return code === "usage" ? 2 : 1;
}

/**
 * The process entry point (bin/gatehouse.js): runs main and sets the exit code, and turns errors that
 * escape later (a socket error after run() returned, say) into the same one line.
 */
export async function runCli(argv: string[]): Promise<void> {
  const commandName = argv[0] !== undefined && Object.hasOwn(COMMANDS, argv[0]) ? argv[0] : undefined;
  const late = (e: unknown): void => {
    process.exitCode = reportError(commandName, e);
    process.exit();
  };
  process.on("uncaughtException", late);
  process.on("unhandledRejection", late);
  // Output piped into something that stopped reading (`| head`) is not an error worth a line.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (e: NodeJS.ErrnoException) => (e.code === "EPIPE" ? process.exit() : late(e)));
  }
  process.exitCode = await main(argv);
}
