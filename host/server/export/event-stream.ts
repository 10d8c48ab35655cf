// GET /api/events/stream: the security events as JSON lines (one object per line, oldest first), for
// SIEM collectors and `gatehouse events --format ocsf`. Kept apart from http.ts: it needs only the
// events, a signal of new ones, and a Node request and response.
//
//   ?format=ocsf       OCSF 1.6.0 API Activity events (default; docs/events.md has the mapping)
//   ?format=gatehouse  the rows of GET /api/events
//   ?after=ID          only events with larger ids (default 0: from the first); a collector that
//                      remembers the last id it stored (metadata.uid in OCSF) resumes without gaps
//   ?device=ID         only this device's events
//   ?follow=true       keep the response open and write new events as they are stored
//
// Pages of MAX_EVENT_LIMIT rows are read and written with backpressure (the next page waits until the
// client has taken the last), so a slow reader holds a socket, not memory. At most MAX_EVENT_STREAMS
// are open at once per server (server-busy, 503, beyond).

import type { IncomingMessage, ServerResponse } from "node:http";
import { fail } from "../../../sdk/errors";
import { MAX_EVENT_LIMIT, type EventFilter, type EventRow } from "../store";
import type { EventSignal } from "./event-signal";
import { toOcsf } from "./ocsf";

export const MAX_EVENT_STREAMS = 32;
export const EVENT_STREAM_FORMATS = ["ocsf", "gatehouse"] as const;

/** What the stream reads: FleetServer is one. */
export interface EventSource {
  events(filter: EventFilter): EventRow[];
  readonly newEvents: EventSignal;
}

const openStreams = new WeakMap<EventSource, number>();

function invalid(message: string): never {
  return fail("invalid-input", message);
}

function parseQuery(query: URLSearchParams): { format: (typeof EVENT_STREAM_FORMATS)[number]; after: number; device?: string; follow: boolean } {
  for (const key of query.keys()) if (!["format", "after", "device", "follow"].includes(key)) invalid(`unknown parameter ${JSON.stringify(key)} (expected format, after, device, follow)`);
  const format = query.get("format") ?? "ocsf";
  if (!(EVENT_STREAM_FORMATS as readonly string[]).includes(format)) invalid(`format must be ${EVENT_STREAM_FORMATS.join(" or ")}`);
  const afterText = query.get("after") ?? "0";
  if (!/^\d{1,16}$/.test(afterText) || !Number.isSafeInteger(Number(afterText))) invalid("after must be an event id (an integer, 0 or more)");
  const device = query.get("device") ?? undefined;
  if (device !== undefined && (device.length === 0 || device.length > 64)) invalid("device must be 1 to 64 characters");
  const followText = query.get("follow") ?? "false";
  if (!["true", "false", "1", "0"].includes(followText)) invalid("follow must be true or false");
  return { format: format as (typeof EVENT_STREAM_FORMATS)[number], after: Number(afterText), device, follow: followText === "true" || followText === "1" };
}

/** Resolves when the client can take more, or the connection is gone. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

export async function streamEvents(source: EventSource, _req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
  const { format, after, device, follow } = parseQuery(query);
  const open = openStreams.get(source) ?? 0;
  if (open >= MAX_EVENT_STREAMS) fail("server-busy", `${MAX_EVENT_STREAMS} event streams are open already`);
  openStreams.set(source, open + 1);

  let closed = false;
  /** Set by every signal; cleared before each read, so a signal during a write is not missed. */
  let signaled = false;
  let wake: (() => void) | undefined;
  const onClose = (): void => {
    closed = true;
    wake?.();
  };
  res.on("close", onClose);
  const unlisten = source.newEvents.listen(() => {
    signaled = true;
    wake?.();
  });
  try {
    res.writeHead(200, { "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-store", "x-content-type-options": "nosniff" });
    // Headers go out now: a following client sees the stream is open before the first event.
    res.flushHeaders();
    let cursor = after;
    while (!closed) {
      signaled = false;
      const page = source.events({ afterId: cursor, device, limit: MAX_EVENT_LIMIT });
      for (const row of page) {
        cursor = row.id;
        if (!res.write(JSON.stringify(format === "ocsf" ? toOcsf(row) : row) + "\n")) await drained(res);
        if (closed) break;
      }
      if (page.length === MAX_EVENT_LIMIT) continue;
      if (!follow) break;
      if (!signaled) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          if (closed) resolve();
        });
        wake = undefined;
      }
    }
    if (!closed) res.end();
  } finally {
    unlisten();
    res.off("close", onClose);
    openStreams.set(source, (openStreams.get(source) ?? 1) - 1);
  }
}
