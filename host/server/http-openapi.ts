// The OpenAPI 3.1 document of the fleet server's API, served at GET /api/openapi.json. Written by hand
// (what each route takes and gives, in words and JSON Schema) and checked by test/api-access.test.ts against
// the routes the app really has: every route is documented with the role and device scope it was
// registered with (x-gatehouse-role, x-gatehouse-devices) and the security that follows from them, every
// documented operation exists, and the answers of real calls fit the documented schemas. A new route
// without documentation fails that test.

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const nullable = (type: string, extra: Schema = {}): Schema => ({ type: [type, "null"], ...extra });
const object = (properties: Record<string, Schema>, required: string[] = Object.keys(properties), extra: Schema = {}): Schema => ({
  type: "object",
  properties,
  required,
  ...extra,
});
const closed = (properties: Record<string, Schema>, required: string[] = Object.keys(properties)): Schema => object(properties, required, { additionalProperties: false });
const array = (items: Schema, extra: Schema = {}): Schema => ({ type: "array", items, ...extra });
const ROLE = { type: "string", enum: ["view", "operate", "manage", "administer"] };
const ANY: Schema = {};

const STATUS_TEXT: Record<number, string> = {
  400: "Bad input: invalid-input, invalid-json, key-invalid, command-mismatch, password-invalid, cose-*, cbor-*",
  401: "No valid credentials: unauthenticated, token-invalid, token-expired, token-revoked, session-expired (login-failed for a login)",
  403: "Refused: not-allowed (the role is too small), device-not-allowed (outside the token's device pattern), csrf-failed",
  404: "Not found: unknown-device, user-unknown, token-unknown",
  408: "body-timeout: the body did not arrive in time",
  409: "Conflict: device-conflict, user-exists, too-many-users, too-many-tokens",
  413: "too-large: the body is over its limit",
  415: "unsupported-media-type: the body must be application/json",
  429: "login-rate-limited: too many failed logins for the account or the address (Retry-After says when to try again)",
  502: "broker-error",
  503: "server-busy or server-stopped",
  504: "no-result: the device did not answer in time",
};

function errors(...statuses: number[]): Record<string, Schema> {
  return Object.fromEntries(statuses.map((s) => [String(s), { $ref: `#/components/responses/E${s}` }]));
}

function ok(description: string, schema: Schema, status = 200): Record<string, Schema> {
  return { [String(status)]: { description, content: { "application/json": { schema } } } };
}

function body(schema: Schema): Schema {
  return { required: true, content: { "application/json": { schema } } };
}

function query(name: string, description: string, schema: Schema): Schema {
  return { name, in: "query", required: false, description, schema };
}

function pathParam(name: string, description: string): Schema {
  return { name, in: "path", required: true, description, schema: { type: "string" } };
}

type Role = "public" | "view" | "operate" | "manage" | "administer";
type Devices = "one" | "filtered" | "none" | "fleet";

interface Operation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  role: Role;
  devices: Devices;
  parameters?: Schema[];
  requestBody?: Schema;
  responses: Record<string, Schema>;
}

function operation(method: string, o: Operation): Schema {
  const { role, devices, ...rest } = o;
  const stateChanging = method !== "get";
  const security = role === "public" ? [] : [{ bearer: [] }, stateChanging ? { session: [], csrf: [] } : { session: [] }];
  const refusals = role === "public" ? {} : errors(401, 403);
  return { ...rest, security, "x-gatehouse-role": role, "x-gatehouse-devices": devices, responses: { ...o.responses, ...refusals } };
}

const DEVICE_ROW = {
  id: { type: "string" },
  publicKey: { type: "string", description: "the device's public COSE_Key, hex" },
  alg: { type: "string" },
  online: { type: "boolean" },
  session: nullable("integer"),
  deathSession: nullable("integer"),
  firmware: nullable("string"),
  patch: nullable("integer"),
  epoch: nullable("integer"),
  lastSeen: nullable("integer", { description: "ms since the epoch of the last publication accepted" }),
  birthSeq: nullable("integer"),
  dropped: { type: "object", additionalProperties: { type: "integer" } },
  registeredAt: { type: "integer" },
};

