// Requests to a fleet server, for the CLI and scripts: node:http or node:https (fetch in Node 20 cannot
// be given a CA of one's own), with the caller's token and a CA for servers whose certificate no public
// CA signed (a self-signed one, a company CA).
//
//   const server = loadServerAccess({ url: "https://fleet:8443", tokenFile: "ci.token", caFile: "ca.pem" });
//   const response = await serverRequest(server, "GET", "/api/devices");
//
// The token comes from a file (--token-file) or GATEHOUSE_TOKEN, never from the command line (where
// `ps` and shell histories show it). Error codes: token-file (a token file that cannot be read or holds
// no token), tls-invalid (a CA file that is not PEM), server-unreachable, usage (a bad URL).

import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { GatehouseError, fail } from "../../sdk/errors";
import { readFileBounded } from "../files";

export interface ServerAccess {
  /** Base URL without a trailing slash: http:// or https://. */
  readonly url: string;
  /** An API token (gh_...), sent as Authorization: Bearer. */
  readonly token?: string;
  /** PEM certificates to trust for https:// instead of the system's CAs. */
  readonly ca?: string;
}

export const TOKEN_PATTERN = /^gh_[A-Za-z0-9_-]{43}$/;
/** The environment variable a token may come from. */
export const TOKEN_ENV = "GATEHOUSE_TOKEN";

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

function checkToken(text: string, where: string): string {
  const token = text.trim();
  if (!TOKEN_PATTERN.test(token)) fail("token-file", `${where} holds no Gatehouse token (gh_ and 43 characters, as 'gatehouse token create' prints)`);
  return token;
}

/**
 * The server, the caller's token (from `tokenFile`, else from GATEHOUSE_TOKEN in `env`, else none) and a
 * CA file's certificates.
 */
export function loadServerAccess(options: { url: string; tokenFile?: string; caFile?: string; env?: NodeJS.ProcessEnv }): ServerAccess {
  const url = serverBase(options.url);
  const env = options.env ?? process.env;
  let token: string | undefined;
  if (options.tokenFile !== undefined) token = checkToken(Buffer.from(readFileBounded(options.tokenFile, { maxBytes: 4096, code: "token-file" })).toString("utf8"), options.tokenFile);
  else if (env[TOKEN_ENV] !== undefined && env[TOKEN_ENV] !== "") token = checkToken(env[TOKEN_ENV] as string, TOKEN_ENV);
  let ca: string | undefined;
  if (options.caFile !== undefined) {
    ca = Buffer.from(readFileBounded(options.caFile, { maxBytes: 1024 * 1024 })).toString("utf8");
    if (!ca.includes("-----BEGIN CERTIFICATE-----")) fail("tls-invalid", `${options.caFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
    if (!url.startsWith("https:")) fail("usage", "--ca goes with an https:// server");
  }
  return { url, token, ca };
}

export interface ServerResponse {
  status: number;
  headers: IncomingMessage["headers"];
  /** The body as it arrives. */
  body: IncomingMessage;
}

/** Sends one request; resolves when the answer's head has arrived. */
export function serverRequest(
  server: ServerAccess,
  method: string,
  path: string,
  options: { body?: unknown; accept?: string; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<ServerResponse> {
  const url = new URL(`${server.url}${path}`);
  const headers: Record<string, string> = { accept: options.accept ?? "application/json" };
  if (server.token !== undefined) headers.authorization = `Bearer ${server.token}`;
  let payload: Buffer | undefined;
  if (options.body !== undefined) {
    payload = Buffer.from(JSON.stringify(options.body));
    headers["content-type"] = "application/json";
    headers["content-length"] = String(payload.length);
  }
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    let request;
    try {
      request = send(url, { method, headers, ca: server.ca, signal: options.signal, timeout: options.timeoutMs ?? 30_000 }, (response) => {
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: response });
      });
    } catch (e) {
      reject(new GatehouseError("tls-invalid", `cannot use the CA certificates: ${(e as Error).message}`));
      return;
    }
    request.on("timeout", () => request.destroy(new GatehouseError("server-unreachable", `${method} ${url.href}: no answer within ${options.timeoutMs ?? 30_000} ms`)));
    request.on("error", (e: NodeJS.ErrnoException) => {
      if (e instanceof GatehouseError) reject(e);
      else if (e.name === "AbortError") reject(e);
      else if (/certificate|self.signed|CERT_|unable to verify|TLS|SSL/i.test(`${e.code ?? ""} ${e.message}`)) reject(new GatehouseError("server-unreachable", `cannot reach ${server.url}: TLS: ${e.message} (a server with a certificate of its own needs --ca FILE)`));
      else reject(new GatehouseError("server-unreachable", `cannot reach ${url.href}: ${e.code ?? e.message}`));
    });
    request.end(payload);
  });
}

/** Reads a whole answer body as text, at most `maxBytes`. */
export async function readBody(response: ServerResponse, maxBytes = 64 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      response.body.destroy();
      fail("server-error", `the server's answer is over ${maxBytes} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The server's error answer as a GatehouseError with its code (a hint for missing credentials). */
export function answerError(server: ServerAccess, method: string, path: string, status: number, text: string): GatehouseError {
  let error: { code?: unknown; message?: unknown } | undefined;
  try {
    error = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
  } catch {
    error = undefined;
  }
  if (!error || typeof error.code !== "string") return new GatehouseError("server-error", `${method} ${server.url}${path}: HTTP ${status}${text ? `, not a Gatehouse error: ${text.slice(0, 120)}` : ""}`);
  let message = typeof error.message === "string" ? error.message : `HTTP ${status}`;
  if (status === 401 && server.token === undefined) message += ` (give a token with --token-file FILE or ${TOKEN_ENV})`;
  return new GatehouseError(error.code, message);
}
