// `gatehouse demo --once` (what `npm start` runs, without --once) as a user runs it: a real process in
// an empty folder. It must show the allowed commands, the refusal by the door's role rule, the device's
// security event for it and copy-pasteable follow-up commands, then exit 0, in well under 30 s. A second
// run in the same folder reuses the workspace and works the same.
import test from "ava";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { Store } from "../host/server/store";
import { Accounts } from "../host/server/auth/accounts";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = join(repoRoot, "bin", "gatehouse.js");

function demo(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const started = performance.now();
  return new Promise((done) => {
    execFile(process.execPath, [BIN, "demo", ...args], { cwd, timeout: 45_000, env: { ...process.env, NO_COLOR: "1", GATEHOUSE_DEBUG: "" } }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr, ms: performance.now() - started });
    });
  });
}

test("demo --once: allowed commands, the not-allowed refusal, its security event, try-it lines, exit 0", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "gatehouse-demo-"));
  try {
    const tokens: string[] = [];
    for (const run of ["first run", "second run (workspace reused)"]) {
      const { code, stdout, stderr, ms } = await demo(dir, "--once");
      t.log(`${run}: ${Math.round(ms)} ms`);
      t.is(code, 0, `${run}: ${stderr}`);
      t.true(ms < 30_000, `${run} took ${Math.round(ms)} ms`);
      t.false(stdout.includes("    at ") || stderr.includes("    at "), "no stack trace");

      t.regex(stdout, /\[1\/6\] broker +aedes in this process on mqtt:\/\/127\.0\.0\.1:\d+/);
      for (const id of ["thermo-1", "thermo-2", "thermo-3"]) t.regex(stdout, new RegExp(`online +${id}`));
      t.regex(stdout, /the server sees all 3 online/);

      t.regex(stdout, /operator +temperature read\.celsius +-> ok: -?\d+(\.\d+)? +\(verified\)/);
      t.regex(stdout, /operator +setpoint write\.target 22\.5 +-> ok +\(verified\)/);
      t.regex(stdout, /operator +setpoint write\.limits \{"min":12,"max":28\} +-> refused not-allowed: .*needs role administer +\(verified\)/);
      t.regex(stdout, /admin +setpoint write\.limits \{"min":12,"max":28\} +-> ok +\(verified\)/);
      t.regex(stdout, /operator +setpoint read\.limits +-> ok: \{max: 28, min: 12\}/);

      t.regex(stdout, /Security event for the refusal/);
      t.regex(stdout, /#\d+ thermo-1: not-allowed, allowed false, principal 6f70657261746f72 \("operator"\), door setpoint, op write\.limits/);

      t.regex(stdout, /Try it yourself:/);
      const broker = /on (mqtt:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1];
      const server = /\[4\/6\] server +(http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1];
      t.truthy(broker);
      t.truthy(server);
      t.true(stdout.includes(`npx gatehouse send --broker ${broker} --key .gatehouse/demo/keys/operator.key --identities .gatehouse/demo/identities --device thermo-1`));
      t.true(stdout.includes(`npx gatehouse events --server ${server} --token-file .gatehouse/demo/viewer.token --device thermo-1`));
      t.true(stdout.includes(`curl -H @.gatehouse/demo/viewer.header ${server}/api/devices/thermo-1`));
      t.regex(stdout, /\[4\/6\] server +http:\/\/127\.0\.0\.1:\d+, database \.gatehouse\/demo\/fleet\.db, API token \(role view\) in \.gatehouse\/demo\/viewer\.token/);
      t.regex(stdout, /Stopping \(--once\)\./);
      tokens.push((await readFile(join(dir, ".gatehouse", "demo", "viewer.token"), "utf8")).trim());
    }
    // The token printed for trying things is the latest run's (role view); the earlier one is revoked.
    const store = new Store(join(dir, ".gatehouse", "demo", "fleet.db"));
    try {
      const accounts = new Accounts(store.db);
      t.like(accounts.authenticateToken(tokens[1]), { kind: "token", name: "demo-viewer", role: "view", devicePattern: null });
      t.throws(() => accounts.authenticateToken(tokens[0]), { message: /was revoked/ });
    } finally {
      store.close();
    }
    for (const file of ["keys/admin.key", "keys/admin.pub", "keys/operator.key", "keys/operator.pub", "identities/thermo-1/device.key", "fleet.db", "viewer.token", "viewer.header"]) {
      await t.notThrowsAsync(stat(join(dir, ".gatehouse", "demo", file)), file);
    }
    t.is((await stat(join(dir, ".gatehouse", "demo", "keys", "admin.key"))).mode & 0o777, 0o600);
    t.is((await stat(join(dir, ".gatehouse", "demo", "viewer.token"))).mode & 0o777, 0o600);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("demo: bad arguments are one usage error line", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "gatehouse-demo-"));
  try {
    const { code, stdout, stderr } = await demo(dir, "--bogus");
    t.is(code, 2);
    t.is(stdout, "");
    t.regex(stderr, /^gatehouse demo: error usage: .+\n$/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
