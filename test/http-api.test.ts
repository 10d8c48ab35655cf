// The fleet server core without HTTP, and its JSON API as an app without a server (issue 10): the core
// runs, ingests and relays on its own; the API is built on its FleetApi and answered through app.fetch
// (no socket), behind the guard (issue 8: test/api-access.test.ts). Every route declares its access, and
// the app fails closed: a route that is not public never runs unless a middleware granted the call. The
// API over a real socket is test/server.test.ts and test/http-attack.test.ts.
import test from "ava";
import { randomBytes } from "node:crypto";
import { utf8 } from "../sdk/cbor/encode";
import { signCommand } from "../sdk/command/sender";
import { publicKey } from "../sdk/cose/key";
import { Device } from "../sdk/device";
import { nodeCrypto } from "../ports/node/crypto";
import { generateDeviceKey } from "../host/identity-files";
import { nextSequence } from "../host/client/sequence";
import { createFleetHttpApi, FleetServer, grantAccess, HttpApp, json, type FleetApi } from "../host/server/index";
import { bearer, guardOf, tokenFor } from "./support/api-access";
import { startMosquitto } from "./support/brokers";
import { installCounter, nodeDeviceOptions, until } from "./support/devices";

const OPERATOR = nodeCrypto.generateKey("EdDSA", utf8("api-operator"));

async function fleet(t: import("ava").ExecutionContext) {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const core = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", clientId: `api-core-${randomBytes(4).toString("hex")}` });
  t.teardown(() => core.stop());
  const key = generateDeviceKey("api-1");
  core.registerDevice("api-1", publicKey(key));
  const hits: number[] = [];
  const device = new Device(nodeDeviceOptions(broker.url, "api-1", key, OPERATOR));
  installCounter(device, (i) => hits.push(i));
  device.start();
  t.teardown(() => device.stop(false));
  await until("the device online at the core", () => core.device("api-1")?.online);
  return { core, hits };
}

function command(index: number): string {
  const now = Math.floor(Date.now() / 1000);
  const message = signCommand(nodeCrypto, OPERATOR, { device: "api-1", door: "counter", op: "invoke.hit", args: index, seq: nextSequence(), issuedAt: now, expiresAt: now + 60 });
  return Buffer.from(message).toString("base64");
}

const post = (path: string, body: unknown, headers: Record<string, string>) =>
  new Request(`http://api${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

test("the core runs without HTTP: it ingests, keeps state and relays a command; its API answers through app.fetch, no socket", async (t) => {
  const { core, hits } = await fleet(t);
  const reply = await core.relayCommand({ message: new Uint8Array(Buffer.from(command(3), "base64")), device: "api-1", door: "counter" });
  t.like(reply, { ok: true, value: 3, verified: true });

  const api: FleetApi = core;
  const guard = guardOf(core);
  const auth = bearer(tokenFor(guard, "operate"));
  const app = createFleetHttpApi(api, { guard });
  t.deepEqual(
    app.routes().map((r) => `${r.method} ${r.path} ${r.access.role}`),
    [
      "GET /api/devices view",
      "POST /api/devices manage",
      "GET /api/devices/:id view",
      "GET /api/events view",
      "GET /api/events/stream view",
      "POST /api/commands operate",
      "POST /api/session public",
      "GET /api/session view",
      "DELETE /api/session view",
      "GET /api/users administer",
      "POST /api/users administer",
      "DELETE /api/users/:name administer",
      "GET /api/tokens administer",
      "POST /api/tokens administer",
      "DELETE /api/tokens/:id administer",
      "GET /api/audit administer",
      "GET /api/openapi.json public",
    ],
  );
  const list = await app.fetch(new Request("http://api/api/devices", { headers: auth }));
  t.is(list.status, 200);
  t.is(list.headers.get("cache-control"), "no-store");
  t.like(((await list.json()) as { devices: { id: string; online: boolean }[] }).devices[0], { id: "api-1", online: true });
  const relayed = await app.fetch(post("/api/commands", { message: command(4), device: "api-1", door: "counter" }, auth));
  t.is(relayed.status, 200);
  t.like(await relayed.json(), { ok: true, value: 4, verified: true });
  t.deepEqual(hits, [3, 4]);
  const unknown = await app.fetch(new Request("http://api/api/devices/nobody", { headers: auth }));
  t.is(unknown.status, 404);
  t.deepEqual(await unknown.json(), { error: { code: "unknown-device", message: "device nobody is not registered" } });
  const wrongMethod = await app.fetch(new Request("http://api/api/events", { method: "DELETE", headers: auth }));
  t.is(wrongMethod.status, 405);
  t.is(wrongMethod.headers.get("allow"), "GET");
  const notJson = await app.fetch(new Request("http://api/api/commands", { method: "POST", headers: { "content-type": "text/plain", ...auth }, body: "x" }));
  t.is(notJson.status, 415);
  const unknownParameter = await app.fetch(new Request("http://api/api/devices?sort=id", { headers: auth }));
  t.is(unknownParameter.status, 400);
  t.like(await unknownParameter.json(), { error: { code: "invalid-input", message: 'unknown parameter "sort" (expected after, limit)' } });
});

test("routes declare their access and the app fails closed: a route that is not public runs only when a middleware granted the call", async (t) => {
  const ran: string[] = [];
  const app = new HttpApp()
    .get("/open", { role: "public", devices: "none" }, () => {
      ran.push("open");
      return json({ ok: true });
    })
    .get("/closed", { role: "view", devices: "none" }, () => {
      ran.push("closed");
      return json({ ok: true });
    });
  t.is((await app.fetch(new Request("http://api/open"))).status, 200);
  const refused = await app.fetch(new Request("http://api/closed"));
  t.is(refused.status, 500);
  t.deepEqual(await refused.json(), { error: { code: "internal", message: "internal error" } });
  t.deepEqual(ran, ["open"], "the handler of the ungranted route never ran");

  const granting = new HttpApp()
    .use(async (c, next) => {
      if (c.request.headers.get("authorization") === "Bearer let-me-in") grantAccess(c);
      return next();
    })
    .get("/closed", { role: "view", devices: "none" }, () => json({ ok: true }));
  t.is((await granting.fetch(new Request("http://api/closed"))).status, 500);
  t.is((await granting.fetch(new Request("http://api/closed", { headers: { authorization: "Bearer let-me-in" } }))).status, 200);

  // A route without a valid access declaration cannot be registered, nor one registered twice.
  t.throws(() => new HttpApp().get("/x", undefined as never, () => json({})), { message: /declares no valid access/ });
  t.throws(() => new HttpApp().get("/x", { role: "root", devices: "none" } as never, () => json({})), { message: /declares no valid access/ });
  t.throws(() => new HttpApp().get("/x", { role: "view" } as never, () => json({})), { message: /declares no valid access/ });
  t.throws(() => new HttpApp().get("/x", { role: "view", devices: "none" }, () => json({})).get("/x", { role: "view", devices: "none" }, () => json({})), { message: /registered twice/ });
});
