// An MQTT broker inside this process (aedes, in-memory persistence), for the demo and local runs: no
// install, no config, gone when stopped. For anything real, point the devices and the server at a broker
// of your own (mosquitto, EMQX, HiveMQ, ...) instead: everything speaks plain MQTT 3.1.1.

import { createServer, type AddressInfo, type Socket } from "node:net";
import { Aedes } from "aedes";

export interface EmbeddedBroker {
  /** e.g. mqtt://127.0.0.1:41234 */
  readonly url: string;
  readonly port: number;
  /** The aedes instance, for tests that watch the broker itself. */
  readonly broker: Aedes;
  stop(): Promise<void>;
}

/** Starts aedes on `host` (default 127.0.0.1: loopback only) and `port` (default 0: any free port). */
export async function startEmbeddedBroker(options: { host?: string; port?: number } = {}): Promise<EmbeddedBroker> {
  const host = options.host ?? "127.0.0.1";
  const broker = await Aedes.createBroker();
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
