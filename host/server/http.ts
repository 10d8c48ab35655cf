// The fleet server's JSON API (node:http). Thin handlers over FleetServer; every input is checked here
// or by the server, and every error is JSON: {"error": {"code", "message"}} with a fitting status.
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
// Byte strings in responses are hex. POST bodies must be application/json (which also keeps browsers
// from posting cross-site forms here) and at most 64 KiB. The API has no authentication: bind it to
// loopback (the default of `gatehouse server`) or put it behind something that authenticates.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { decodeKey } from "../../sdk/cose/key";
import { GatehouseError, errorCode } from "../../sdk/errors";
import { replyToJson } from "../client/results";
import type { Json } from "../client/json";
import { MAX_EVENT_LIMIT } from "./store";
import { streamEvents } from "./export/event-stream";
import type { FleetServer } from "./fleet-server";

export const MAX_BODY_BYTES = 64 * 1024;
/** How long a POST body may take to arrive (a trickled body would otherwise hold on until requestTimeout). */
export const BODY_TIMEOUT_MS = 10_000;
/** Open connections at once: each costs a socket and a file descriptor. */
export const MAX_CONNECTIONS = 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const STATUS_OF_CODE: Record<string, number> = {
  usage: 400,
  "invalid-input": 400,
  "key-invalid": 400,
  "command-mismatch": 400,
  "command-malformed": 400,
  "unknown-device": 404,
  "device-conflict": 409,
  "no-result": 504,
  "broker-error": 502,
  "server-stopped": 503,
  "server-busy": 503,
};

function statusOf(e: unknown): { status: number; code: string; message: string } {
  if (e instanceof HttpError) return { status: e.status, code: e.code, message: e.message };
  if (e instanceof GatehouseError) {
    const code = e.code === "usage" ? "invalid-input" : e.code;
    const status = STATUS_OF_CODE[e.code] ?? (/^(cose-|cbor-|alg-)/.test(e.code) ? 400 : 500);
    return { status, code, message: e.message };
  }
  return { status: 500, code: "internal", message: "internal error" };
}

function send(res: ServerResponse, status: number, body: Json, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...headers,
  });
  res.end(text);
}

function invalid(message: string): never {
  throw new HttpError(400, "invalid-input", message);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/json") throw new HttpError(415, "unsupported-media-type", "the body must be application/json");
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > MAX_BODY_BYTES) throw new HttpError(413, "too-large", `the body is over ${MAX_BODY_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  const deadline = setTimeout(() => req.destroy(new HttpError(408, "body-timeout", `the body did not arrive within ${BODY_TIMEOUT_MS} ms`)), BODY_TIMEOUT_MS);
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) throw new HttpError(413, "too-large", `the body is over ${MAX_BODY_BYTES} bytes`);
      chunks.push(chunk);
    }
  } catch (e) {
    if (e instanceof HttpError) throw e;
    // The client went away in the middle of the body: nobody is left to read the answer.
    throw new HttpError(400, "body-aborted", `the body was cut short: ${(e as Error).message}`);
  } finally {
    clearTimeout(deadline);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch (e) {
    throw new HttpError(400, "invalid-json", `the body is not JSON: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) invalid("the body must be a JSON object");
  return value as Record<string, unknown>;
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

type Handler = (req: IncomingMessage, res: ServerResponse, params: string[], query: URLSearchParams) => Promise<void>;

interface Route {
  pattern: RegExp;
  methods: Record<string, Handler>;
}

