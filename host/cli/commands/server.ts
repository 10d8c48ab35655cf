import { bold, dim, green, out, parseFlags, readInput, red, required, usageError, yellow } from "../util";

export const name = "server";
export const summary = "Run the fleet server: verify and record what devices publish, relay commands";
export const usage = `Usage: gatehouse server --broker URL --db FILE [--http HOST:PORT] [--tls-cert FILE --tls-key FILE]
                        [--identities DIR]

Subscribes to every device's births, deaths, telemetry, security events and results, verifies each with
the device's registered key, and keeps the fleet's state in a SQLite database. Runs until interrupted
(Ctrl-C, SIGTERM). Prints the HTTP API's address, then a line per device going online or offline and
per security event.

The MQTT session is persistent (clean session false, client id "gatehouse-server" unless --client-id):
what devices publish while the server is down waits at the broker, up to its max_queued_messages. Run one
server per client id. It speaks MQTT 5 when the broker does, announcing a 65 KiB maximum packet size (set
message_size_limit on the broker all the same: README, "Broker settings").

Besides the devices' own events it records, with source "server", what it refused and what it did not
receive: publications that never arrived (publications-missing, with their indices), what its ingest
queue could not hold, oversized messages, cleared retained births, session takeovers, relayed commands
left unanswered (docs/protocol.md, section 7).

Every API call needs credentials and a role, except logging in and the API document: a token
('gatehouse token create --db FILE', sent as Authorization: Bearer) or a person's session ('gatehouse user
add --db FILE', then POST /api/session). Create one before you start the server, or while it runs (it
reads them from the database). Every call, allowed or refused, goes to the audit log (GET /api/audit).
docs/api.md describes the API; GET /api/openapi.json is its OpenAPI document.

The fleet console (a web dashboard: the fleet live, devices with their doors and telemetry, commands
signed in the browser with the person's own key file, security events live, the audit log, rollouts) is
served on the same address at /. Log in with a person's name and password ('gatehouse user add').

Options:
  --broker URL       mqtt://host[:port] or mqtts://host[:port]
  --db FILE          SQLite database (created if missing; ':memory:' keeps nothing); it holds the
                     users, token hashes and the audit log too: keep it private (chmod 600)
  --http HOST:PORT   serve the JSON API here (default 127.0.0.1:8080; port 0: any free port)
  --tls-cert FILE    serve HTTPS with this certificate (PEM, the chain after the certificate) ...
  --tls-key FILE     ... and its private key (PEM). Without them the API is plain HTTP: passwords,
                     tokens and cookies then cross the network in the clear (keep it on loopback)
  --identities DIR   register every DIR/<id>/device.pub (as written by 'gatehouse provision')
  --broker-identity DIR  log in to the broker as this identity (DIR/server.NAME from 'gatehouse
                     provision --role server'); over mqtts its broker-ca.pem verifies the broker
  --client-id ID     MQTT client id of the server's session (default gatehouse-server)
  --topic-prefix P   topic prefix (default gh)
  -h, --help         show this help

API (role needed): GET /api/devices, GET /api/devices/:id, GET /api/events?device=&after=&limit=,
     GET /api/events/stream?format=ocsf|gatehouse&after=&device=&follow=true (view);
     POST /api/commands {message: base64, device, door} (operate); POST /api/devices {id, key} (manage);
     /api/users, /api/tokens, GET /api/audit (administer); POST|GET|DELETE /api/session.

Webhooks added with 'gatehouse webhook add --db FILE' get every security event, signed, at least once
and in order (docs/events.md); failed deliveries are logged and retried.
`;

/** "HOST:PORT", "[v6]:PORT" or ":PORT" (loopback). */
export function parseListen(text: string): { host: string; port: number } {
  const colon = text.lastIndexOf(":");
  if (colon < 0) usageError(`--http ${JSON.stringify(text)} must be HOST:PORT`);
  let host = text.slice(0, colon) || "127.0.0.1";
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  const portText = text.slice(colon + 1);
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port > 65535) usageError(`--http port ${JSON.stringify(portText)} must be 0 to 65535`);
  return { host, port };
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/** Text from the network, safe to print: no control characters (no terminal escapes). */
export function printable(text: string | null | undefined): string {
  // eslint-disable-next-line no-control-regex
  return (text ?? "").replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
}

