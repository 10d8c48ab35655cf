// A client for the fleet server's event stream (GET /api/events/stream, host/server/export/
// event-stream.ts): JSON lines, handed over one complete line at a time.

import { GatehouseError, fail } from "../../sdk/errors";
import { answerError, readBody, serverRequest, type ServerAccess } from "./http";

export interface EventStreamRequest {
  format: "ocsf" | "gatehouse";
  /** Events with ids above this. */
  after: number;
  device?: string;
  follow: boolean;
  /** Ends the stream (a following one ends only so, or when the server closes it). */
  signal?: AbortSignal;
}

/** Longest line taken (an event is a few KiB at most). */
const MAX_LINE_BYTES = 256 * 1024;

/** Calls `onLine` with each line (without its newline); resolves when the stream ends or is aborted. */
export async function readEventStream(server: ServerAccess, request: EventStreamRequest, onLine: (line: string) => void): Promise<void> {
  const params = new URLSearchParams({ format: request.format, after: String(request.after), follow: String(request.follow) });
  if (request.device !== undefined) params.set("device", request.device);
  const path = `/api/events/stream?${params}`;
  let response;
  try {
    // No timeout: a following stream is quiet for as long as no event comes.
    response = await serverRequest(server, "GET", path, { accept: "application/x-ndjson", signal: request.signal, timeoutMs: 0 });
  } catch (e) {
    if (request.signal?.aborted) return;
    throw e;
  }
  if (response.status !== 200) throw answerError(server, "GET", path, response.status, await readBody(response, 1024 * 1024));
  const decoder = new TextDecoder();
  let buffered = "";
  try {
    for await (const chunk of response.body) {
      buffered += decoder.decode(chunk as Buffer, { stream: true });
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        onLine(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
      }
      if (buffered.length > MAX_LINE_BYTES) fail("server-error", `a line of the event stream is over ${MAX_LINE_BYTES} bytes`);
    }
  } catch (e) {
    if (request.signal?.aborted) return;
    if (e instanceof GatehouseError) throw e;
    return fail("server-unreachable", `the event stream from ${server.url} broke off: ${(e as Error).message}`);
  }
  if (request.signal?.aborted) return;
  // A connection cut in the middle ends the body without an error in node:http: only `complete` tells.
  if (!response.body.complete) fail("server-unreachable", `the event stream from ${server.url} broke off`);
  if (buffered.length > 0) fail("server-error", "the event stream ended in the middle of a line");
}
