// The door every API call goes through: who is calling, may they, and a row in the audit log either way.
// Two middlewares, installed before anything else (ApiGuard.install):
//
//   recording  outermost: after the answer is made (a streamed one: when it starts), appends the call to
//              the audit log: who, what, which device, the status and error code, time, address.
//   checking   authenticates, then for a route that is not public: 401 without valid credentials, CSRF
//              checks for a session's state-changing call, 403 below the route's role, 403 for fleet-wide
//              routes to credentials limited to some devices; then grants the call (http-app.ts refuses a
//              non-public route nobody granted). After a route that reaches one device, it makes sure the
//              handler checked the device (allowDevice): a handler that forgot is a 500, not a leak.
//
// Credentials, in this order:
//   Authorization: Bearer gh_...   a token (accounts.ts). Browsers never add this header on their own, so
//                                  token calls need no CSRF protection.
//   Cookie: gh_session=...         a session from POST /api/session (named __Host-gh_session under TLS,
//                                  which browsers only accept with Secure, Path=/ and no Domain). HttpOnly
//                                  (page scripts cannot read it) and SameSite=Strict (browsers do not send
//                                  it on requests from other sites). A session's calls other than GET and
//                                  HEAD must also carry the session's CSRF token in X-CSRF-Token (given at
//                                  login and by GET /api/session) and an Origin equal to this server's
//                                  own (scheme and Host header); Sec-Fetch-Site, when the browser sends it,
//                                  must be same-origin. A login is refused from another Origin too.
//
// Error codes (all in the one JSON error shape): unauthenticated, token-invalid, token-expired,
// token-revoked, session-expired (401); not-allowed, device-not-allowed, csrf-failed (403); login-failed
// (401), login-rate-limited (429, with Retry-After).

import { roleLevel } from "../../../sdk/doors/access";
import { GatehouseError, errorCode } from "../../../sdk/errors";
import type Database from "better-sqlite3";
import { AuditLog } from "../audit/audit-log";
import { HttpError, errorCodeOf, grantAccess, json, onlyFields, readJson, statusOfCode, textField, type Context, type HttpApp, type Middleware } from "../http-app";
import { Accounts, SESSION_MAX_MS, csrfTokenMatches, csrfTokenOf, matchesDevicePattern, type Caller } from "./accounts";
import { LoginLimiter } from "./login-limits";

export const SESSION_COOKIE = "gh_session";
/** The cookie's name under TLS: the __Host- prefix binds it to this host, Secure and Path=/. */
export const SECURE_SESSION_COOKIE = "__Host-gh_session";
export const CSRF_HEADER = "x-csrf-token";
/** The largest login body (a name and a password). */
const MAX_LOGIN_BYTES = 4096;

const CALLER = "guard.caller";
const SESSION = "guard.session";
const DEVICE = "guard.device";
const DETAIL = "guard.detail";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** The caller of a call that passed the guard (undefined on a public route called without credentials). */
export function callerOf(c: Context): Caller | undefined {
  return c.state.get(CALLER) as Caller | undefined;
}

/** Who a caller is, for messages and the audit log: "user alice", "token ci (3)". */
export function describeCaller(caller: Caller): string {
  return caller.kind === "user" ? `user ${caller.name}` : `token ${caller.name} (${caller.tokenId})`;
}

/**
 * Checks that the caller may reach `device` (a token's device pattern), and records the device for the
 * audit log. Handlers of routes that reach one device call it before they touch the device.
 */
export function allowDevice(c: Context, device: string): void {
  c.state.set(DEVICE, device);
  const caller = callerOf(c);
  if (caller && caller.devicePattern !== null && !matchesDevicePattern(caller.devicePattern, device)) {
    throw new HttpError(403, "device-not-allowed", `${describeCaller(caller)} may reach only devices matching ${JSON.stringify(caller.devicePattern)}, not ${device}`);
  }
}

/** The caller's device pattern (null: every device), for routes that narrow lists. */
export function devicePatternOf(c: Context): string | null {
  return callerOf(c)?.devicePattern ?? null;
}

/** Adds a note to the call's audit row. */
export function noteForAudit(c: Context, detail: string): void {
  const before = c.state.get(DETAIL) as string | undefined;
  c.state.set(DETAIL, before === undefined ? detail : `${before}; ${detail}`);
}

