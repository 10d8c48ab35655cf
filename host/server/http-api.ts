// The fleet server's JSON API: thin Request -> Response handlers over a FleetApi (api.ts), every one
// behind the guard (auth/guard.ts). Every input is checked here or by the core; every error is JSON
// {"error": {"code", "message"}} with a fitting status. docs/api.md describes it for users, and
// GET /api/openapi.json (http-openapi.ts) for programs; a test holds that document to these routes.
//
//                                           role        devices
//   GET    /api/devices?after=&limit=       view        filtered  {devices: [without doors, with doorNames], next}
//   GET    /api/devices/:id                 view        one       {device: {..., doors, telemetry, results}}
//   POST   /api/devices   {id, key}        manage      one       register a public COSE_Key (base64): 201 new,
//                                                                 200 same key, 409 other key
//   GET    /api/events?device=&after=&limit=  view      filtered  {events: [...], lastId}
//   GET    /api/events/stream?format=&after=&device=&follow=
//                                           view        filtered  JSON lines (OCSF or rows), or server-sent
//                                                                 events when the client accepts
//                                                                 text/event-stream (export/event-stream.ts)
//   POST   /api/commands {message, device, door, timeoutMs?}
//                                           operate     one       relay a signed command (base64
//                                                                 COSE_Sign1); 200 with the device's reply
//   plus the routes of people, tokens, sessions and the audit log (http-auth-api.ts) and the API document.
//
// Byte strings in responses are hex. POST bodies must be application/json and at most 64 KiB; unknown
// fields and parameters are refused. A token limited to some devices sees only those in lists and is
// refused (403 device-not-allowed) the others.
//
//   const guard = new ApiGuard({ accounts: new Accounts(store.db), audit: new AuditLog(store.db) });
//   const app = createFleetHttpApi(fleet, { guard });
//   const served = await serveHttp(app, { host: "127.0.0.1", port: 8080 });

import { decodeKey } from "../../sdk/cose/key";
import { replyToJson } from "../client/results";
import type { Json } from "../client/json-view";
import type { FleetApi } from "./api";
import { allowDevice, devicePatternOf, type ApiGuard } from "./auth/guard";
import { matchesDevicePattern } from "./auth/accounts";
import { HttpApp, HttpError, invalid, json, onlyFields, onlyParams, queryUint, readJson, textField, type Context } from "./http-app";
import { registerAccessRoutes } from "./http-auth-api";
import { openApiDocument } from "./http-openapi";
import { MAX_EVENT_LIMIT, type EventFilter } from "./store";
import { streamEvents, type EventSource } from "./export/event-stream";

/** Devices per page of GET /api/devices. */
export const MAX_DEVICE_LIMIT = 1000;

/** Standard or URL-safe base64, padded or not; nothing else. */
function base64Field(body: Record<string, unknown>, name: string): Uint8Array {
  const value = textField(body, name, 128 * 1024);
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(value) || value.replace(/=+$/, "").length % 4 === 1) invalid(`${name} must be base64`);
  return new Uint8Array(Buffer.from(value.replace(/-/g, "+").replace(/_/g, "/"), "base64"));
}

/** A `device` query parameter: checked against the caller's devices, and its filter. */
function deviceQuery(c: Context): string | undefined {
  const device = c.url.searchParams.get("device") ?? undefined;
  if (device === undefined) return undefined;
  if (device.length === 0 || device.length > 64) invalid("device must be 1 to 64 characters");
  allowDevice(c, device);
  return device;
}

/** Events as the caller may see them: narrowed to their device pattern in the query itself (pages stay full). */
function eventsFor(fleet: FleetApi, c: Context): EventSource {
  const pattern = devicePatternOf(c);
  if (pattern === null) return fleet;
  return { events: (filter: EventFilter) => fleet.events({ ...filter, devicePattern: pattern }), newEvents: fleet.newEvents };
}

/**
 * JSON lines reframed as server-sent events, one event per line with the event's id as its SSE id (so
 * a browser's EventSource resumes after the last one it saw, sending Last-Event-ID).
 */
function asServerSentEvents(response: Response): Response {
  if (!response.body || response.status !== 200) return response;
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let buffered = "";
  const frames = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      buffered += decoder.decode(chunk, { stream: true });
      let out = "";
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        const row = JSON.parse(line) as { id?: number; metadata?: { uid?: string } };
        out += `id: ${row.id ?? row.metadata?.uid ?? ""}\ndata: ${line}\n\n`;
      }
      if (out !== "") controller.enqueue(encoder.encode(out));
    },
  });
  return new Response(response.body.pipeThrough(frames), { status: 200, headers: { "content-type": "text/event-stream; charset=utf-8" } });
}

