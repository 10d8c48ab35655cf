// Helpers shared by the CLI commands: flag parsing with usage errors, reading and writing files with
// stable error codes, key files, hex, colour.
//
// Error codes raised here (besides the SDK's own):
//   usage      bad command line (exit 2)
//   key-file   a key file is missing, unreadable, not a COSE_Key, or not the kind of key needed
//   file       an input or output file cannot be read or written
//   too-large  an input is over MAX_INPUT_BYTES (counted as read: /dev/zero ends promptly too)
//   file-exists  an output file exists and --force was not given

import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { GatehouseError, fail } from "../../sdk/errors";
import type { ErrorCode } from "../../sdk/error-codes";
import { fromHex } from "../../sdk/bytes";
import { decodeKey, type CoseKey } from "../../sdk/cose/key";
import { nameTaken, readBoundedFd, readFileBounded, systemMessage, writeFileSafely } from "../files";
import type { ServerAccess } from "../client/http";

/** What every command module exports. Register it in COMMANDS in main.ts. */
export interface Command {
  /** The word after `gatehouse`. Must equal the command's key in the registry. */
  readonly name: string;
  /** One line for `gatehouse --help`. */
  readonly summary: string;
  /** The full help text, printed by `gatehouse <name> --help`. */
  readonly usage: string;
  /** Runs the command with the arguments after its name; resolves to the exit code. */
  run(argv: string[]): Promise<number>;
}

/** Largest file the CLI reads into memory. */
export const MAX_INPUT_BYTES = 16 * 1024 * 1024;

export function usageError(message: string): never {
  throw new GatehouseError("usage", message);
}

/**
 * node:util parseArgs in strict mode, with its errors turned into usage errors. `--help` never reaches
 * a command: main.ts answers it before the command runs.
 */
export function parseFlags<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs<T>({ ...config, strict: true });
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) usageError(firstSentence((e as Error).message));
    throw e;
  }
}

/** Node's parseArgs messages run to several sentences and lines; the first says what went wrong. */
function firstSentence(message: string): string {
  const line = message.split("\n")[0];
  const end = line.search(/\.(\s|$)/);
  return (end >= 0 ? line.slice(0, end) : line).trim();
}

/** A flag that must be present. */
export function required<V>(value: V | undefined, flag: string): V {
  if (value === undefined) usageError(`missing ${flag}`);
  return value;
}

/** Exactly `count` positional arguments (named in `names` for the message). */
export function positionals(values: string[], names: string[]): string[] {
  if (values.length < names.length) usageError(`missing ${names.slice(values.length).join(" ")}`);
  if (values.length > names.length) usageError(`unexpected argument ${JSON.stringify(values[names.length])}`);
  return values;
}

/** Hex for --aad and the like: either case, no separators; empty means no bytes. */
export function parseHex(text: string, flag: string): Uint8Array {
  const bytes = fromHex(text);
  if (bytes === undefined) usageError(`${flag} must be hex (an even number of 0-9 a-f digits)`);
  return bytes;
}

/**
 * Reads a whole file ("-" is standard input), refusing anything above MAX_INPUT_BYTES ("too-large"):
 * the bytes read are counted, so /dev/zero or an endless pipe ends promptly too.
 */
export function readInput(path: string, code: ErrorCode = "file"): Uint8Array {
  if (path !== "-") return readFileBounded(path, { maxBytes: MAX_INPUT_BYTES, code });
  try {
    return readBoundedFd(0, "standard input", MAX_INPUT_BYTES);
  } catch (e) {
    if (e instanceof GatehouseError) throw e;
    return fail(code, `cannot read standard input: ${systemMessage(e)}`);
  }
}

/**
 * Reads a COSE_Key file. `want: "private"` insists on the private part (signing); "public" takes
 * either kind and returns the key as read (a verifier only uses the public part).
 */
export function readKeyFile(path: string, want: "private" | "public"): CoseKey {
  const bytes = readInput(path, "key-file");
  let key: CoseKey;
  try {
    key = decodeKey(bytes);
  } catch (e) {
    const reason = e instanceof GatehouseError ? `${e.code}: ${e.message}` : String(e);
    return fail("key-file", `${path} is not a valid COSE_Key (${reason})`);
  }
  if (want === "private" && key.d === undefined) fail("key-file", `${path} is a public key; signing needs the private key (.key)`);
  return key;
}

export interface WriteOptions {
  /** Replace an existing file. Without it an existing file is an error (code file-exists). */
  force?: boolean;
  /** File mode for a new file, e.g. 0o600 for secrets. The file is always created fresh. */
  mode?: number;
}

/**
 * Writes `data` to `path`, creating parent folders. Without --force the file is created exclusively
 * (an existing file, or a symlink, is never touched). With --force the bytes go to a fresh temporary
 * file in the same folder that is renamed over the target (host/files.ts), so a reader never sees half
 * a file and `mode` holds even when the replaced file had wider permissions.
 */
export function writeOutput(path: string, data: Uint8Array, options: WriteOptions = {}): void {
  const existsMessage = `${path} already exists (use --force to replace it)`;
  if (!options.force && exists(path)) fail("file-exists", existsMessage);
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (e) {
    fail("file", `cannot write ${path}: ${systemMessage(e)}`);
  }
  writeFileSafely(path, data, { replace: options.force === true, mode: options.mode ?? 0o644, existsMessage });
}

/** Whether anything has this name: a file, a folder, a symlink (even a dangling one). */
export function exists(path: string): boolean {
  return nameTaken(path);
}

// ---- fleet server clients ----

/** The options of every command that talks to a fleet server's API (with --server URL). */
export const SERVER_ACCESS_OPTIONS = {
  "token-file": { type: "string" },
  ca: { type: "string" },
} as const;

/** Their help lines. */
export const SERVER_ACCESS_HELP = `  --token-file FILE  with --server: the API token to call it with (a file holding the gh_... that
                     'gatehouse token create' printed); without it, GATEHOUSE_TOKEN is used
  --ca FILE          with an https:// server: trust the CA certificates in this PEM file (for a
                     server whose certificate no public CA signed)`;

/** The server, token and CA of --server, --token-file, --ca (and GATEHOUSE_TOKEN); undefined without --server. */
export async function serverAccess(values: { server?: string; "token-file"?: string; ca?: string }): Promise<ServerAccess | undefined> {
  if (values.server === undefined) {
    if (values["token-file"] !== undefined) usageError("--token-file goes with --server");
    if (values.ca !== undefined) usageError("--ca goes with --server");
    return undefined;
  }
  const { loadServerAccess } = await import("../client/http");
  return loadServerAccess({ url: values.server, tokenFile: values["token-file"], caFile: values.ca });
}

// ---- output ----

export function out(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : text + "\n");
}

/** Notes for people (not data): standard error, so standard output stays machine-readable. */
export function note(text: string): void {
  process.stderr.write(text.endsWith("\n") ? text : text + "\n");
}

/** Colour only for a terminal, and never when NO_COLOR is set to anything non-empty (no-color.org). */
export function colorEnabled(stream: NodeJS.WriteStream = process.stdout): boolean {
  const noColor = process.env.NO_COLOR;
  if (noColor !== undefined && noColor !== "") return false;
  return stream.isTTY === true;
}

function paint(open: number, close: number): (text: string, stream?: NodeJS.WriteStream) => string {
  return (text, stream) => (colorEnabled(stream) ? `\x1b[${open}m${text}\x1b[${close}m` : text);
}

export const bold = paint(1, 22);
export const dim = paint(2, 22);
export const red = paint(31, 39);
export const green = paint(32, 39);
export const yellow = paint(33, 39);
