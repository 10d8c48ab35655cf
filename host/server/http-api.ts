// The fleet server's JSON API: thin Request -> Response handlers over a FleetApi (api.ts). Every input is
// checked here or by the core; every error is JSON {"error": {"code", "message"}} with a fitting status.
//
//   GET  /api/devices                     {devices: [device without doors, with doorNames]}
//   GET  /api/devices/:id                 {device: {..., doors, telemetry, results}}
//   POST /api/devices     {id, key}       register a public COSE_Key (base64): 201 new, 200 same key, 409 other key
//   GET  /api/events?device=&after=&limit=  {events: [...], lastId}  (after: ids above it, oldest first;
//                                         without: the latest `limit`, default 100, at most 1000)
//   GET  /api/events/stream?format=&after=&device=&follow=
//                                         the events as JSON lines, OCSF or Gatehouse rows, optionally
//                                         kept open for new ones (export/event-stream.ts)
//   POST /api/commands    {message, device, door, timeoutMs?}
//                                         relay a signed command (base64 COSE_Sign1); 200 with the reply
//                                         (ok true or false), 504 no-result, 404 unknown device
//
// Byte strings in responses are hex. POST bodies must be application/json and at most 64 KiB. The API
// has no authentication of its own: bind it to loopback (the default of `gatehouse server`) or put it
// behind something that authenticates; authentication, roles and an audit log belong in middleware
// (HttpApp.use).
//
//   const app = createFleetHttpApi(fleet);            // any FleetApi
//   const served = await serveHttp(app, { host: "127.0.0.1", port: 8080 });

import { decodeKey } from "../../sdk/cose/key";
import { replyToJson } from "../client/results";
import type { Json } from "../client/json-view";
import type { FleetApi } from "./api";
import { HttpApp, HttpError, json, readJson } from "./http-app";
import { MAX_EVENT_LIMIT } from "./store";
import { streamEvents } from "./export/event-stream";

function invalid(message: string): never {
  throw new HttpError(400, "invalid-input", message);
}

function onlyFields(body: Record<string, unknown>, allowed: string[]): void {
  for (const key of Object.keys(body)) if (!allowed.includes(key)) invalid(`unknown field ${JSON.stringify(key)} (expected ${allowed.join(", ")})`);
}

function textField(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (typeof value !== "string" || value.length === 0) invalid(`${name} must be a non-empty string`);
  return value;
}

/** Standard or URL-safe base64, padded or not; nothing else. */
function base64Field(body: Record<string, unknown>, name: string): Uint8Array {
  const value = textField(body, name);
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(value) || value.replace(/=+$/, "").length % 4 === 1) invalid(`${name} must be base64`);
  return new Uint8Array(Buffer.from(value.replace(/-/g, "+").replace(/_/g, "/"), "base64"));
}

function queryUint(params: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const text = params.get(name);
  if (text === null || text === "") return undefined;
  if (!/^\d{1,16}$/.test(text) || Number(text) < min || Number(text) > max) invalid(`${name} must be an integer from ${min} to ${max}`);
  return Number(text);
}

/** The fleet JSON API over `fleet`, as an app without a server (serve it with serveHttp). */
export function createFleetHttpApi(fleet: FleetApi, options: { log?: (line: string) => void } = {}): HttpApp {
  const app = new HttpApp(options);

  app.get("/api/devices", () => {
    const devices = fleet.devices().map(({ doors, ...row }) => ({
      ...row,
      doorNames: doors.map((d) => (d !== null && typeof d === "object" && !Array.isArray(d) && typeof d.name === "string" ? d.name : "?")),
    }));
    return json({ devices });
  });

  app.post("/api/devices", async (c) => {
    const body = await readJson(c.request);
    onlyFields(body, ["id", "key"]);
    const id = textField(body, "id");
    let key;
    try {
      key = decodeKey(base64Field(body, "key"));
    } catch (e) {
      if (e instanceof HttpError) throw e;
      throw new HttpError(400, "key-invalid", `key is not a COSE_Key: ${(e as Error).message}`);
    }
    const change = fleet.registerDevice(id, key);
    return json({ device: fleet.device(id) as unknown as Json, change }, change === "created" ? 201 : 200);
  });

  app.get("/api/devices/:id", (c) => {
    const device = fleet.device(c.params.id);
    if (!device) throw new HttpError(404, "unknown-device", `device ${c.params.id} is not registered`);
    return json({ device: device as unknown as Json });
  });

  app.get("/api/events", (c) => {
    const query = c.url.searchParams;
    const device = query.get("device") ?? undefined;
    if (device !== undefined && (device.length === 0 || device.length > 64)) invalid("device must be 1 to 64 characters");
    const afterId = queryUint(query, "after", 0, Number.MAX_SAFE_INTEGER);
    const limit = queryUint(query, "limit", 1, MAX_EVENT_LIMIT);
    const events = fleet.events({ device, afterId, limit });
    const lastId = events.length > 0 ? events[events.length - 1].id : (afterId ?? null);
    return json({ events: events as unknown as Json, lastId });
  });

  app.get("/api/events/stream", (c) => streamEvents(fleet, c.url.searchParams));

  app.post("/api/commands", async (c) => {
    const body = await readJson(c.request);
    onlyFields(body, ["message", "device", "door", "timeoutMs"]);
    const message = base64Field(body, "message");
    const timeoutMs = body.timeoutMs;
    if (timeoutMs !== undefined && (typeof timeoutMs !== "number" || !Number.isInteger(timeoutMs))) invalid("timeoutMs must be an integer");
    const reply = await fleet.relayCommand({ message, device: textField(body, "device"), door: textField(body, "door"), timeoutMs: timeoutMs as number | undefined });
    return json(replyToJson(reply));
  });

  return app;
}