function wantsServerSentEvents(c: Context): boolean {
  return (c.request.headers.get("accept") ?? "").split(",").some((part) => part.split(";")[0].trim().toLowerCase() === "text/event-stream");
}

/** The fleet JSON API over `fleet`, every route behind `guard`, as an app without a server (serve it with serveHttp). */
export function createFleetHttpApi(fleet: FleetApi, options: { guard: ApiGuard; log?: (line: string) => void }): HttpApp {
  const app = new HttpApp({ log: options.log });
  options.guard.install(app);

  app.get("/api/devices", { role: "view", devices: "filtered" }, (c) => {
    onlyParams(c.url.searchParams, ["after", "limit"]);
    const after = c.url.searchParams.get("after") ?? "";
    const limit = queryUint(c.url.searchParams, "limit", 1, MAX_DEVICE_LIMIT) ?? MAX_DEVICE_LIMIT;
    const pattern = devicePatternOf(c);
    const visible = fleet.devices().filter((d) => d.id > after && (pattern === null || matchesDevicePattern(pattern, d.id)));
    const page = visible.slice(0, limit);
    const devices = page.map(({ doors, ...row }) => ({
      ...row,
      doorNames: doors.map((d) => (d !== null && typeof d === "object" && !Array.isArray(d) && typeof d.name === "string" ? d.name : "?")),
    }));
    return json({ devices, next: visible.length > limit ? page[page.length - 1].id : null });
  });

  app.post("/api/devices", { role: "manage", devices: "one" }, async (c) => {
    const body = await readJson(c.request);
    onlyFields(body, ["id", "key"]);
    const id = textField(body, "id", 64);
    allowDevice(c, id);
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

  app.get("/api/devices/:id", { role: "view", devices: "one" }, (c) => {
    onlyParams(c.url.searchParams, []);
    allowDevice(c, c.params.id);
    const device = fleet.device(c.params.id);
    if (!device) throw new HttpError(404, "unknown-device", `device ${c.params.id} is not registered`);
    return json({ device: device as unknown as Json });
  });

  app.get("/api/events", { role: "view", devices: "filtered" }, (c) => {
    const query = c.url.searchParams;
    onlyParams(query, ["device", "after", "limit"]);
    const device = deviceQuery(c);
    const afterId = queryUint(query, "after", 0, Number.MAX_SAFE_INTEGER);
    const limit = queryUint(query, "limit", 1, MAX_EVENT_LIMIT);
    const events = eventsFor(fleet, c).events({ device, afterId, limit });
    const lastId = events.length > 0 ? events[events.length - 1].id : (afterId ?? null);
    return json({ events: events as unknown as Json, lastId });
  });

  app.get("/api/events/stream", { role: "view", devices: "filtered" }, (c) => {
    deviceQuery(c);
    if (!wantsServerSentEvents(c)) return streamEvents(eventsFor(fleet, c), c.url.searchParams);
    // An EventSource reconnecting says where it was in Last-Event-ID; it follows unless told otherwise.
    const query = new URLSearchParams(c.url.searchParams);
    const last = c.request.headers.get("last-event-id");
    if (last !== null && !query.has("after")) query.set("after", last);
    if (!query.has("follow")) query.set("follow", "true");
    return asServerSentEvents(streamEvents(eventsFor(fleet, c), query));
  });

  app.post("/api/commands", { role: "operate", devices: "one" }, async (c) => {
    const body = await readJson(c.request);
    onlyFields(body, ["message", "device", "door", "timeoutMs"]);
    const device = textField(body, "device", 64);
    allowDevice(c, device);
    const message = base64Field(body, "message");
    const timeoutMs = body.timeoutMs;
    if (timeoutMs !== undefined && (typeof timeoutMs !== "number" || !Number.isInteger(timeoutMs))) invalid("timeoutMs must be an integer");
    const reply = await fleet.relayCommand({ message, device, door: textField(body, "door", 64), timeoutMs: timeoutMs as number | undefined });
    return json(replyToJson(reply));
  });

  registerAccessRoutes(app, options.guard);

  const document = openApiDocument();
  app.get("/api/openapi.json", { role: "public", devices: "none" }, () => json(document as unknown as Json));

  return app;
}
