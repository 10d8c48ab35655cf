// The fleet server core without HTTP, and its JSON API as an app without a server (issue 10): the core
// runs, ingests and relays on its own; the API is built on its FleetApi and answered through app.fetch
// (no socket); middleware wraps every route, as authentication and an audit log will (issue 8). The
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
import { createFleetHttpApi, FleetServer, json, type FleetApi } from "../host/server/index";
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

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  new Request(`http://api${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

test("the core runs without HTTP: it ingests, keeps state and relays a command; its API answers through app.fetch, no socket", async (t) => {
  const { core, hits } = await fleet(t);
  const reply = await core.relayCommand({ message: new Uint8Array(Buffer.from(command(3), "base64")), device: "api-1", door: "counter" });
  t.like(reply, { ok: true, value: 3, verified: true });

  const api: FleetApi = core;
  const app = createFleetHttpApi(api);
  t.deepEqual(
    app.routes().map((r) => `${r.method} ${r.path}`),
    ["GET /api/devices", "POST /api/devices", "GET /api/devices/:id", "GET /api/events", "GET /api/events/stream", "POST /api/commands"],
  );
  const list = await app.fetch(new Request("http://api/api/devices"));
  t.is(list.status, 200);
  t.is(list.headers.get("cache-control"), "no-store");
  t.like(((await list.json()) as { devices: { id: string; online: boolean }[] }).devices[0], { id: "api-1", online: true });
  const relayed = await app.fetch(post("/api/commands", { message: command(4), device: "api-1", door: "counter" }));
  t.is(relayed.status, 200);
  t.like(await relayed.json(), { ok: true, value: 4, verified: true });
  t.deepEqual(hits, [3, 4]);
  const unknown = await app.fetch(new Request("http://api/api/devices/nobody"));
  t.is(unknown.status, 404);
  t.deepEqual(await unknown.json(), { error: { code: "unknown-device", message: "device nobody is not registered" } });
  const wrongMethod = await app.fetch(new Request("http://api/api/events", { method: "DELETE" }));
  t.is(wrongMethod.status, 405);
  t.is(wrongMethod.headers.get("allow"), "GET");
  const notJson = await app.fetch(new Request("http://api/api/devices", { method: "POST", headers: { "content-type": "text/plain" }, body: "x" }));
  t.is(notJson.status, 415);
});

test("middleware wraps every route: it sees the matched route and its parameters, and may answer instead (as authentication will)", async (t) => {
  const { core } = await fleet(t);
  const seen: string[] = [];
  const app = createFleetHttpApi(core)
    .use(async (c, next) => {
      const response = await next();
      seen.push(`${c.request.method} ${c.route?.path ?? "(no route)"} ${JSON.stringify(c.params)} ${response.status} ${String(c.state.get("who"))}`);
      return response;
    })
    .use(async (c, next) => {
      if (c.request.headers.get("authorization") !== "Bearer let-me-in") return json({ error: { code: "unauthenticated", message: "who are you?" } }, 401);
      c.state.set("who", "alice");
      return next();
    });
  const refused = await app.fetch(new Request("http://api/api/devices/api-1"));
  t.is(refused.status, 401);
  t.is(refused.headers.get("x-content-type-options"), "nosniff");
  const allowed = await app.fetch(new Request("http://api/api/devices/api-1", { headers: { authorization: "Bearer let-me-in" } }));
  t.is(allowed.status, 200);
  t.is(((await allowed.json()) as { device: { id: string } }).device.id, "api-1");
  const missing = await app.fetch(new Request("http://api/nothing", { headers: { authorization: "Bearer let-me-in" } }));
  t.is(missing.status, 404);
  t.deepEqual(seen, ["GET /api/devices/:id {\"id\":\"api-1\"} 401 undefined", "GET /api/devices/:id {\"id\":\"api-1\"} 200 alice", "GET (no route) {} 404 alice"]);
});
