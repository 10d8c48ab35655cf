// The rules table (rules.ts) as a broker enforces it in-process: who may connect, and where each client
// may publish, subscribe and receive. The embedded aedes broker (host/sim/broker.ts) takes its hooks from
// here; mosquitto takes the same rules as files (mosquitto.ts). Host side only.
//
// Beyond what mosquitto's files can say, a client id is bound to its identity here: a device must connect
// with its id as client id, and no one may use another identity's username as a client id. So no client
// can take a device's or the server's persistent session over (docs/protocol.md section 6). mosquitto
// prevents the same with use_username_as_clientid, which the fleet's tools do not require (docs/broker.md).

import type { BrokerIdentity } from "./identities";
import { passwordMatches } from "./identities";
import { DEFAULT_TOPIC_PREFIX, mayPublish, mayReceive, maySubscribe, permissions, type BrokerRole, type Permissions } from "./rules";

/** MQTT 3.1.1 CONNACK return codes the refusals use. */
export const CONNACK_BAD_CREDENTIALS = 4;
export const CONNACK_NOT_AUTHORIZED = 5;

/** A client that logged in: its identity and what the rules let it do. */
export interface Authenticated {
  readonly username: string;
  readonly role: BrokerRole;
  readonly name: string;
  readonly permissions: Permissions;
}

export type LoginResult = { ok: true; client: Authenticated } | { ok: false; returnCode: number; reason: string };

export interface BrokerAccess {
  /** Checks a CONNECT's credentials and client id. */
  login(clientId: string, username: string | undefined, password: Uint8Array | undefined): LoginResult;
  mayPublish(client: Authenticated, topic: string): boolean;
  maySubscribe(client: Authenticated, filter: string): boolean;
  mayReceive(client: Authenticated, topic: string): boolean;
  /** The usernames that may log in. */
  readonly usernames: readonly string[];
}

/** Access for these identities (revoked ones and those without a password may not log in here). */
export function brokerAccess(identities: readonly BrokerIdentity[], prefix = DEFAULT_TOPIC_PREFIX): BrokerAccess {
  const byName = new Map<string, { identity: BrokerIdentity; client: Authenticated }>();
  for (const identity of identities) {
    if (identity.revoked || identity.password === undefined) continue;
    byName.set(identity.username, {
      identity,
      client: { username: identity.username, role: identity.role, name: identity.name, permissions: permissions(identity.role, identity.name, prefix) },
    });
  }
  return {
    usernames: [...byName.keys()],
    login(clientId, username, password) {
      const entry = username === undefined ? undefined : byName.get(username);
      // The password is compared even for an unknown name (with a throwaway), so timing tells nothing.
      const matches = passwordMatches(entry?.identity.password ?? "\u0000", password ?? new Uint8Array(0));
      if (!entry || password === undefined || !matches) return { ok: false, returnCode: CONNACK_BAD_CREDENTIALS, reason: `bad username or password${username === undefined ? " (none given)" : ` for ${JSON.stringify(username)}`}` };
      if (entry.client.role === "device" && clientId !== entry.client.username) {
        return { ok: false, returnCode: CONNACK_NOT_AUTHORIZED, reason: `device ${entry.client.username} must connect with its id as client id, not ${JSON.stringify(clientId)}` };
      }
      if (clientId !== entry.client.username && byName.has(clientId)) {
        return { ok: false, returnCode: CONNACK_NOT_AUTHORIZED, reason: `${entry.client.username} may not use ${clientId}'s client id` };
      }
      return { ok: true, client: entry.client };
    },
    mayPublish: (client, topic) => mayPublish(client.permissions, topic),
    maySubscribe: (client, filter) => maySubscribe(client.permissions, filter),
    mayReceive: (client, topic) => mayReceive(client.permissions, topic),
  };
}