const SCHEMAS: Record<string, Schema> = {
  Error: closed({ error: closed({ code: { type: "string", pattern: "^[a-z0-9]+(-[a-z0-9]+)*$" }, message: { type: "string" } }) }),
  DeviceSummary: object({ ...DEVICE_ROW, doorNames: array({ type: "string" }) }),
  Device: object({
    ...DEVICE_ROW,
    doors: array(ANY, { description: "door descriptions from the latest birth (docs/protocol.md section 5)" }),
    telemetry: array(object({ device: { type: "string" }, door: { type: "string" }, event: { type: "string" }, data: ANY, time: nullable("integer"), receivedAt: { type: "integer" }, seq: { type: "integer" } })),
    results: array(
      object({
        id: { type: "integer" },
        receivedAt: { type: "integer" },
        device: { type: "string" },
        ref: { type: "string" },
        sender: nullable("string"),
        cmdSeq: nullable("integer"),
        door: nullable("string"),
        op: nullable("string"),
        ok: { type: "boolean" },
        value: ANY,
        code: nullable("string"),
        message: nullable("string"),
        seq: { type: "integer" },
      }),
    ),
  }),
  Event: object({
    id: { type: "integer" },
    receivedAt: { type: "integer" },
    device: { type: "string" },
    source: { type: "string", enum: ["device", "server"] },
    code: { type: "string" },
    allowed: { type: "boolean" },
    principal: nullable("string"),
    door: nullable("string"),
    op: nullable("string"),
    deviceTime: nullable("integer"),
    uptime: nullable("number"),
    suppressed: { type: "integer" },
    seq: nullable("integer"),
    detail: nullable("string"),
  }),
  CommandReply: object(
    {
      ok: { type: "boolean", description: "whether the device ran the command (false: it refused, with code and message)" },
      verified: { type: "boolean", description: "the result's signature was checked with the device's registered key" },
      device: { type: "string" },
      seq: { type: "integer" },
      ref: { type: "string" },
      value: ANY,
      code: { type: "string" },
      message: { type: "string" },
      sender: { type: "string" },
      result: { type: "string", description: "the device's signed result (COSE_Sign1), hex, to verify again" },
    },
    ["ok", "verified", "device", "seq", "ref", "result"],
  ),
  Caller: object(
    {
      kind: { type: "string", enum: ["user", "token"] },
      name: { type: "string" },
      role: ROLE,
      devicePattern: nullable("string"),
      expiresAt: nullable("integer"),
      tokenId: { type: "integer" },
    },
    ["kind", "name", "role", "devicePattern", "expiresAt"],
  ),
  User: object({ name: { type: "string" }, role: ROLE, createdAt: { type: "integer" }, passwordChangedAt: { type: "integer" }, sessions: { type: "integer" } }),
  Token: object({
    id: { type: "integer" },
    name: { type: "string" },
    role: ROLE,
    devicePattern: nullable("string"),
    createdAt: { type: "integer" },
    createdBy: { type: "string" },
    expiresAt: nullable("integer"),
    lastUsedAt: nullable("integer"),
    expired: { type: "boolean" },
  }),
  AuditEntry: object({
    id: { type: "integer" },
    time: { type: "integer" },
    principalKind: nullable("string", { enum: ["user", "token", null] }),
    principal: nullable("string"),
    tokenId: nullable("integer"),
    role: nullable("string"),
    method: { type: "string" },
    route: nullable("string"),
    path: { type: "string" },
    device: nullable("string"),
    status: { type: "integer" },
    code: nullable("string"),
    address: { type: "string" },
    detail: nullable("string"),
  }),
};

const NAME = { type: "string", pattern: "^[a-z0-9][a-z0-9._-]{0,63}$" };

