import type { CoseKey } from "../../../sdk/cose/key";
import type { EventBody } from "../../../sdk/session/publications";
import { fail } from "../../../sdk/errors";
import type { ServerAccess } from "../../client/http";
import { SERVER_ACCESS_HELP, SERVER_ACCESS_OPTIONS, bold, dim, note, out, parseFlags, red, required, serverAccess, usageError, yellow } from "../util";
import { printable } from "./server";

export const name = "events";
export const summary = "Show devices' security events, from a fleet server or live from the broker";
export const usage = `Usage: gatehouse events (--broker URL [--broker-identity DIR] | --server URL [--token-file FILE] [--ca FILE]) [--device ID]
                        [--follow] [--identities DIR] [--limit N] [--format table|ocsf|gatehouse] [--after ID]

Prints security events as a table: time, device, code, principal (the signer's kid in hex), door,
operation, events suppressed by the device's rate limit before this one.

  --server URL   reads the fleet server's record (GET /api/events): the latest --limit events (default
                 50), with their source: "device" (signed by the device, verified by the server) or
                 "server" (a publication the server refused: unknown device, bad signature, ...).
                 --follow then polls for new ones every second. Needs a token with role view
                 (--token-file or GATEHOUSE_TOKEN); a token limited to some devices shows only theirs.
  --broker URL   subscribes to gh/+/events (gh/ID/events with --device) and prints events as they come.
                 With --identities, each is verified with DIR/<device>/device.pub; without, they are
                 shown as unverified. Without --follow it prints what arrives within about a second
                 and exits (events are not retained: this shows only what is published meanwhile).

Options:
  --device ID        only this device
  --follow           keep printing new events until interrupted
  --identities DIR   verify events from the broker with the devices' public keys
  --broker-identity DIR  with --broker: log in as this broker identity (DIR/operator.NAME from
                     'gatehouse provision --role operator'); over mqtts its broker-ca.pem verifies the broker
  --limit N          with --server: how many past events to show (1 to 1000, default 50)
  --format F         table (default), or with --server one JSON object per line: ocsf (OCSF 1.6.0
                     API Activity events, for a SIEM; docs/events.md) or gatehouse (the server's rows).
                     Read from the server's GET /api/events/stream; --follow keeps streaming.
  --after ID         with --server: start after event ID instead of the latest --limit (0: every
                     event; an OCSF event's id is its metadata.uid)
${SERVER_ACCESS_HELP}
  -h, --help         show this help
`;

const COLUMNS = ["time", "device", "code", "principal", "door", "op", "supp"] as const;
/** Widths used when rows are printed as they come (no look-ahead to size the columns). */
const STREAM_WIDTHS = [19, 14, 18, 16, 10, 16, 4];

export interface EventLine {
  time: number | null;
  device: string;
  code: string;
  principal: string | null;
  door: string | null;
  op: string | null;
  suppressed: number;
  /** The last column: the event's source (--server) or its verification (--broker). */
  note: string;
}

function formatTime(ms: number | null): string {
  return ms === null ? "-" : new Date(ms).toISOString().replace("T", " ").slice(0, 19);
}

function cells(e: EventLine): string[] {
  return [formatTime(e.time), e.device, e.code, e.principal ?? "-", e.door ?? "-", e.op ?? "-", String(e.suppressed)].map(printable);
}

function line(values: string[], widths: number[], last: string): string {
  return values.map((v, i) => v.padEnd(widths[i])).join("  ") + "  " + last;
}

/** Prints rows; `widths` undefined: sized to fit these rows (and printed with a header). */
function printTable(rows: EventLine[], lastHeader: string, widths?: number[], header = true): number[] {
  const texts = rows.map(cells);
  const w = widths ?? COLUMNS.map((c, i) => Math.max(c.length, ...texts.map((t) => t[i].length)));
  if (header) out(bold(line(COLUMNS.map((c) => c.toUpperCase()), w, lastHeader.toUpperCase())));
  rows.forEach((row, i) => out(line(texts[i], w, row.note)));
  return w;
}

interface ApiEvent {
  id: number;
  receivedAt: number;
  device: string;
  source: string;
  code: string;
  principal: string | null;
  door: string | null;
  op: string | null;
  deviceTime: number | null;
  suppressed: number;
  detail: string | null;
}

