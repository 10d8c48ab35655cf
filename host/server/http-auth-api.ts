// The API's routes for people, tokens, sessions and the audit log (the guard, auth/guard.ts, checks every
// call to them as to any other route).
//
//                                              role        devices
//   POST   /api/session   {name, password}     public      none    log in: 201, a session cookie and its
//                                                                  CSRF token ({caller, csrfToken})
//   GET    /api/session                        view        none    who is calling ({caller, csrfToken?})
//   DELETE /api/session                        view        none    log out (a session's cookie)
//   GET    /api/users                          administer  fleet   {users}
//   POST   /api/users     {name, role, password}  administer fleet 201 {user}
//   DELETE /api/users/:name                    administer  fleet   {removed}; the user's sessions end
//   GET    /api/tokens                         administer  fleet   {tokens} (never their secrets)
//   POST   /api/tokens    {name, role, devicePattern?, expiresDays?}
//                                              administer  fleet   201 {token, secret}: the secret only now
//   DELETE /api/tokens/:id                     administer  fleet   {revoked}
//   GET    /api/audit?after=&before=&limit=&device=&principal=
//                                              administer  fleet   {entries, lastId}

import type { Json } from "../client/json-view";
import { MAX_AUDIT_LIMIT } from "./audit/audit-log";
import { checkDevicePattern, checkExpiresDays, checkName, checkRole } from "./auth/accounts";
import { callerOf, describeCaller, noteForAudit, type ApiGuard } from "./auth/guard";
import { HttpError, invalid, json, onlyFields, onlyParams, queryUint, readJson, type HttpApp } from "./http-app";

/** Bodies of these routes are small: names, a role, a password. */
const MAX_BODY = 8 * 1024;

export function registerAccessRoutes(app: HttpApp, guard: ApiGuard): void {
  const { accounts, audit } = guard;

  app.post("/api/session", { role: "public", devices: "none" }, (c) => guard.login(c));
  app.get("/api/session", { role: "view", devices: "none" }, (c) => {
    onlyParams(c.url.searchParams, []);
    return guard.whoami(c);
  });
  app.delete("/api/session", { role: "view", devices: "none" }, (c) => guard.logout(c));

  app.get("/api/users", { role: "administer", devices: "fleet" }, (c) => {
    onlyParams(c.url.searchParams, []);
    return json({ users: accounts.users() as unknown as Json });
  });

  app.post("/api/users", { role: "administer", devices: "fleet" }, async (c) => {
    const body = await readJson(c.request, MAX_BODY);
    onlyFields(body, ["name", "role", "password"]);
    const name = checkName(body.name, "user");
    const role = checkRole(body.role);
    if (typeof body.password !== "string") invalid("password must be a string");
    noteForAudit(c, `add user ${name} with role ${role}`);
    const user = await accounts.addUser(name, role, body.password);
    return json({ user: user as unknown as Json }, 201);
  });

  app.delete("/api/users/:name", { role: "administer", devices: "fleet" }, (c) => {
    noteForAudit(c, `remove user ${c.params.name}`);
    accounts.removeUser(c.params.name);
    return json({ removed: c.params.name });
  });

  app.get("/api/tokens", { role: "administer", devices: "fleet" }, (c) => {
    onlyParams(c.url.searchParams, []);
    return json({ tokens: accounts.tokens() as unknown as Json });
  });

  app.post("/api/tokens", { role: "administer", devices: "fleet" }, async (c) => {
    const body = await readJson(c.request, MAX_BODY);
    onlyFields(body, ["name", "role", "devicePattern", "expiresDays"]);
    const name = checkName(body.name, "token");
    const role = checkRole(body.role);
    const devicePattern = body.devicePattern === undefined || body.devicePattern === null ? null : checkDevicePattern(body.devicePattern);
    const expiresDays = body.expiresDays === undefined || body.expiresDays === null ? undefined : checkExpiresDays(body.expiresDays);
    const caller = callerOf(c);
    const { secret, token } = accounts.createToken({ name, role, devicePattern, expiresDays, createdBy: caller ? describeCaller(caller) : "api" });
    noteForAudit(c, `create token ${token.id} (${name}) with role ${role}${devicePattern !== null ? ` for devices ${devicePattern}` : ""}`);
    return json({ token: token as unknown as Json, secret }, 201);
  });

  app.delete("/api/tokens/:id", { role: "administer", devices: "fleet" }, (c) => {
    if (!/^\d{1,15}$/.test(c.params.id)) throw new HttpError(404, "token-unknown", `no token ${c.params.id}`);
    const id = Number(c.params.id);
    const token = accounts.revokeToken(id);
    noteForAudit(c, `revoke token ${id} (${token.name})`);
    return json({ revoked: id });
  });

  app.get("/api/audit", { role: "administer", devices: "fleet" }, (c) => {
    const query = c.url.searchParams;
    onlyParams(query, ["after", "before", "limit", "device", "principal"]);
    const afterId = queryUint(query, "after", 0, Number.MAX_SAFE_INTEGER);
    const beforeId = queryUint(query, "before", 1, Number.MAX_SAFE_INTEGER);
    if (afterId !== undefined && beforeId !== undefined) invalid("give after or before, not both");
    const limit = queryUint(query, "limit", 1, MAX_AUDIT_LIMIT);
    const device = query.get("device") ?? undefined;
    const principal = query.get("principal") ?? undefined;
    for (const [name, value] of [
      ["device", device],
      ["principal", principal],
    ] as const) {
      if (value !== undefined && (value.length === 0 || value.length > 64)) invalid(`${name} must be 1 to 64 characters`);
    }
    const entries = audit.entries({ afterId, beforeId, limit, device, principal });
    const lastId = entries.length > 0 ? entries[entries.length - 1].id : (afterId ?? null);
    return json({ entries: entries as unknown as Json, lastId });
  });
}