function paths(): Record<string, Record<string, Schema>> {
  return {
    "/api/devices": {
      get: operation("get", {
        operationId: "listDevices",
        summary: "Devices, by id (a device-limited token sees only its devices)",
        tags: ["devices"],
        role: "view",
        devices: "filtered",
        parameters: [query("after", "only devices with ids after this one (the `next` of the previous page)", { type: "string" }), query("limit", "devices per page, 1 to 1000 (default 1000)", { type: "integer", minimum: 1, maximum: 1000 })],
        responses: { ...ok("A page of devices", closed({ devices: array(ref("DeviceSummary")), next: nullable("string", { description: "the last id of this page when more follow" }) })), ...errors(400) },
      }),
      post: operation("post", {
        operationId: "registerDevice",
        summary: "Register a device's public key",
        description: "201 when new, 200 when the same key is registered already; another key for the id is refused (device-conflict).",
        tags: ["devices"],
        role: "manage",
        devices: "one",
        requestBody: body(closed({ id: { type: "string", pattern: "^[a-z0-9-]{1,32}$" }, key: { type: "string", description: "the public COSE_Key, base64" } })),
        responses: {
          ...ok("Registered now", closed({ device: ref("Device"), change: { const: "created" } }), 201),
          ...ok("Registered already with this key", closed({ device: ref("Device"), change: { const: "unchanged" } })),
          ...errors(400, 408, 409, 413, 415),
        },
      }),
    },
    "/api/devices/{id}": {
      get: operation("get", {
        operationId: "getDevice",
        summary: "One device with its doors, latest telemetry and latest results",
        tags: ["devices"],
        role: "view",
        devices: "one",
        parameters: [pathParam("id", "the device id")],
        responses: { ...ok("The device", closed({ device: ref("Device") })), ...errors(400, 404) },
      }),
    },
    "/api/events": {
      get: operation("get", {
        operationId: "listEvents",
        summary: "Security events, device and server, oldest first",
        tags: ["events"],
        role: "view",
        devices: "filtered",
        parameters: [
          query("device", "only this device's events", { type: "string" }),
          query("after", "only events with larger ids (without: the latest `limit`)", { type: "integer", minimum: 0 }),
          query("limit", "1 to 1000 (default 100)", { type: "integer", minimum: 1, maximum: 1000 }),
        ],
        responses: { ...ok("Events", closed({ events: array(ref("Event")), lastId: nullable("integer") })), ...errors(400) },
      }),
    },
    "/api/events/stream": {
      get: operation("get", {
        operationId: "streamEvents",
        summary: "Security events as JSON lines or server-sent events, optionally following new ones",
        description:
          "JSON lines (application/x-ndjson), one event per line in OCSF 1.6.0 API Activity or as the rows of GET /api/events (docs/events.md). With Accept: text/event-stream the same events come as server-sent events (one per event, its id as the SSE id; follow defaults to true and Last-Event-ID resumes), for a browser's EventSource.",
        tags: ["events"],
        role: "view",
        devices: "filtered",
        parameters: [
          query("format", "ocsf (default) or gatehouse", { type: "string", enum: ["ocsf", "gatehouse"] }),
          query("after", "only events with larger ids (default 0)", { type: "integer", minimum: 0 }),
          query("device", "only this device's events", { type: "string" }),
          query("follow", "keep the answer open and send new events as they are stored", { type: "string", enum: ["true", "false", "1", "0"] }),
        ],
        responses: {
          "200": {
            description: "The events",
            content: { "application/x-ndjson": { schema: { type: "string" } }, "text/event-stream": { schema: { type: "string" } } },
          },
          ...errors(400, 503),
        },
      }),
    },
    "/api/commands": {
      post: operation("post", {
        operationId: "relayCommand",
        summary: "Relay a command signed by the caller and wait for the device's verified result",
        description: "The server never signs: `message` is a COSE_Sign1 command made with the operator's own key (gatehouse send, or a browser). A refusal by the device is a 200 with ok false.",
        tags: ["commands"],
        role: "operate",
        devices: "one",
        requestBody: body(
          closed(
            {
              message: { type: "string", description: "the signed command (COSE_Sign1), base64" },
              device: { type: "string" },
              door: { type: "string" },
              timeoutMs: { type: "integer", minimum: 1, maximum: 120000 },
            },
            ["message", "device", "door"],
          ),
        ),
        responses: { ...ok("The device's reply", ref("CommandReply")), ...errors(400, 404, 408, 413, 415, 502, 503, 504) },
      }),
    },
    "/api/session": {
      post: operation("post", {
        operationId: "login",
        summary: "Log in: a session cookie (HttpOnly, SameSite=Strict, Secure under TLS) and its CSRF token",
        description:
          "Send the CSRF token in X-CSRF-Token on every call of the session other than GET. Failed logins are limited per account and per address (429 login-rate-limited with Retry-After); every attempt is in the audit log.",
        tags: ["session"],
        role: "public",
        devices: "none",
        requestBody: body(closed({ name: { type: "string" }, password: { type: "string" } })),
        responses: {
          "201": {
            description: "Logged in",
            headers: { "Set-Cookie": { description: "gh_session (__Host-gh_session under TLS)", schema: { type: "string" } } },
            content: { "application/json": { schema: closed({ caller: ref("Caller"), csrfToken: { type: "string" } }) } },
          },
          ...errors(400, 401, 403, 408, 413, 415, 429, 503),
        },
      }),
      get: operation("get", {
        operationId: "whoami",
        summary: "Who is calling; for a session also its CSRF token",
        tags: ["session"],
        role: "view",
        devices: "none",
        responses: { ...ok("The caller", closed({ caller: ref("Caller"), csrfToken: { type: "string" } }, ["caller"])), ...errors(400) },
      }),
      delete: operation("delete", {
        operationId: "logout",
        summary: "Log out: ends the session and clears its cookie",
        tags: ["session"],
        role: "view",
        devices: "none",
        responses: { ...ok("Logged out", closed({ ended: { const: true } })), ...errors(400) },
      }),
    },
    "/api/users": {
      get: operation("get", {
        operationId: "listUsers",
        summary: "People who can log in",
        tags: ["people"],
        role: "administer",
        devices: "fleet",
        responses: { ...ok("Users", closed({ users: array(ref("User")) })), ...errors(400) },
      }),
      post: operation("post", {
        operationId: "addUser",
        summary: "Add a person (password: 12 to 1024 characters)",
        tags: ["people"],
        role: "administer",
        devices: "fleet",
        requestBody: body(closed({ name: NAME, role: ROLE, password: { type: "string", minLength: 12 } })),
        responses: { ...ok("Added", closed({ user: ref("User") }), 201), ...errors(400, 408, 409, 413, 415, 503) },
      }),
    },
    "/api/users/{name}": {
      delete: operation("delete", {
        operationId: "removeUser",
        summary: "Remove a person; their sessions end",
        tags: ["people"],
        role: "administer",
        devices: "fleet",
        parameters: [pathParam("name", "the user's name")],
        responses: { ...ok("Removed", closed({ removed: { type: "string" } })), ...errors(404) },
      }),
    },
    "/api/tokens": {
      get: operation("get", {
        operationId: "listTokens",
        summary: "API tokens that are not revoked (never their secrets)",
        tags: ["tokens"],
        role: "administer",
        devices: "fleet",
        responses: { ...ok("Tokens", closed({ tokens: array(ref("Token")) })), ...errors(400) },
      }),
      post: operation("post", {
        operationId: "createToken",
        summary: "Create an API token: its secret is in this answer only",
        tags: ["tokens"],
        role: "administer",
        devices: "fleet",
        requestBody: body(
          closed(
            {
              name: NAME,
              role: ROLE,
              devicePattern: nullable("string", { pattern: "^[a-z0-9*?-]{1,64}$", description: "only devices whose id matches (* and ? wildcards)" }),
              expiresDays: nullable("integer", { minimum: 1, maximum: 3650 }),
            },
            ["name", "role"],
          ),
        ),
        responses: { ...ok("Created", closed({ token: ref("Token"), secret: { type: "string", pattern: "^gh_[A-Za-z0-9_-]{43}$" } }), 201), ...errors(400, 408, 409, 413, 415) },
      }),
    },
    "/api/tokens/{id}": {
      delete: operation("delete", {
        operationId: "revokeToken",
        summary: "Revoke a token: it is refused from now on (token-revoked)",
        tags: ["tokens"],
        role: "administer",
        devices: "fleet",
        parameters: [pathParam("id", "the token's id")],
        responses: { ...ok("Revoked", closed({ revoked: { type: "integer" } })), ...errors(404) },
      }),
    },
    "/api/audit": {
      get: operation("get", {
        operationId: "listAudit",
        summary: "The audit log: every API call, allowed or refused, oldest first",
        tags: ["audit"],
        role: "administer",
        devices: "fleet",
        parameters: [
          query("after", "only entries with larger ids", { type: "integer", minimum: 0 }),
          query("before", "the latest `limit` entries with smaller ids (to page back)", { type: "integer", minimum: 1 }),
          query("limit", "1 to 1000 (default 100)", { type: "integer", minimum: 1, maximum: 1000 }),
          query("device", "only calls that named this device", { type: "string" }),
          query("principal", "only calls by this user or token name", { type: "string" }),
        ],
        responses: { ...ok("Entries", closed({ entries: array(ref("AuditEntry")), lastId: nullable("integer") })), ...errors(400) },
      }),
    },
    "/api/openapi.json": {
      get: operation("get", {
        operationId: "openApi",
        summary: "This document",
        tags: ["meta"],
        role: "public",
        devices: "none",
        responses: ok("The OpenAPI document", { type: "object" }),
      }),
    },
  };
}