function readCookie(header: string | null, name: string): string | undefined {
  if (header === null) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function cookieName(c: Context): string {
  return c.connection.secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
}

/** This server's origin as the browser sees it: the connection's scheme and the Host header. */
function ownOrigin(c: Context): string | undefined {
  const host = c.request.headers.get("host");
  return host === null || host === "" ? undefined : `${c.connection.secure ? "https" : "http"}://${host.toLowerCase()}`;
}

function unauthenticated(code: "unauthenticated" | "token-invalid" | "token-expired" | "token-revoked" | "session-expired", message: string): HttpError {
  return new HttpError(401, code, message, { "www-authenticate": 'Bearer realm="gatehouse"' });
}

export interface GuardOptions {
  accounts: Accounts;
  audit: AuditLog;
  limiter?: LoginLimiter;
  /** The clock (ms since the epoch) for the audit log and the login limits. */
  now?: () => number;
  log?: (line: string) => void;
}

export class ApiGuard {
  readonly accounts: Accounts;
  readonly audit: AuditLog;
  readonly limiter: LoginLimiter;
  private readonly now: () => number;
  private readonly log: (line: string) => void;

  constructor(options: GuardOptions) {
    this.accounts = options.accounts;
    this.audit = options.audit;
    this.limiter = options.limiter ?? new LoginLimiter();
    this.now = options.now ?? Date.now;
    this.log = options.log ?? (() => {});
  }

  /** A guard over the people, tokens and audit log of a fleet server's database. */
  static open(db: Database.Database, options: { now?: () => number; limiter?: LoginLimiter; log?: (line: string) => void } = {}): ApiGuard {
    return new ApiGuard({ accounts: new Accounts(db, { now: options.now }), audit: new AuditLog(db), ...options });
  }

  /** Puts the guard in front of every route of `app`: call it before any other use() or route. */
  install(app: HttpApp): void {
    app.use(this.recording).use(this.checking);
  }

  private readonly recording: Middleware = async (c, next) => {
    const time = this.now();
    const response = await next();
    const caller = callerOf(c);
    const code = response.status >= 400 ? (errorCodeOf(response) ?? null) : null;
    try {
      this.audit.append({
        time,
        principalKind: caller?.kind ?? null,
        principal: caller?.name ?? null,
        tokenId: caller?.tokenId ?? null,
        role: caller?.role ?? null,
        method: c.request.method.slice(0, 16),
        route: c.route?.path ?? null,
        path: c.url.pathname + c.url.search,
        device: (c.state.get(DEVICE) as string | undefined) ?? null,
        status: response.status,
        code,
        address: c.connection.address,
        detail: (c.state.get(DETAIL) as string | undefined) ?? null,
      });
    } catch (e) {
      // The call has happened; its record could not be written. The server log keeps what is known.
      this.log(`audit: ${errorCode(e)}: ${(e as Error).message}: ${c.request.method} ${c.url.pathname} ${response.status} by ${caller ? describeCaller(caller) : "nobody"}`);
    }
    return response;
  };

  private readonly checking: Middleware = async (c, next) => {
    const route = c.route;
    const isPublic = !route || route.access.role === "public";
    let session: string | undefined;
    try {
      session = this.authenticate(c);
    } catch (e) {
      // Stale credentials do not keep anyone from a public route (the login itself, the API document).
      if (!isPublic) throw e;
    }
    if (isPublic) return next();
    const caller = callerOf(c);
    if (!caller) throw unauthenticated("unauthenticated", "this call needs credentials: Authorization: Bearer TOKEN, or a session cookie from POST /api/session");
    if (session !== undefined && !SAFE_METHODS.has(c.request.method)) this.checkCsrf(c, session);
    const needed = route.access.role as Exclude<typeof route.access.role, "public">;
    if (roleLevel(caller.role) < roleLevel(needed)) {
      throw new HttpError(403, "not-allowed", `${route.method} ${route.path} needs role ${needed}; ${describeCaller(caller)} has role ${caller.role}`);
    }
    if (route.access.devices === "fleet" && caller.devicePattern !== null) {
      throw new HttpError(403, "device-not-allowed", `${route.method} ${route.path} is fleet-wide; ${describeCaller(caller)} may reach only devices matching ${JSON.stringify(caller.devicePattern)}`);
    }
    grantAccess(c);
    const response = await next();
    if (route.access.devices === "one" && response.status < 400 && !c.state.has(DEVICE)) {
      this.log(`http ${route.method} ${route.path}: the handler answered without checking its device (allowDevice): refused`);
      throw new HttpError(500, "internal", "internal error");
    }
    return response;
  };

  /** Sets the caller from the request's credentials; returns the session secret when a cookie was used. */
  private authenticate(c: Context): string | undefined {
    const authorization = c.request.headers.get("authorization");
    if (authorization !== null) {
      const match = /^Bearer +(\S+) *$/i.exec(authorization);
      if (!match) throw unauthenticated("token-invalid", "the Authorization header must be 'Bearer TOKEN'");
      c.state.set(CALLER, this.credential(() => this.accounts.authenticateToken(match[1])));
      return undefined;
    }
    const cookie = readCookie(c.request.headers.get("cookie"), cookieName(c));
    if (cookie === undefined) return undefined;
    c.state.set(CALLER, this.credential(() => this.accounts.authenticateSession(cookie)));
    c.state.set(SESSION, cookie);
    return cookie;
  }

  private credential(check: () => Caller): Caller {
    try {
      return check();
    } catch (e) {
      if (e instanceof GatehouseError && statusOfCode(e.code) === 401) throw unauthenticated(e.code as "token-invalid", e.message);
      throw e;
    }
  }

  private checkCsrf(c: Context, session: string): void {
    const refuse: (why: string) => never = (why) => {
      throw new HttpError(403, "csrf-failed", `refused as a possible cross-site request: ${why}`);
    };
    const site = c.request.headers.get("sec-fetch-site");
    if (site !== null && site !== "same-origin") refuse(`Sec-Fetch-Site is ${site}`);
    this.checkOrigin(c, true);
    const token = c.request.headers.get(CSRF_HEADER);
    if (token === null) refuse(`a session's ${c.request.method} needs the session's CSRF token in ${CSRF_HEADER} (from the login's answer or GET /api/session)`);
    if (!csrfTokenMatches(session, token)) refuse(`${CSRF_HEADER} is not this session's CSRF token`);
  }

  /** The request's Origin must be this server's; `required`: an Origin must be there. */
  private checkOrigin(c: Context, required: boolean): void {
    const origin = c.request.headers.get("origin");
    if (origin === null) {
      if (required) throw new HttpError(403, "csrf-failed", "refused as a possible cross-site request: a session's state-changing call needs an Origin header");
      return;
    }
    const own = ownOrigin(c);
    if (own === undefined || origin.toLowerCase() !== own) throw new HttpError(403, "csrf-failed", `refused as a possible cross-site request: Origin ${origin} is not this server's (${own ?? "no Host header"})`);
  }

  private sessionCookie(c: Context, value: string, maxAgeSeconds: number): string {
    return `${cookieName(c)}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${c.connection.secure ? "; Secure" : ""}`;
  }

  // ---- the session routes (http-auth-api.ts registers them) ----

  /** POST /api/session {name, password}: a session cookie and its CSRF token. */
  async login(c: Context): Promise<Response> {
    this.checkOrigin(c, false);
    const body = await readJson(c.request, MAX_LOGIN_BYTES);
    onlyFields(body, ["name", "password"]);
    const name = textField(body, "name", 64);
    const password = textField(body, "password", 1024);
    const address = c.connection.address;
    const now = this.now();
    const { account, address: perAddress } = this.limiter.limits;
    const check = this.limiter.check(name, address, now);
    if (check.limited) {
      const seconds = Math.ceil(check.retryAfterMs / 1000);
      noteForAudit(c, `login as ${JSON.stringify(name)} refused unchecked: the ${check.scope} limit (${check.limit.failures} failures in ${check.limit.windowMs / 60_000} min) is reached; retry in ${seconds} s`);
      throw new HttpError(429, "login-rate-limited", `too many failed logins for this ${check.scope === "account" ? "account" : "address"}: try again in ${seconds} s`, { "retry-after": String(seconds) });
    }
    const user = await this.accounts.checkLogin(name, password);
    if (!user) {
      const counts = this.limiter.failed(name, address, this.now());
      noteForAudit(
        c,
        `login as ${JSON.stringify(name)} failed: ${counts.account} of ${account.failures} failures for the account and ${counts.address} of ${perAddress.failures} for the address within ${account.windowMs / 60_000} min`,
      );
      throw new HttpError(401, "login-failed", "wrong name or password");
    }
    this.limiter.succeeded(name);
    const session = this.accounts.createSession(user.name, address);
    c.state.set(CALLER, { kind: "user", name: user.name, role: user.role, devicePattern: null, expiresAt: session.expiresAt } satisfies Caller);
    noteForAudit(c, "logged in");
    return json(
      { caller: { kind: "user", name: user.name, role: user.role, devicePattern: null, expiresAt: session.expiresAt }, csrfToken: session.csrfToken },
      201,
      { "set-cookie": this.sessionCookie(c, session.secret, Math.floor(SESSION_MAX_MS / 1000)) },
    );
  }

  /** GET /api/session: who the caller is, and a session's CSRF token. */
  whoami(c: Context): Response {
    const caller = callerOf(c) as Caller;
    const session = c.state.get(SESSION) as string | undefined;
    return json({
      caller: { kind: caller.kind, name: caller.name, role: caller.role, devicePattern: caller.devicePattern, expiresAt: caller.expiresAt ?? null, ...(caller.tokenId !== undefined ? { tokenId: caller.tokenId } : {}) },
      ...(session !== undefined ? { csrfToken: csrfTokenOf(session) } : {}),
    });
  }

  /** DELETE /api/session: ends the session and clears its cookie. */
  logout(c: Context): Response {
    const session = c.state.get(SESSION) as string | undefined;
    if (session === undefined) throw new HttpError(400, "invalid-input", "this call carries a token, not a session: there is nothing to log out of (revoke a token with DELETE /api/tokens/:id)");
    this.accounts.endSession(session);
    noteForAudit(c, "logged out");
    return json({ ended: true }, 200, { "set-cookie": this.sessionCookie(c, "", 0) });
  }
}
