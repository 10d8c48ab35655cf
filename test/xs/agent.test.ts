// The update agent inside XS 13.3 (xsnap 0.15.0, the noble crypto port): offers of a patch and of an image
// through a Device whose broker test/xs/agent-entry.ts plays. XS 13.3's Compartment is refused for patches
// (test/xs/patch.test.ts shows why), so a patch that arrives there ends patch-unavailable, after the agent
// pulled and checked it; the agent's own refusals (a device without patches, a tampered envelope, a source
// over the limit) and a full image's statuses are the same as on Node (test/update-patch.test.ts,
// test/update-agent.test.ts).
import "./ses-env";
import "@endo/init";
import test from "ava";
import { bundleForXs, startXs } from "../support/xs";

interface AgentReport {
  statuses: string[];
  events: string[];
  requests: number;
  restarts: number;
  patch: number | null;
  error: string | null;
}

let bundle: Promise<string> | undefined;

async function scenario(name: string): Promise<AgentReport> {
  bundle ??= bundleForXs("test/xs/agent-entry.ts");
  const xs = await startXs({ meteringLimit: 2e9, name: `gatehouse-agent-${name}` });
  try {
    await xs.evaluate(await bundle);
    await xs.evaluate(`gatehouseAgent.run(${JSON.stringify(name)})`);
    const run = await xs.evaluate("gatehouseAgent.report()");
    const message = run.messages.find((m) => (m as { kind?: string }).kind === "agent") as AgentReport | undefined;
    if (message === undefined) throw new Error("XS did not report");
    return message;
  } finally {
    await xs.close();
  }
}

test("xsnap: a patch offered to a device whose platform has no confined Compartment is pulled, checked, then refused (patch-unavailable); no restart", async (t) => {
  const r = await scenario("patch");
  t.is(r.error, null);
  t.deepEqual(r.statuses, ["offered", "verified", "refused:patch-unavailable"]);
  t.true(r.requests >= 1, "the source came in blocks");
  t.is(r.restarts, 0);
  t.is(r.patch, null, "no patch active");
});

test("xsnap: a patch offered to a device without patches is refused at once (patch-unavailable)", async (t) => {
  const r = await scenario("no-patches");
  t.is(r.error, null);
  t.deepEqual(r.statuses, ["refused:patch-unavailable"]);
  t.deepEqual(r.events, ["patch-unavailable"]);
  t.is(r.requests, 0);
});

test("xsnap: a tampered patch envelope is refused before a block is asked for", async (t) => {
  const r = await scenario("tampered");
  t.is(r.error, null);
  t.deepEqual(r.statuses, ["refused:suit-manifest-digest-mismatch"]);
  t.is(r.requests, 0);
});

test("xsnap: a patch source over the limit is refused before a block is asked for", async (t) => {
  const r = await scenario("too-big");
  t.is(r.error, null);
  t.deepEqual(r.statuses, ["refused:suit-image-too-long"]);
  t.is(r.requests, 0);
});

test("xsnap: a full image goes offered, downloading, verified, installed, then the restart into it", async (t) => {
  const r = await scenario("image");
  t.is(r.error, null);
  t.deepEqual(r.statuses.filter((s) => !s.startsWith("downloading")), ["offered", "verified", "installed"]);
  t.true(r.statuses.includes("downloading"));
  t.is(r.requests, 5, "5000 bytes in blocks of 1024");
  t.is(r.restarts, 1);
});
