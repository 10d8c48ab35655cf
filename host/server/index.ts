// The fleet server: fleet-server.ts (the core: ingestion, registry, command relay; no HTTP), store.ts
// (SQLite), api.ts (the narrow interface the core offers), http-app.ts (a Request -> Response app whose
// routes declare their access), auth/ (people, tokens, sessions, the guard every call goes through),
// audit/ (the append-only audit log), http-api.ts and http-auth-api.ts (the JSON API over any FleetApi),
// http-openapi.ts (its OpenAPI document) and http-serve.ts (serving an app on node:http or node:https).
export { FleetServer, DEFAULT_SERVER_CLIENT_ID, type Activity, type FleetServerOptions } from "./fleet-server";
export type { DeviceDetail, FleetApi, RelayRequest } from "./api";
export type { DeviceRow, EventFilter, EventRow, KeyChange, ResultRow, TelemetryRow } from "./store";
export { createFleetHttpApi } from "./http-api";
export { HttpApp, HttpError, MAX_BODY_BYTES, grantAccess, json, readJson, type Access, type Connection, type Context, type Handler, type Middleware, type RouteInfo } from "./http-app";
export { serveHttp, type ServedHttp, type ServeOptions } from "./http-serve";
export { Accounts, type Caller, type TokenRow, type UserRow } from "./auth/accounts";
export { ApiGuard, allowDevice, callerOf, devicePatternOf } from "./auth/guard";
export { LoginLimiter, LOGIN_LIMITS } from "./auth/login-limits";
export { AuditLog, type AuditEntry } from "./audit/audit-log";
export { openApiDocument } from "./http-openapi";