function time(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags({
    args: argv,
    options: {
      broker: { type: "string" },
      db: { type: "string" },
      http: { type: "string" },
      identities: { type: "string" },
      "client-id": { type: "string" },
      "broker-identity": { type: "string" },
      "topic-prefix": { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
    },
  });
  const brokerUrl = required(values.broker, "--broker");
  const dbPath = required(values.db, "--db");
  const http = parseListen(values.http ?? "127.0.0.1:8080");
  if ((values["tls-cert"] === undefined) !== (values["tls-key"] === undefined)) usageError("give both --tls-cert and --tls-key, or neither");
  const tls = values["tls-cert"] === undefined ? undefined : { cert: readInput(values["tls-cert"]), key: readInput(values["tls-key"] as string) };
  const { FleetServer, createFleetHttpApi, serveHttp, ApiGuard, buildDashboard, withDashboard } = await import("../../server/index");
  // The dashboard's scripts are bundled first: a failure stops the start before anything connects.
  const dashboard = await buildDashboard();
  const { readBrokerCredentials } = await import("../../broker/identities");
  const brokerCredentials = values["broker-identity"] !== undefined ? readBrokerCredentials(values["broker-identity"]) : undefined;
  const log = (line: string) => out(dim(`${time(Date.now())} ${printable(line)}`));

  // The core (MQTT, database, relay) and its HTTP API, apart: the API is an app over the core's FleetApi.
  const server = await FleetServer.start({
    brokerUrl,
    dbPath,
    identitiesDir: values.identities,
    clientId: values["client-id"],
    brokerCredentials,
    topicPrefix: values["topic-prefix"],
    log,
    onActivity: (activity) => {
      const now = time(Date.now());
      switch (activity.type) {
        case "online":
          out(`${now} ${green("●")} ${bold(printable(activity.device))} online${activity.firmware ? ` (firmware ${printable(activity.firmware)})` : ""}`);
          return;
        case "offline":
          out(`${now} ${red("○")} ${bold(printable(activity.device))} offline`);
          return;
        case "registered":
          out(`${now} ${dim("+")} ${printable(activity.device)} key ${activity.change}`);
          return;
        case "event": {
          const e = activity.event;
          const where = e.door ? ` ${printable(e.door)}${e.op ? ` ${printable(e.op)}` : ""}` : "";
          const who = e.principal ? ` by ${printable(e.principal)}` : "";
          const more = e.suppressed > 0 ? ` (+${e.suppressed} suppressed)` : "";
          const detail = e.detail ? ` ${dim(printable(e.detail))}` : "";
          const mark = e.allowed ? green("✓") : e.source === "server" ? red("!") : yellow("⚠");
          out(`${now} ${mark} ${e.source} event ${bold(printable(e.code))} ${printable(e.device)}${where}${who}${more}${detail}`);
          return;
        }
      }
    },
  });
  let served;
  const guard = ApiGuard.open(server.store.db, { log });
  try {
    served = await serveHttp(withDashboard(createFleetHttpApi(server, { guard, log }), dashboard), http, log, { tls });
  } catch (e) {
    await server.stop();
    throw e;
  }
  out(`gatehouse server: HTTP API on ${served.url}, database ${dbPath}, broker ${brokerUrl}`);
  out(`dashboard: ${served.url}/ (log in as a person added with 'gatehouse user add')`);
  const online = server.devices().filter((d) => d.online).length;
  out(`${server.devices().length} device(s) registered, ${online} online`);
  if (guard.accounts.users().length === 0 && guard.accounts.tokens().length === 0) {
    out(yellow(`no users or tokens yet: every API call is refused until you add one ('gatehouse token create --db ${dbPath} ...' or 'gatehouse user add --db ${dbPath} ...')`));
  }
  if (!tls && !isLoopback(http.host)) out(yellow(`note: plain HTTP on ${http.host}: passwords, tokens and session cookies cross the network in the clear (use --tls-cert and --tls-key)`));

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  out(`${signal}: stopping`);
  await served.close();
  await server.stop();
  return 0;
}
