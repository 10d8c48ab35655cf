// The dashboard on the API's port: GET / and /app/* are the dashboard's files; every other path goes to
// the API app (and through its guard and audit log). The files are public (the page asks for a login
// before it shows anything; all data comes from the API) and are not audited: they are the same bytes
// for everyone.
//
// Every file answer carries a Content-Security-Policy that allows scripts, styles and connections from
// this origin only: no inline script or style attribute, no other origin, no framing, no plugins. The
// page has no inline script, and uPlot sets styles through the CSSOM, which the policy allows.

import { errorJson, type Connection } from "../http-app";
import type { FetchHandler } from "../http-serve";
import type { DashboardAssets } from "./assets";

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const FILE_HEADERS: Record<string, string> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  // The files change only with a new server: browsers check again each time (cheap: they are small).
  "cache-control": "no-cache",
};

/** Whether a path is the dashboard's rather than the API's. */
function isDashboardPath(pathname: string): boolean {
  return pathname === "/" || pathname.startsWith("/app/");
}

/** `api` with the dashboard's files in front of it. */
export function withDashboard(api: FetchHandler, assets: DashboardAssets): FetchHandler {
  return {
    async fetch(request: Request, connection: Connection): Promise<Response> {
      const { pathname } = new URL(request.url);
      if (!isDashboardPath(pathname)) return api.fetch(request, connection);
      const file = assets.get(pathname);
      if (!file) return withHeaders(errorJson(404, "not-found", `no such file: ${pathname}`));
      if (request.method !== "GET" && request.method !== "HEAD") return withHeaders(errorJson(405, "method-not-allowed", `${request.method} is not allowed here`, { allow: "GET, HEAD" }));
      return new Response(request.method === "HEAD" ? null : (file.body as Uint8Array<ArrayBuffer>), { status: 200, headers: { ...FILE_HEADERS, "content-type": file.type } });
    },
  };
}

function withHeaders(response: Response): Response {
  for (const [name, value] of Object.entries(FILE_HEADERS)) response.headers.set(name, value);
  return response;
}
