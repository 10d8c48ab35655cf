// A small HTTP application in the shape of Hono's app/server split: handlers take the web standard
// Request and give a Response (both global in Node 20), routes are matched by method and path pattern,
// and middleware wraps every request. The app knows no socket and no server: http-serve.ts runs one on
// node:http, and a test calls app.fetch() directly. What a fleet API will grow (authentication, roles,
// an audit log, an OpenAPI document from routes(), a dashboard: issue 8) is middleware and routes.
//
// Every error is a JSON answer {"error": {"code", "message"}} with a fitting status: an HttpError as
// thrown, a GatehouseError by its code (STATUS_OF_CODE), anything else 500 "internal" (logged, not told).
// Every answer carries `cache-control: no-store` and `x-content-type-options: nosniff`.

import { GatehouseError, errorCode } from "../../sdk/errors";
import type { ErrorCode } from "../../sdk/error-codes";
import type { Json } from "../client/json-view";

/** The largest request body read (readJson). */
export const MAX_BODY_BYTES = 64 * 1024;
/** How long a request body may take to arrive (a trickled body would otherwise hold on). */
export const BODY_TIMEOUT_MS = 10_000;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** The HTTP status of a GatehouseError's code (cose-*, cbor-*, alg-*: 400; others 500). */
const STATUS_OF_CODE: Record<string, number> = {
  usage: 400,
  "invalid-input": 400,
  "key-invalid": 400,
  "command-mismatch": 400,
  "command-malformed": 400,
  "unknown-device": 404,
  "device-conflict": 409,
  "server-busy": 503,
  "no-result": 504,
  "broker-error": 502,
  "server-stopped": 503,
};

export interface Context {
  readonly request: Request;
  readonly url: URL;
  /** The route that matched ({method, path} as registered), or undefined (the answer will be 404 or 405). */
  readonly route?: RouteInfo;
  /** Path parameters by name (":id"), percent-decoded. */
  readonly params: Readonly<Record<string, string>>;
  /** What middleware hands on to later middleware and handlers (an authenticated principal, say). */
  readonly state: Map<string, unknown>;
}

export type Handler = (c: Context) => Response | Promise<Response>;
export type Middleware = (c: Context, next: () => Promise<Response>) => Promise<Response>;

export interface RouteInfo {
  readonly method: string;
  /** The pattern as registered: "/api/devices/:id". */
  readonly path: string;
}

interface Route extends RouteInfo {
  readonly pattern: RegExp;
  readonly names: string[];
  readonly handler: Handler;
}

/** A JSON answer. */
export function json(body: Json, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json; charset=utf-8", ...headers } });
}

function errorResponse(e: unknown, log: (line: string) => void, c: { method: string; url: string }): Response {
  if (e instanceof HttpError) return json({ error: { code: e.code, message: e.message } }, e.status, e.headers);
  if (e instanceof GatehouseError) {
    const code = e.code === "usage" ? "invalid-input" : e.code;
    const status = STATUS_OF_CODE[e.code] ?? (/^(cose-|cbor-|alg-)/.test(e.code) ? 400 : 500);
    if (status === 500) log(`http ${c.method} ${c.url}: ${e.code}: ${e.stack ?? e.message}`);
    return json({ error: { code, message: e.message } }, status);
  }
  log(`http ${c.method} ${c.url}: ${errorCode(e)}: ${(e as Error)?.stack ?? String(e)}`);
  return json({ error: { code: "internal", message: "internal error" } }, 500);
}

function compile(path: string): { pattern: RegExp; names: string[] } {
  const names: string[] = [];
  const source = path
    .split("/")
    .map((part) => {
      if (!part.startsWith(":")) return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      names.push(part.slice(1));
      return "([^/]+)";
    })
    .join("/");
  return { pattern: new RegExp(`^${source}$`), names };
}

export class HttpApp {
  private readonly middleware: Middleware[] = [];
  private readonly table: Route[] = [];
  private readonly log: (line: string) => void;

  constructor(options: { log?: (line: string) => void } = {}) {
    this.log = options.log ?? (() => {});
  }

  /** Wraps every request, in the order added (the first added is the outermost). */
  use(middleware: Middleware): this {
    this.middleware.push(middleware);
    return this;
  }

