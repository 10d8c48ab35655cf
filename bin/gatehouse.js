#!/usr/bin/env node
// The `gatehouse` command. Plain JavaScript: it registers tsx's loader (TypeScript on Node) and runs
// host/cli/main.ts. Everything else, errors included, is main.ts's business.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

// The repo's own tsconfig, whatever the working directory (tsx would otherwise look from the cwd).
const tsconfig = fileURLToPath(new URL("../tsconfig.json", import.meta.url));
register({ tsconfig: existsSync(tsconfig) ? tsconfig : false });

try {
  const { runCli } = await import("../host/cli/main.ts");
  await runCli(process.argv.slice(2));
} catch (e) {
  // Only a failure to load the CLI itself (a syntax error, a missing file) gets here.
  const message = String(e?.message ?? e).split("\n")[0];
  process.stderr.write(`gatehouse: error internal: ${message}\n`);
  if (process.env.GATEHOUSE_DEBUG) process.stderr.write(`${e?.stack ?? e}\n`);
  process.exitCode = 1;
}