function fromApi(e: ApiEvent): EventLine {
  const note = e.source === "server" ? red(`server${e.detail ? `: ${printable(e.detail)}` : ""}`) : "device";
  return { time: e.deviceTime ?? e.receivedAt, device: e.device, code: e.code, principal: e.principal, door: e.door, op: e.op, suppressed: e.suppressed, note };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function stopSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags({
    args: argv,
    options: {
      broker: { type: "string" },
      "broker-identity": { type: "string" },
      server: { type: "string" },
      device: { type: "string" },
      follow: { type: "boolean" },
      identities: { type: "string" },
      limit: { type: "string" },
      format: { type: "string" },
      after: { type: "string" },
      ...SERVER_ACCESS_OPTIONS,
    },
  });
  if ((values.broker === undefined) === (values.server === undefined)) usageError("give exactly one of --broker and --server");
  if (values["broker-identity"] !== undefined && values.broker === undefined) usageError("--broker-identity goes with --broker");
  if (values.limit !== undefined && values.server === undefined) usageError("--limit goes with --server");
  if (values.identities !== undefined && values.broker === undefined) usageError("--identities goes with --broker (the server verifies with its own registry)");
  const limitText = values.limit ?? "50";
  if (!/^\d{1,4}$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > 1000) usageError("--limit must be 1 to 1000");
  const format = values.format ?? "table";
  if (format !== "table" && format !== "ocsf" && format !== "gatehouse") usageError("--format must be table, ocsf or gatehouse");
  if (format !== "table" && values.server === undefined) usageError(`--format ${format} goes with --server (the server's record has the ids and times it needs)`);
  if (values.after !== undefined && (values.server === undefined || format === "table")) usageError("--after goes with --server and --format ocsf or gatehouse");
  if (values.after !== undefined && values.limit !== undefined) usageError("give --after or --limit, not both");
  const after = values.after;
  if (after !== undefined && (!/^\d{1,16}$/.test(after) || !Number.isSafeInteger(Number(after)))) usageError("--after must be an event id (an integer, 0 or more)");
  const { checkTopicLevel } = await import("../../client/mqtt");
  if (values.device !== undefined) checkTopicLevel(values.device, "--device");
  const server = await serverAccess(values);
  if (format !== "table") return streamLines(server as ServerAccess, format, values.device, after === undefined ? { limit: Number(limitText) } : { after: Number(after) }, values.follow === true);
  return server !== undefined
    ? fromServer(server, values.device, Number(limitText), values.follow === true)
    : fromBroker(required(values.broker, "--broker"), values["broker-identity"], values.device, values.identities, values.follow === true);
}

async function fromServer(server: ServerAccess, device: string | undefined, limit: number, follow: boolean): Promise<number> {
  const { apiRequest } = await import("../../client/api");
  const query = (extra: Record<string, string>) => {
    const params = new URLSearchParams(extra);
    if (device !== undefined) params.set("device", device);
    return `/api/events?${params}`;
  };
  const first = (await apiRequest(server, "GET", query({ limit: String(limit) }))) as { events?: ApiEvent[]; lastId?: number | null };
  if (!Array.isArray(first.events)) fail("server-error", "the server's answer has no events");
  let lastId = first.lastId ?? 0;
  if (!follow) {
    if (first.events.length === 0) out(dim(`no security events${device ? ` for ${printable(device)}` : ""}`));
    else printTable(first.events.map(fromApi), "source");
    return 0;
  }
  printTable(first.events.map(fromApi), "source", STREAM_WIDTHS);
  let stopped = false;
  void stopSignal().then(() => (stopped = true));
  while (!stopped) {
    await sleep(1000);
    if (stopped) break;
    const next = (await apiRequest(server, "GET", query({ after: String(lastId), limit: "1000" }))) as { events?: ApiEvent[]; lastId?: number | null };
    if (!Array.isArray(next.events)) fail("server-error", "the server's answer has no events");
    if (next.events.length > 0) printTable(next.events.map(fromApi), "source", STREAM_WIDTHS, false);
    lastId = next.lastId ?? lastId;
  }
  return 0;
}

