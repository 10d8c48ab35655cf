// A small client for the fleet server's JSON API (host/server/http-api.ts), for the CLI and scripts. Errors
// come back as the server's own {error: {code, message}}, thrown as GatehouseError with that code.

import { GatehouseError, fail } from "../../sdk/errors";

export interface ApiOptions {
  /** Abort the request after this many ms (default 30 s). */
  timeoutMs?: number;
}

/** Base URL without a trailing slash; only http:// and https://. */
export function serverBase(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return fail("usage", `not a server URL: ${JSON.stringify(url)} (e.g. http://127.0.0.1:8080)`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") fail("usage", `server URL must be http:// or https://, not ${parsed.protocol}`);
  return url.replace(/\/+$/, "");
}

export async function apiRequest(base: string, method: "GET" | "POST", path: string, body?: unknown, options: ApiOptions = {}): Promise<unknown> {
  const url = `${serverBase(base)}${path}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: body === undefined ? { accept: "application/json" } : { accept: "application/json", "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const reason = cause?.code ?? cause?.message ?? (e as Error).message;
    return fail("server-unreachable", `cannot reach ${url}: ${reason}`);
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return fail("server-error", `${method} ${url}: HTTP ${response.status}, not JSON: ${text.slice(0, 120)}`);
  }
  if (!response.ok) {
    const error = (json as { error?: { code?: unknown; message?: unknown } }).error;
    if (error && typeof error.code === "string") throw new GatehouseError(error.code, typeof error.message === "string" ? error.message : `HTTP ${response.status}`);
    return fail("server-error", `${method} ${url}: HTTP ${response.status}`);
  }
  return json;
}
