// A small client for the fleet server's JSON API (host/server/http-api.ts), for the CLI and scripts. Errors
// come back as the server's own {error: {code, message}}, thrown as GatehouseError with that code.
// Requests go through http.ts: the caller's token, a CA of one's own for https.

import { fail } from "../../sdk/errors";
import { answerError, readBody, serverRequest, type ServerAccess } from "./http";

export { loadServerAccess, serverBase, type ServerAccess } from "./http";

export interface ApiOptions {
  /** Abort the request after this many ms (default 30 s). */
  timeoutMs?: number;
}

export async function apiRequest(server: ServerAccess, method: "GET" | "POST" | "DELETE", path: string, body?: unknown, options: ApiOptions = {}): Promise<unknown> {
  const response = await serverRequest(server, method, path, { body, timeoutMs: options.timeoutMs });
  const text = await readBody(response);
  if (response.status < 200 || response.status >= 300) throw answerError(server, method, path, response.status, text);
  try {
    return JSON.parse(text);
  } catch {
    return fail("server-error", `${method} ${server.url}${path}: HTTP ${response.status}, not JSON: ${text.slice(0, 120)}`);
  }
}
