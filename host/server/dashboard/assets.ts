// The dashboard's files, made when the server starts: the page scripts (app/*.ts, with the SDK's CBOR,
// COSE and command envelope code they import) bundled by esbuild in memory, the page and its styles read
// from app/, and uPlot's stylesheet from its package. Nothing is written to disk and nobody runs a build
// by hand; a bundle takes well under a second.
//
// Bundle settings: one classic script (iife), for the browser, es2022 (the browsers that have WebCrypto
// Ed25519 and EventSource all run it), minified. The SDK code is the very code the devices run.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fail } from "../../../sdk/errors";

export interface DashboardFile {
  readonly body: Uint8Array;
  readonly type: string;
}

/** The dashboard's files by URL path. */
export type DashboardAssets = ReadonlyMap<string, DashboardFile>;

const APP_DIR = join(import.meta.dirname, "app");

/** Bundles and reads the dashboard's files (dashboard-build when esbuild fails or is missing). */
export async function buildDashboard(): Promise<DashboardAssets> {
  let esbuild: typeof import("esbuild");
  try {
    esbuild = await import("esbuild");
  } catch (e) {
    return fail("dashboard-build", `the dashboard needs esbuild to bundle its scripts: ${(e as Error).message}`);
  }
  let result;
  try {
    result = await esbuild.build({
      entryPoints: [join(APP_DIR, "main.ts")],
      bundle: true,
      write: false,
      format: "iife",
      platform: "browser",
      target: "es2022",
      minify: true,
      legalComments: "none",
      charset: "utf8",
      logLevel: "silent",
    });
  } catch (e) {
    return fail("dashboard-build", `cannot bundle the dashboard's scripts: ${(e as Error).message}`);
  }
  const require = createRequire(import.meta.url);
  const uplotCss = readFileSync(join(require.resolve("uplot"), "..", "uPlot.min.css"));
  const files = new Map<string, DashboardFile>([
    ["/", { body: readFileSync(join(APP_DIR, "index.html")), type: "text/html; charset=utf-8" }],
    ["/app/app.js", { body: result.outputFiles[0].contents, type: "text/javascript; charset=utf-8" }],
    ["/app/app.css", { body: readFileSync(join(APP_DIR, "style.css")), type: "text/css; charset=utf-8" }],
    ["/app/uplot.css", { body: new Uint8Array(uplotCss), type: "text/css; charset=utf-8" }],
  ]);
  return files;
}
