// Runs the real `gatehouse` command (bin/gatehouse.js) as a user would, in a child process, and keeps
// its exit code and output. Failures come back as values (code, stdout, stderr), so a test can assert
// on a refusal's exit code and its one-line error.

import { execFile } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const GATEHOUSE_BIN = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "bin", "gatehouse.js");
const run = promisify(execFile);

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `gatehouse ...args` with colours and debug output off; `token` goes in GATEHOUSE_TOKEN. */
export async function runGatehouse(args: string[], options: { token?: string; cwd?: string } = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [GATEHOUSE_BIN, ...args], {
      cwd: options.cwd,
      env: { ...process.env, NO_COLOR: "1", GATEHOUSE_DEBUG: "", GATEHOUSE_TOKEN: options.token ?? "" },
      timeout: 110_000,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const failed = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === "number" ? failed.code : -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}
