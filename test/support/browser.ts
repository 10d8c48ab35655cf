// A real browser for the dashboard's tests and figures: Debian's chromium (installed by .ci/run and the
// README's set-up; playwright-core never downloads one), headless, driven by playwright-core.
// GATEHOUSE_CHROMIUM names another executable.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { repoRoot } from "./bundle";

export const CHROMIUM = process.env.GATEHOUSE_CHROMIUM ?? "/usr/bin/chromium";

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
  });
}

/** Where screenshots of failed browser tests go (gitignored). */
export const SCREENSHOTS = join(repoRoot, ".tmp", "screenshots");

/** Runs `body`; when it throws, saves a screenshot of every page first (named after `name`). */
export async function withScreenshots<T>(name: string, pages: () => Page[], body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (e) {
    mkdirSync(SCREENSHOTS, { recursive: true });
    const slug = name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60);
    for (const [i, page] of pages().entries()) {
      const path = join(SCREENSHOTS, `${slug}-${i}.png`);
      await page.screenshot({ path, fullPage: true }).catch(() => {});
      process.stderr.write(`screenshot: ${path}\n`);
    }
    throw e;
  }
}
