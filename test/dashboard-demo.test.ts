// `npm start` (gatehouse demo) prints the dashboard's address and a one-time admin login: a person can log
// in with it in a real browser and sees the demo's three thermostats online; the next run's password
// replaces it.
import test from "ava";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchChromium, withScreenshots } from "./support/browser";
import { repoRoot } from "./support/bundle";
import type { Page } from "playwright-core";

const BIN = join(repoRoot, "bin", "gatehouse.js");
const WAIT = { timeout: 30_000 };

/** Runs the demo until it prints its dashboard login; returns the address, the password and a stop(). */
async function startDemo(cwd: string): Promise<{ url: string; password: string; output: () => string; stop(): Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, "demo"], { cwd, env: { ...process.env, NO_COLOR: "1", GATEHOUSE_DEBUG: "" }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
  const deadline = Date.now() + 60_000;
  let match: RegExpExecArray | null = null;
  while (!(match = /Dashboard:\n {2}(http:\/\/127\.0\.0\.1:\d+)\/\n {2}log in as demo-admin with password (\S+)/.exec(output))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the demo printed no dashboard login:\n${output}`);
    }
    await new Promise((done) => setTimeout(done, 50));
  }
  return {
    url: match[1],
    password: match[2],
    output: () => output,
    async stop() {
      child.kill("SIGINT");
      return exited;
    },
  };
}

test("npm start prints the dashboard and a one-time admin login that works in the browser; the next run's login replaces it", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "gatehouse-demo-dashboard-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const pages: Page[] = [];
  const login = async (url: string, password: string) => {
    const page = await browser.newPage();
    pages.push(page);
    await page.goto(`${url}/`);
    await page.getByLabel("Name").fill("demo-admin");
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Log in" }).click();
    return page;
  };

  const first = await startDemo(dir);
  let firstPassword = first.password;
  try {
    await withScreenshots(t.title, () => pages, async () => {
      t.regex(first.password, /^[a-z2-9]{20}$/);
      t.is(first.output().split(first.password).length, 2, "the password is printed once");
      const page = await login(first.url, first.password);
      await page.locator("#caller", { hasText: "demo-admin (administer)" }).waitFor(WAIT);
      await page.locator("#fleet-count", { hasText: "3 devices, 3 online" }).waitFor(WAIT);
    });
  } finally {
    t.is(await first.stop(), 0);
  }

  const second = await startDemo(dir);
  try {
    await withScreenshots(`${t.title} (second run)`, () => pages, async () => {
      t.not(second.password, firstPassword);
      const stale = await login(second.url, firstPassword);
      await stale.getByRole("alert").filter({ hasText: "Wrong name or password." }).waitFor(WAIT);
      const page = await login(second.url, second.password);
      await page.locator("#caller", { hasText: "demo-admin (administer)" }).waitFor(WAIT);
    });
  } finally {
    firstPassword = "";
    t.is(await second.stop(), 0);
  }
});
