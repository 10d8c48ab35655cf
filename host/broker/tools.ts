// Running the system tools the broker set-up relies on — openssl (certificates: node:crypto reads them
// but cannot make them) and mosquitto_passwd (mosquitto's own password hash format) — failing in two
// ways: tool-missing (not installed: say which Debian package has it) and tool-failed (it ran and
// refused: its own words). Secrets never go on a command line (other users can read it in ps): they go
// through files in a private temporary folder. Host side only (Node).

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fail } from "../../sdk/errors";

/** The Debian package of each tool, for the message when it is missing. */
const PACKAGES: Record<string, string> = {
  openssl: "openssl",
  mosquitto_passwd: "mosquitto",
};

const TOOL_TIMEOUT_MS = 60_000;
const OUTPUT_LIMIT = 64 * 1024;

/** Runs `tool` with `args`; resolves with its standard output, fails tool-missing or tool-failed. */
export function runTool(tool: string, args: readonly string[], options: { cwd?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(tool, args, { cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LC_ALL: "C" } });
    } catch (e) {
      reject(e);
      return;
    }
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (text: string) => (stdout = (stdout + text).slice(-OUTPUT_LIMIT)));
    child.stderr.on("data", (text: string) => (stderr = (stderr + text).slice(-OUTPUT_LIMIT)));
    const timer = setTimeout(() => child.kill("SIGKILL"), TOOL_TIMEOUT_MS);
    child.once("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      try {
        if (e.code === "ENOENT") fail("tool-missing", `${tool} is not installed (Debian: apt-get install ${PACKAGES[tool] ?? tool})`);
        fail("tool-failed", `cannot run ${tool}: ${e.message}`);
      } catch (error) {
        reject(error);
      }
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        resolve(stdout);
        return;
      }
      const said = (stderr.trim() || stdout.trim()).split("\n").filter(Boolean).slice(-3).join("; ");
      try {
        fail("tool-failed", `${tool} ${args[0] ?? ""} failed (${signal ?? `exit ${code}`})${said ? `: ${said}` : ""}`);
      } catch (error) {
        reject(error);
      }
    });
  });
}

/** Runs `work` with a fresh private (0700) temporary folder, removed afterwards whatever happens. */
export async function withPrivateTemp<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-"));
  try {
    return await work(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
