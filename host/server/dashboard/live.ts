// Live views for the dashboard as server-sent events: a stream sends a snapshot (JSON) when it differs
// from the one sent before. It looks again when new security events are stored (the core's signal) and
// on a short tick, because a device going online, a telemetry value or a firmware change raise no signal
// of their own (the core reports them only to its onActivity callback). A snapshot is one small query,
// and only open streams look: at most MAX_LIVE_STREAMS per server.
//
// Like GET /api/events/stream, the body is pulled: a client that does not read holds a socket, never a
// queue of snapshots (it gets the latest when it reads again).

import { fail } from "../../../sdk/errors";
import type { EventSignal } from "../export/event-signal";

export const MAX_LIVE_STREAMS = 32;
/** How often an open stream looks for changes that raise no signal. */
export const LIVE_TICK_MS = 200;

const openStreams = new WeakMap<EventSignal, number>();

/**
 * A text/event-stream Response of snapshots named `event`. `snapshot(signaled)` gives the current state
 * as JSON text; `signaled` says new security events were stored since the last look. With follow false
 * the stream ends after the first snapshot.
 */
export function liveStream(signal: EventSignal, event: string, snapshot: (signaled: boolean) => string, options: { follow?: boolean } = {}): Response {
  const follow = options.follow ?? true;
  const open = openStreams.get(signal) ?? 0;
  if (open >= MAX_LIVE_STREAMS) fail("server-busy", `${MAX_LIVE_STREAMS} live dashboard streams are open already`);
  openStreams.set(signal, open + 1);

  const encoder = new TextEncoder();
  let last: string | undefined;
  let signaled = true;
  let finished = false;
  let wake: (() => void) | undefined;
  const unlisten = signal.listen(() => {
    signaled = true;
    wake?.();
  });
  const finish = (): void => {
    if (finished) return;
    finished = true;
    unlisten();
    wake?.();
    openStreams.set(signal, (openStreams.get(signal) ?? 1) - 1);
  };

  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (!finished) {
        const sawSignal = signaled;
        signaled = false;
        const now = snapshot(sawSignal);
        if (now !== last) {
          last = now;
          controller.enqueue(encoder.encode(`event: ${event}\ndata: ${now}\n\n`));
          if (!follow) {
            finish();
            controller.close();
          }
          return;
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, LIVE_TICK_MS);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
          if (finished || signaled) wake();
        });
        wake = undefined;
      }
    },
    cancel() {
      finish();
    },
  });
  return new Response(body, { status: 200, headers: { "content-type": "text/event-stream; charset=utf-8" } });
}