/** The document (a fresh copy). */
export function openApiDocument(): Record<string, unknown> {
  const responses = Object.fromEntries(
    Object.entries(STATUS_TEXT).map(([status, description]) => [`E${status}`, { description, content: { "application/json": { schema: ref("Error") } } }]),
  );
  return {
    openapi: "3.1.0",
    info: {
      title: "Gatehouse fleet server API",
      version: "1",
      description:
        "Every call needs credentials and a role (view < operate < manage < administer), except logging in and this document: Authorization: Bearer TOKEN (gatehouse token create), or the session cookie of POST /api/session with its CSRF token in X-CSRF-Token on calls other than GET. Without credentials: 401; with too small a role: 403. Every error is {\"error\": {\"code\", \"message\"}} with a stable code (docs/protocol.md section 7). Every call, allowed or refused, is in the audit log (GET /api/audit). docs/api.md explains it.",
    },
    tags: ["devices", "events", "commands", "session", "people", "tokens", "audit", "meta"].map((name) => ({ name })),
    paths: paths(),
    components: {
      schemas: SCHEMAS,
      responses,
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "an API token: gh_ and 43 characters (gatehouse token create, POST /api/tokens)" },
        session: { type: "apiKey", in: "cookie", name: "gh_session", description: "the session cookie of POST /api/session (named __Host-gh_session under TLS)" },
        csrf: { type: "apiKey", in: "header", name: "X-CSRF-Token", description: "the session's CSRF token (from the login's answer or GET /api/session); with a session, every call other than GET needs it and a same-origin Origin" },
      },
    },
  };
}
