// Credentials for tests that call the fleet server's API: a guard over a server's database and tokens
// made with the real Accounts (as `gatehouse token create` makes them).
import type { Role } from "../../sdk/doors/access";
import { ApiGuard } from "../../host/server/auth/guard";
import type { FleetServer } from "../../host/server/fleet-server";
import { Store } from "../../host/server/store";

/** The guard of `server`'s database (what `gatehouse server` installs). */
export function guardOf(server: FleetServer, options: { now?: () => number } = {}): ApiGuard {
  return ApiGuard.open(server.store.db, options);
}

/** A new token's secret. */
export function tokenFor(guard: ApiGuard, role: Role, options: { name?: string; devicePattern?: string; expiresDays?: number } = {}): string {
  return guard.accounts.createToken({ name: options.name ?? `test-${role}`, role, devicePattern: options.devicePattern, expiresDays: options.expiresDays, createdBy: "test" }).secret;
}

/** A token made in a database file before a server process opens it. */
export function tokenInFile(dbPath: string, role: Role, name = `test-${role}`): string {
  const store = new Store(dbPath);
  try {
    return tokenFor(ApiGuard.open(store.db), role, { name });
  } finally {
    store.close();
  }
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}
