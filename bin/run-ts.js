#!/usr/bin/env node
// Runs a TypeScript script on Node with tsx's loader: node bin/run-ts.js SCRIPT.ts [args...]
// The script sees itself as process.argv[1] and its own arguments from process.argv[2], as if it had
// been started with `node SCRIPT`. Used by `npm run bench` and `npm run fuzz`.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { register } from "tsx/esm/api";

const script = process.argv[2];
if (script === undefined || script === "--help" || script === "-h") {
  process.stderr.write("usage: node bin/run-ts.js SCRIPT.ts [args...]\n");
  process.exit(script === undefined ? 2 : 0);
}

const tsconfig = fileURLToPath(new URL("../tsconfig.json", import.meta.url));
register({ tsconfig: existsSync(tsconfig) ? tsconfig : false });

const path = resolve(script);
process.argv.splice(1, 2, path);
await import(pathToFileURL(path).href);
