// A small HTTP application in the shape of Hono's app/server split: handlers take the web standard
// Request and give a Response (both global in Node 20), routes are matched by method and path pattern,
// and middleware wraps every request. The app knows no socket and no server: http-serve.ts runs one on
// node:http(s) and hands each request's connection (address, TLS) along; a test calls app.fetch() directly.
//
// Every route declares who may call it when it is registered (Access: a role or "public", and which
// devices it reaches), so a route without a declared role cannot exist. The app enforces only that
// something checked: a request to a route that is not public reaches its handler only after a middleware
// granted it (grantAccess); otherwise it is refused (500, logged), never answered. What the check is
// (credentials, roles, device patterns, CSRF, the audit log) is middleware: auth/guard.ts.
//
// Every error is a JSON answer {"error": {"code", "message"}} with a fitting status: an HttpError as
// thrown, a GatehouseError by its code (STATUS_OF_CODE), anything else 500 "internal" (logged, not told).
// Every answer carries `cache-control: no-store` and `x-content-type-options: nosniff`.

import { GatehouseError, errorCode } from "../../sdk/errors";
import type { ErrorCode } from "../../sdk/error-codes";
import type { Role } from "../../sdk/doors/access";
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
  // The API's own access checks (auth/guard.ts) and people and tokens (auth/accounts.ts).
  unauthenticated: 401,
  "token-invalid": 401,
  "token-expired": 401,
  "token-revoked": 401,
  "session-expired": 401,
  "login-failed": 401,
  "not-allowed": 403,
  "device-not-allowed": 403,
  "csrf-failed": 403,
  "login-rate-limited": 429,
  "password-invalid": 400,
  "user-exists": 409,
  "user-unknown": 404,
  "token-unknown": 404,
  "too-many-users": 409,
  "too-many-tokens": 409,
};

/** The status a GatehouseError's code answers with. */
export function statusOfCode(code: string): number {
  return STATUS_OF_CODE[code] ?? (/^(cose-|cbor-|alg-)/.test(code) ? 400 : 500);
}

/** The error code of each error answer this module made (the audit log records it). */
const errorCodes = new WeakMap<Response, string>();

/** The code of an error answer ({"error": {"code"}}) made here; undefined for any other answer. */
export function errorCodeOf(response: Response): string | undefined {
  return errorCodes.get(response);
}

/** What the server knows of the connection a request came on (the Request itself does not carry it). */
export interface Connection {
  /** The peer's IP address ("" when unknown: a request made in-process). */
  readonly address: string;
  /** Whether it came over TLS. */
  readonly secure: boolean;
}

const IN_PROCESS: Connection = { address: "", secure: false };

/** Who may call a route: declared with the route, when it is registered. */
export interface Access {
  /** The least role a caller needs (view < operate < manage < administer), or "public": no credentials. */
  readonly role: Role | "public";
  /**
   * Which devices the route reaches, for credentials limited to some (a token's device pattern):
   *   "one"       one device the request names; the handler checks it (allowDevice) before it touches it
   *   "filtered"  lists the handler narrows to the caller's devices
   *   "none"      no device data (the caller's own session, the API document)
   *   "fleet"     fleet-wide (people, tokens, the audit log): refused to credentials limited to some devices
   */
  readonly devices: "one" | "filtered" | "none" | "fleet";
}

export interface Context {
  readonly request: Request;
  readonly url: URL;
  readonly connection: Connection;
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
  readonly access: Access;
}

/** Contexts a middleware has let through to a route that is not public. */
const granted = new WeakSet<Context>();