function routes(server: FleetServer): Route[] {
  return [
    {
      pattern: /^\/api\/devices$/,
      methods: {
        GET: async (_req, res) => {
          const devices = server.devices().map(({ doors, ...row }) => ({
            ...row,
            doorNames: doors.map((d) => (d !== null && typeof d === "object" && !Array.isArray(d) && typeof d.name === "string" ? d.name : "?")),
          }));
          send(res, 200, { devices });
        },
        POST: async (req, res) => {
          const body = await readJson(req);
          onlyFields(body, ["id", "key"]);
          const id = textField(body, "id");
          let key;
          try {
            key = decodeKey(base64Field(body, "key"));
          } catch (e) {
            if (e instanceof HttpError) throw e;
            throw new HttpError(400, "key-invalid", `key is not a COSE_Key: ${(e as Error).message}`);
          }
          const change = server.registerDevice(id, key);
          send(res, change === "created" ? 201 : 200, { device: server.device(id) as unknown as Json, change });
        },
      },
    },
    {
      pattern: /^\/api\/devices\/([^/]+)$/,
      methods: {
        GET: async (_req, res, [id]) => {
          const device = server.device(id);
          if (!device) throw new HttpError(404, "unknown-device", `device ${id} is not registered`);
          send(res, 200, { device: device as unknown as Json });
        },
      },
    },
    {
      pattern: /^\/api\/events$/,
      methods: {
        GET: async (_req, res, _params, query) => {
          const device = query.get("device") ?? undefined;
          if (device !== undefined && (device.length === 0 || device.length > 64)) invalid("device must be 1 to 64 characters");
          const afterId = queryUint(query, "after", 0, Number.MAX_SAFE_INTEGER);
          const limit = queryUint(query, "limit", 1, MAX_EVENT_LIMIT);
          const events = server.events({ device, afterId, limit });
          const lastId = events.length > 0 ? events[events.length - 1].id : (afterId ?? null);
          send(res, 200, { events: events as unknown as Json, lastId });
        },
      },
    },
    {
      pattern: /^\/api\/events\/stream$/,
      methods: { GET: (req, res, _params, query) => streamEvents(server, req, res, query) },
    },
    {
      pattern: /^\/api\/commands$/,
      methods: {
        POST: async (req, res) => {
          const body = await readJson(req);
          onlyFields(body, ["message", "device", "door", "timeoutMs"]);
          const message = base64Field(body, "message");
          const timeoutMs = body.timeoutMs;
          if (timeoutMs !== undefined && (typeof timeoutMs !== "number" || !Number.isInteger(timeoutMs))) invalid("timeoutMs must be an integer");
          const reply = await server.relayCommand({ message, device: textField(body, "device"), door: textField(body, "door"), timeoutMs: timeoutMs as number | undefined });
          send(res, 200, replyToJson(reply));
        },
      },
    },
  ];
}

async function handle(table: Route[], req: IncomingMessage, res: ServerResponse, socket: Socket, log: (line: string) => void): Promise<void> {
  try {
    const url = new URL(req.url ?? "/", "http://localhost");
    let path: string[] | undefined;
    const route = table.find((r) => {
      const match = r.pattern.exec(url.pathname);
      if (match) path = match.slice(1);
      return match !== null;
    });
    if (!route || !path) throw new HttpError(404, "not-found", `no such endpoint: ${url.pathname}`);
    const handler = route.methods[req.method ?? ""];
    if (!handler) throw new HttpError(405, "method-not-allowed", `${req.method} is not allowed here`, { allow: Object.keys(route.methods).join(", ") });
    let params: string[];
    try {
      params = path.map((p) => decodeURIComponent(p));
    } catch {
      throw new HttpError(400, "invalid-input", "bad percent-encoding in the path");
    }
    await handler(req, res, params, url.searchParams);
  } catch (e) {
    const { status, code, message } = statusOf(e);
    if (status === 500) log(`http ${req.method} ${req.url}: ${errorCode(e)}: ${(e as Error)?.stack ?? String(e)}`);
    if (res.headersSent || socket.destroyed) {
      res.destroy();
      return;
    }
    // A body that was refused or not read to its end is not drained (it may never end): the answer
    // closes the connection, and the socket is destroyed once the answer is out.
    const unread = !req.complete;
    if (unread) res.once("finish", () => socket.destroy());
    send(res, status, { error: { code, message } }, { ...(e instanceof HttpError ? e.headers : {}), ...(unread ? { connection: "close" } : {}) });
  }
}

export function startHttp(fleet: FleetServer, listen: { host: string; port: number }, log: (line: string) => void = () => {}): Promise<{ server: Server; url: string }> {
  const table = routes(fleet);
  const server = createServer((req, res) => {
    // Taken now: once the answer is out and the connection detached, req.socket is null (reading it
    // then ended the process: issue 11).
    const socket = req.socket;
    // An aborted request, or an answer to a connection that is gone, reports through "error" events;
    // an EventEmitter without a listener throws them.
    req.on("error", () => {});
    res.on("error", () => {});
    handle(table, req, res, socket, log).catch((e: unknown) => {
      log(`http ${req.method} ${req.url}: unhandled ${errorCode(e)}: ${(e as Error)?.stack ?? String(e)}`);
      socket.destroy();
    });
  });
  // Bytes that are not HTTP: a 400 when the socket can still take it, then close.
  server.on("clientError", (_error: Error, socket: Duplex) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    socket.destroy();
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.headersTimeout = 10_000;
  server.requestTimeout = 130_000; // above the longest command relay
  return new Promise((resolve, reject) => {
    server.once("error", (e) => reject(new GatehouseError("http-listen", `cannot listen on ${listen.host}:${listen.port}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
    server.listen(listen.port, listen.host, () => {
      const address = server.address() as AddressInfo;
      const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
      resolve({ server, url: `http://${host}:${address.port}` });
    });
  });
}