  on(method: string, path: string, handler: Handler): this {
    this.table.push({ method: method.toUpperCase(), path, handler, ...compile(path) });
    return this;
  }

  get(path: string, handler: Handler): this {
    return this.on("GET", path, handler);
  }

  post(path: string, handler: Handler): this {
    return this.on("POST", path, handler);
  }

  /** Every route, as registered (for documentation: an OpenAPI document, a route listing). */
  routes(): RouteInfo[] {
    return this.table.map(({ method, path }) => ({ method, path }));
  }

  /** Answers one request. Never rejects: every failure is a JSON error answer. */
  async fetch(request: Request): Promise<Response> {
    let response: Response;
    try {
      response = await this.dispatch(request);
    } catch (e) {
      response = errorResponse(e, this.log, { method: request.method, url: request.url });
    }
    if (!response.headers.has("cache-control")) response.headers.set("cache-control", "no-store");
    response.headers.set("x-content-type-options", "nosniff");
    return response;
  }

  private async dispatch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const matching = this.table.filter((r) => r.pattern.test(url.pathname));
    const route = matching.find((r) => r.method === request.method);
    const params: Record<string, string> = {};
    if (route) {
      const values = (route.pattern.exec(url.pathname) as RegExpExecArray).slice(1);
      try {
        route.names.forEach((name, i) => (params[name] = decodeURIComponent(values[i])));
      } catch {
        throw new HttpError(400, "invalid-input", "bad percent-encoding in the path");
      }
    }
    const context: Context = { request, url, route: route && { method: route.method, path: route.path }, params, state: new Map() };
    const last: Handler = async (c) => {
      if (route) return route.handler(c);
      if (matching.length === 0) throw new HttpError(404, "not-found", `no such endpoint: ${url.pathname}`);
      const allowed = Array.from(new Set(matching.map((r) => r.method))).join(", ");
      throw new HttpError(405, "method-not-allowed", `${request.method} is not allowed here`, { allow: allowed });
    };
    // Each step's failure becomes its error answer right there, so an outer middleware always gets a
    // Response from next() (an audit log records refusals too).
    const run = async (i: number): Promise<Response> => {
      try {
        const middleware = this.middleware[i];
        return middleware ? await middleware(context, () => run(i + 1)) : await last(context);
      } catch (e) {
        return errorResponse(e, this.log, { method: request.method, url: request.url });
      }
    };
    return run(0);
  }
}

/**
 * The request's body as a JSON object: application/json only (which also keeps browsers from posting
 * cross-site forms), at most `maxBytes` (413 as soon as more is declared or has arrived), within
 * BODY_TIMEOUT_MS (408), whole (400 when the client went away).
 */
export async function readJson(request: Request, maxBytes = MAX_BODY_BYTES): Promise<Record<string, unknown>> {
  const type = (request.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/json") throw new HttpError(415, "unsupported-media-type", "the body must be application/json");
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > maxBytes) throw new HttpError(413, "too-large", `the body is over ${maxBytes} bytes`);
  const chunks: Uint8Array[] = [];
  if (request.body) {
    const reader = request.body.getReader();
    let size = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HttpError(408, "body-timeout", `the body did not arrive within ${BODY_TIMEOUT_MS} ms`)), BODY_TIMEOUT_MS);
    });
    try {
      for (;;) {
        let part: ReadableStreamReadResult<Uint8Array>;
        try {
          part = await Promise.race([reader.read(), late]);
        } catch (e) {
          if (e instanceof HttpError) throw e;
          // The client went away in the middle of the body: nobody is left to read the answer.
          throw new HttpError(400, "body-aborted", `the body was cut short: ${(e as Error).message}`);
        }
        if (part.done) break;
        size += part.value.length;
        if (size > maxBytes) throw new HttpError(413, "too-large", `the body is over ${maxBytes} bytes`);
        chunks.push(part.value);
      }
    } catch (e) {
      reader.cancel().catch(() => {}); // stop reading what is left (the server closes the connection)
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch (e) {
    throw new HttpError(400, "invalid-json", `the body is not JSON: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new HttpError(400, "invalid-input", "the body must be a JSON object");
  return value as Record<string, unknown>;
}
