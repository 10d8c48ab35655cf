// Bundling device code with esbuild: the one set of settings for every bundle the project makes of it
// (the XS runs in test/support/xs.ts, the size benchmark, the port tests that load a port with stand-ins).
// Kept apart from xs.ts, which loads @agoric/xsnap (that needs SES lockdown first).
//
// Settings (pinned: computron counts and sizes depend on the bundle's bytes):
// - platform "neutral": no Node built-ins or Node globals are assumed.
// - target "es2020": lowers class fields, which avoids the XS 13.3 bug with a class that has private
//   members and a static field instantiating the class ("not initialized yet").
// - mainFields ["module", "main"] and conditions ["import", "default"]: @noble/* are ESM packages with
//   exports maps; "neutral" has no default mainFields.
// - JSON imports inlined (the conformance vectors); no legal comments; UTF-8 output.

import { isAbsolute, resolve } from "node:path";
import { build, type Metafile, type Plugin } from "esbuild";

/** The repository root (test/support/ is two levels below it). */
export const repoRoot: string = resolve(import.meta.dirname, "..", "..");

export interface DeviceBundleOptions {
  /** "iife" (default): one classic script, as xsnap evaluates; "esm": a module. */
  readonly format?: "iife" | "esm";
  /** Minify (default false). Changes the computron figures: pin it per benchmark. */
  readonly minify?: boolean;
  /** Constants replaced at bundle time, as esbuild `define` (values are JS source text). */
  readonly define?: Readonly<Record<string, string>>;
  /** Module stand-ins (e.g. Moddable's native modules for a port test on Node). */
  readonly plugins?: Plugin[];
}

export interface DeviceBundle {
  readonly code: string;
  readonly bytes: Uint8Array;
  /** Which files went in, and how many bytes of each (esbuild's metafile). */
  readonly metafile: Metafile;
}

/** Bundles a TypeScript entry (absolute, or relative to the repository root) into one file. */
export async function bundleDeviceCode(entry: string, options: DeviceBundleOptions = {}): Promise<DeviceBundle> {
  const result = await build({
    entryPoints: [isAbsolute(entry) ? entry : resolve(repoRoot, entry)],
    absWorkingDir: repoRoot,
    bundle: true,
    write: false,
    metafile: true,
    format: options.format ?? "iife",
    platform: "neutral",
    target: "es2020",
    mainFields: ["module", "main"],
    conditions: ["import", "default"],
    loader: { ".json": "json" },
    minify: options.minify ?? false,
    define: { ...(options.define ?? {}) },
    plugins: options.plugins ? [...options.plugins] : [],
    legalComments: "none",
    charset: "utf8",
    logLevel: "silent",
  });
  if (result.outputFiles.length !== 1) throw new Error(`bundleDeviceCode(${entry}): expected 1 output file, got ${result.outputFiles.length}`);
  const output = result.outputFiles[0];
  return { code: output.text, bytes: output.contents, metafile: result.metafile };
}
