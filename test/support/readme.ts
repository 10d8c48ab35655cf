// The README's app (section "An app"), as written there: every fenced block whose info string names a
// file ("```ts app.ts", "```json manifest.json") is that file. test/readme-app.test.ts runs it on Node,
// test/device/readme.test.ts on Moddable's lin simulator.

import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const README = resolve(import.meta.dirname, "..", "..", "README.md");

/** The README's named code blocks: file name -> content. */
export function readmeFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const match of readFileSync(README, "utf8").matchAll(/^```(?:ts|json) ([\w.-]+)\n([\s\S]*?)^```$/gm)) {
    if (files.has(match[1])) throw new Error(`README.md has two blocks named ${match[1]}`);
    files.set(match[1], match[2]);
  }
  return files;
}

/** Writes the README's files into a fresh `dir` (inside the repository, so `gatehouse/...` resolves to it). */
export function writeReadmeApp(dir: string): Map<string, string> {
  const files = readmeFiles();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of files) writeFileSync(join(dir, name), text);
  return files;
}
