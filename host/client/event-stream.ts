// A client for the fleet server's event stream (GET /api/events/stream, host/server/export/
// event-stream.ts): JSON lines, handed over one complete line at a time.

import { GatehouseError, fail } from "../../sdk/errors";
import { serverBase } from "./api";

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
export async function readEventStream(base: string, request: EventStreamRequest, onLine: (line: string) => void): Promise<void> {
  const params = new URLSearchParams({ format: request.format, after: String(request.after), follow: String(request.follow) });
  if (request.device !== undefined) params.set("device", request.device);
  const url = `${serverBase(base)}/api/events/stream?${params}`;
  let response: Response;
  try {
    response = await fetch(url, { headers: { accept: "application/x-ndjson" }, signal: request.signal });
  } catch (e) {
    if (request.signal?.aborted) return;
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    return fail("server-unreachable", `cannot reach ${url}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
  }
  if (!response.ok) {
    const text = await response.text();
    let error: { code?: unknown; message?: unknown } | undefined;
    try {
      error = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
    } catch {
      error = undefined;
    }
    if (error && typeof error.code === "string") throw new GatehouseError(error.code, typeof error.message === "string" ? error.message : `HTTP ${response.status}`);
    return fail("server-error", `GET ${url}: HTTP ${response.status}`);
  }
  if (!response.body) return;
  const decoder = new TextDecoder();
  let buffered = "";
  try {
    for await (const chunk of response.body) {
      buffered += decoder.decode(chunk, { stream: true });
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
    return fail("server-unreachable", `the event stream from ${serverBase(base)} broke off: ${(e as Error).message}`);
  }
  if (buffered.length > 0) fail("server-error", "the event stream ended in the middle of a line");
}