/** --format ocsf|gatehouse: the server's event stream, one JSON object per line on standard output. */
async function streamLines(server: ServerAccess, format: "ocsf" | "gatehouse", device: string | undefined, start: { after: number } | { limit: number }, follow: boolean): Promise<number> {
  const { readEventStream } = await import("../../client/event-stream");
  let after: number;
  if ("after" in start) after = start.after;
  else {
    // The latest `limit` events: start just before the oldest of them.
    const { apiRequest } = await import("../../client/api");
    const params = new URLSearchParams({ limit: String(start.limit) });
    if (device !== undefined) params.set("device", device);
    const latest = (await apiRequest(server, "GET", `/api/events?${params}`)) as { events?: ApiEvent[]; lastId?: number | null };
    if (!Array.isArray(latest.events)) fail("server-error", "the server's answer has no events");
    after = latest.events.length > 0 ? latest.events[0].id - 1 : (latest.lastId ?? 0);
  }
  const abort = new AbortController();
  void stopSignal().then(() => abort.abort());
  await readEventStream(server, { format, after, device, follow, signal: abort.signal }, (line) => out(line));
  return 0;
}

async function fromBroker(brokerUrl: string, brokerIdentity: string | undefined, device: string | undefined, identities: string | undefined, follow: boolean): Promise<number> {
  const { connectMqtt, endMqtt, PUBLICATION_PACKET_BYTES } = await import("../../client/mqtt");
  const { loadDeviceKeys } = await import("../../client/device-keys");
  const { openPublication } = await import("../../client/results");
  const { PUBLICATIONS } = await import("../../../sdk/session/publications");
  const { ReplayWindow } = await import("../../../sdk/command/replay");
  const { nodeCrypto } = await import("../../../ports/node/crypto");
  const { errorCode } = await import("../../../sdk/errors");

  let keys: Map<string, CoseKey> | undefined;
  if (identities !== undefined) {
    const scan = loadDeviceKeys(identities);
    for (const skipped of scan.skipped) note(yellow(`skipped ${printable(skipped)}`, process.stderr));
    keys = scan.keys;
  }
  const seen = new ReplayWindow();
  let printed = 0;
  const printRow = (row: EventLine): void => {
    printTable([row], "check", STREAM_WIDTHS, printed === 0);
    printed++;
  };

  const handle = (topic: string, payload: Uint8Array): void => {
    const levels = topic.split("/");
    if (levels.length !== 3 || levels[2] !== PUBLICATIONS.event.topic) return;
    const from = levels[1];
    let body: EventBody;
    let check: string;
    try {
      let key: CoseKey | undefined;
      if (keys) {
        key = keys.get(from);
        if (!key) {
          printRow({ time: Date.now(), device: from, code: "-", principal: null, door: null, op: null, suppressed: 0, note: red("refused: no key for this device in --identities") });
          return;
        }
      }
      const opened = openPublication(payload, "event", from, key, nodeCrypto);
      body = opened.body;
      check = opened.verified ? "verified" : yellow("UNVERIFIED");
    } catch (e) {
      printRow({ time: Date.now(), device: from, code: "-", principal: null, door: null, op: null, suppressed: 0, note: red(`refused: ${errorCode(e)}`) });
      return;
    }
    try {
      seen.check(from, body.seq);
      seen.accept(from, body.seq);
    } catch {
      return; // a redelivery
    }
    printRow({ time: body.time ?? Date.now(), device: from, code: body.code, principal: body.principal, door: body.door, op: body.op, suppressed: body.suppressed, note: check });
  };

  const { readBrokerCredentials } = await import("../../broker/identities");
  const credentials = brokerIdentity !== undefined ? readBrokerCredentials(brokerIdentity) : undefined;
  const client = await connectMqtt(brokerUrl, { clean: true, credentials, maxPacketBytes: PUBLICATION_PACKET_BYTES, onMessage: handle });
  try {
    const topic = `gh/${device ?? "+"}/events`;
    await client.subscribeAsync(topic, { qos: 1 });
    if (follow) {
      note(dim(`listening on ${topic}${keys ? "" : " (unverified: no --identities)"}; Ctrl-C to stop`, process.stderr));
      await stopSignal();
    } else {
      await sleep(1000);
      if (printed === 0) out(dim(`no security events arrived${device ? ` from ${printable(device)}` : ""} (events are not retained; use --follow to wait for them, or --server for the record)`));
    }
  } finally {
    await endMqtt(client);
  }
  return 0;
}
