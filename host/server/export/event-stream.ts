// GET /api/events/stream: the security events as JSON lines (one object per line, oldest first), for
// SIEM collectors and `gatehouse events --format ocsf`. Kept apart from http-api.ts: it needs only the
// events and a signal of new ones.
//
//   ?format=ocsf       OCSF 1.6.0 API Activity events (default; docs/events.md has the mapping)
//   ?format=gatehouse  the rows of GET /api/events
//   ?after=ID          only events with larger ids (default 0: from the first); a collector that
//                      remembers the last id it stored (metadata.uid in OCSF) resumes without gaps
//   ?device=ID         only this device's events
//   ?follow=true       keep the response open and write new events as they are stored
//
// Pages of MAX_EVENT_LIMIT rows are read as the client takes them (a pulled ReadableStream; http-serve.ts
// writes it with backpressure), so a slow reader holds a socket, not memory. At most MAX_EVENT_STREAMS
// are open at once per server (server-busy, 503, beyond).

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

/**
 * Open streams per server, counted on its event signal: a token limited to some devices reads through
 * a narrowed EventSource made per request, but shares the server's signal, so the bound still holds.
 */
const openStreams = new WeakMap<EventSignal, number>();

/** How many event streams are open on this source's server (for tests and health pages). */
export function openEventStreams(source: EventSource): number {
  return openStreams.get(source.newEvents) ?? 0;
}

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

/**
 * The stream as a web-standard Response whose body is pulled: each pull writes one page of rows, or
 * (following) waits for the next signal. The reader pulls only when the client has taken the last
 * chunk, so a slow client holds a socket, not memory. Refusals (bad query, too many streams) throw
 * before anything is sent, so they answer with the usual JSON error.
 */
export function streamEvents(source: EventSource, query: URLSearchParams): Response {
  const { format, after, device, follow } = parseQuery(query);
  const open = openStreams.get(source.newEvents) ?? 0;
  if (open >= MAX_EVENT_STREAMS) fail("server-busy", `${MAX_EVENT_STREAMS} event streams are open already`);
  openStreams.set(source.newEvents, open + 1);

  const encoder = new TextEncoder();
  let cursor = after;
  let finished = false;
  /** Set by every signal; cleared before each read, so a signal during a write is not missed. */
  let signaled = false;
  let wake: (() => void) | undefined;
  const unlisten = source.newEvents.listen(() => {
    signaled = true;
    wake?.();
  });
  const finish = (): void => {
    if (finished) return;
    finished = true;
    unlisten();
    wake?.();
    openStreams.set(source.newEvents, (openStreams.get(source.newEvents) ?? 1) - 1);
  };

  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (finished) return;
        signaled = false;
        const page = source.events({ afterId: cursor, device, limit: MAX_EVENT_LIMIT });
        if (page.length > 0) {
          cursor = page[page.length - 1].id;
          controller.enqueue(encoder.encode(page.map((row) => JSON.stringify(format === "ocsf" ? toOcsf(row) : row) + "\n").join("")));
          return;
        }
        if (!follow) {
          finish();
          controller.close();
          return;
        }
        if (!signaled) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            if (finished) resolve();
          });
          wake = undefined;
        }
      }
    },
    cancel() {
      finish();
    },
  });
  return new Response(body, { status: 200, headers: { "content-type": "application/x-ndjson; charset=utf-8" } });
}