/** Lets this request reach its route's handler (the access check, auth/guard.ts, calls it). */
export function grantAccess(c: Context): void {
  granted.add(c);
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

/** Every refusal has one form: {"error": {"code", "message"}} with the code's status. */
export function errorJson(status: number, code: string, message: string, headers: Record<string, string> = {}): Response {
  const response = json({ error: { code, message } }, status, headers);
  errorCodes.set(response, code);
  return response;
}

function errorResponse(e: unknown, log: (line: string) => void, c: { method: string; url: string }): Response {
  if (e instanceof HttpError) return errorJson(e.status, e.code, e.message, e.headers);
  if (e instanceof GatehouseError) {
    const code = e.code === "usage" ? "invalid-input" : e.code;
    const status = statusOfCode(e.code);
    if (status === 500) log(`http ${c.method} ${c.url}: ${e.code}: ${e.stack ?? e.message}`);
    return errorJson(status, code, e.message);
  }
  log(`http ${c.method} ${c.url}: ${errorCode(e)}: ${(e as Error)?.stack ?? String(e)}`);
  return errorJson(500, "internal", "internal error");
}

const DEVICE_SCOPES = new Set(["one", "filtered", "none", "fleet"]);
const ROLE_NAMES = new Set(["public", "view", "operate", "manage", "administer"]);

function isAccess(access: unknown): access is Access {
  if (access === null || typeof access !== "object") return false;
  const { role, devices } = access as Record<string, unknown>;
  return typeof role === "string" && ROLE_NAMES.has(role) && typeof devices === "string" && DEVICE_SCOPES.has(devices);
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

  on(method: string, path: string, access: Access, handler: Handler): this {
    if (!isAccess(access)) throw new GatehouseError("internal", `route ${method} ${path} declares no valid access`);
    const upper = method.toUpperCase();
    if (this.table.some((r) => r.method === upper && r.path === path)) throw new GatehouseError("internal", `route ${upper} ${path} is registered twice`);
    this.table.push({ method: upper, path, access: Object.freeze({ role: access.role, devices: access.devices }), handler, ...compile(path) });
    return this;
  }

  get(path: string, access: Access, handler: Handler): this {
    return this.on("GET", path, access, handler);
  }

  post(path: string, access: Access, handler: Handler): this {
    return this.on("POST", path, access, handler);
  }

  delete(path: string, access: Access, handler: Handler): this {
    return this.on("DELETE", path, access, handler);
  }

  /** Every route, as registered, with its access (the OpenAPI document is checked against this). */
  routes(): RouteInfo[] {
    return this.table.map(({ method, path, access }) => ({ method, path, access }));
  }

  /** Answers one request. Never rejects: every failure is a JSON error answer. */
  async fetch(request: Request, connection: Connection = IN_PROCESS): Promise<Response> {
    let response: Response;
    try {
      response = await this.dispatch(request, connection);
    } catch (e) {
      response = errorResponse(e, this.log, { method: request.method, url: request.url });
    }
    if (!response.headers.has("cache-control")) response.headers.set("cache-control", "no-store");
    response.headers.set("x-content-type-options", "nosniff");
    return response;
  }

  private async dispatch(request: Request, connection: Connection): Promise<Response> {
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
    const context: Context = { request, url, connection, route: route && { method: route.method, path: route.path, access: route.access }, params, state: new Map() };
    const last: Handler = async (c) => {
      if (route) {
        // Fail closed: a route that is not public runs only when a middleware checked the caller.
        if (route.access.role !== "public" && !granted.has(c)) {
          this.log(`http ${request.method} ${route.path}: refused: no access check granted this request (is the guard installed?)`);
          throw new HttpError(500, "internal", "internal error");
        }
        return route.handler(c);
      }
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

export function invalid(message: string): never {
  throw new HttpError(400, "invalid-input", message);
}

/** Refuses fields other than `allowed` (a misspelt optional field would otherwise be ignored silently). */
export function onlyFields(body: Record<string, unknown>, allowed: string[]): void {
  for (const key of Object.keys(body)) if (!allowed.includes(key)) invalid(`unknown field ${JSON.stringify(key)} (expected ${allowed.join(", ")})`);
}

export function textField(body: Record<string, unknown>, name: string, maxLength = 1024): string {
  const value = body[name];
  if (typeof value !== "string" || value.length === 0 || value.length > maxLength) invalid(`${name} must be a string of 1 to ${maxLength} characters`);
  return value;
}

/** Refuses query parameters other than `allowed`. */
export function onlyParams(query: URLSearchParams, allowed: string[]): void {
  for (const key of query.keys()) if (!allowed.includes(key)) invalid(`unknown parameter ${JSON.stringify(key)} (expected ${allowed.length > 0 ? allowed.join(", ") : "none"})`);
}

export function queryUint(params: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const text = params.get(name);
  if (text === null || text === "") return undefined;
  if (!/^\d{1,16}$/.test(text) || Number(text) < min || Number(text) > max) invalid(`${name} must be an integer from ${min} to ${max}`);
  return Number(text);
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
