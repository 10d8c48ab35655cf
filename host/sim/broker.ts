// An MQTT broker inside this process (aedes, in-memory persistence), for the demo and local runs: no
// install, no config, gone when stopped. For anything real, point the devices and the server at a broker
// of your own (mosquitto, EMQX, HiveMQ, ...) instead: everything speaks plain MQTT 3.1.1.
//
// With `access` (host/broker/access.ts: the fleet's broker identities and the one rules table) it enforces
// the same rules as the mosquitto configuration `gatehouse broker-config` writes: clients log in, and each
// publishes, subscribes and receives only where its role allows. A refused publication ends the client's
// connection (MQTT 3.1.1 has no way to refuse one alone; mosquitto drops it silently instead), a refused
// subscription is answered with failure (0x80), and a message is forwarded only to clients that may read it.

import { createServer, type AddressInfo, type Socket } from "node:net";
import { Aedes, type AedesOptions, type AuthenticateError, type Client } from "aedes";
import type { Authenticated, BrokerAccess } from "../broker/access";

export interface EmbeddedBroker {
  /** e.g. mqtt://127.0.0.1:41234 */
  readonly url: string;
  readonly port: number;
  /** The aedes instance, for tests that watch the broker itself. */
  readonly broker: Aedes;
  stop(): Promise<void>;
}

export interface EmbeddedBrokerOptions {
  /** Default 127.0.0.1: loopback only. */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  /** Enforce these identities and rules; without it anyone may do anything (the broker of a test). */
  access?: BrokerAccess;
  /** Refusals (a failed login, a publication or subscription outside the rules), one line each. */
  log?: (line: string) => void;
}

/** aedes's hooks for `access`: who logged in is kept per client object. */
function accessHooks(access: BrokerAccess, log: (line: string) => void): AedesOptions {
  const clients = new WeakMap<Client, Authenticated>();
  return {
    authenticate(client, username, password, done) {
      const result = access.login(client.id, username, password);
      if (result.ok) {
        clients.set(client, result.client);
        done(null, true);
        return;
      }
      log(`broker: refused ${JSON.stringify(client.id)}: ${result.reason}`);
      const error = Object.assign(new Error(result.reason), { returnCode: result.returnCode }) as AuthenticateError;
      done(error, null);
    },
    authorizePublish(client, packet, done) {
      const who = client ? clients.get(client) : undefined;
      if (who && access.mayPublish(who, packet.topic)) {
        done(null);
        return;
      }
      log(`broker: refused a publication on ${packet.topic} by ${who?.username ?? "an unknown client"}`);
      done(new Error(`not allowed to publish on ${packet.topic}`));
    },
    authorizeSubscribe(client, subscription, done) {
      const who = client ? clients.get(client) : undefined;
      if (who && access.maySubscribe(who, subscription.topic)) {
        done(null, subscription);
        return;
      }
      log(`broker: refused a subscription to ${subscription.topic} by ${who?.username ?? "an unknown client"}`);
      done(null, null); // granted 0x80 for this filter, the others go on
    },
    authorizeForward(client, packet) {
      const who = clients.get(client);
      return who && access.mayReceive(who, packet.topic) ? packet : null;
    },
  };
}

/** Starts aedes on `host` (default 127.0.0.1: loopback only) and `port` (default 0: any free port). */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = options.host ?? "127.0.0.1";
  const broker = await Aedes.createBroker(options.access ? accessHooks(options.access, options.log ?? (() => {})) : {});
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    broker.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let stopped = false;
  return {
    url: `mqtt://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    broker,
    async stop() {
      if (stopped) return;
      stopped = true;
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
