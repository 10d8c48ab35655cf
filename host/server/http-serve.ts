// Serving an HTTP app (anything with fetch(Request) -> Response, as http-app.ts makes) on node:http, or
// on node:https with a certificate and key (TLS 1.2 and later). The app gets each request's connection
// (peer address, whether TLS) with it, for the audit log, login limits and cookie flags.
// Everything about connections lives here, and nothing about routes: a bounded number of connections,
// header and request time limits, a 400 for bytes that are not HTTP, and a connection closed after an
// answer when the request's body was not read to its end (it may never end: the body is not drained).
// Answers are sent whole, except those of a streaming media type (JSON lines, server-sent events), which
// are piped as the app's body produces them, with backpressure, and cancelled when the client goes.
//
//   const served = await serveHttp(app, { host: "127.0.0.1", port: 0 });   // served.url
//   const secure = await serveHttp(app, listen, log, { tls: { cert: pem, key: pem } });   // https://...
//   await served.close();

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { Readable, type Duplex } from "node:stream";
import { GatehouseError, errorCode } from "../../sdk/errors";
import type { Connection } from "./http-app";

/** Open connections at once: each costs a socket and a file descriptor. */
export const MAX_CONNECTIONS = 1024;

export interface FetchHandler {
  fetch(request: Request, connection: Connection): Promise<Response>;
}

export interface ServeOptions {
  /** Serve HTTPS with this certificate (chain) and private key, PEM. */
  tls?: { cert: string | Uint8Array; key: string | Uint8Array };
}

export interface ServedHttp {
  /** Where it listens, e.g. "http://127.0.0.1:8080". */
  readonly url: string;
  /** Stops listening and closes every connection (answers in progress are cut). */
  close(): Promise<void>;
}

const NO_BODY = new Set(["GET", "HEAD"]);

function toPem(value: string | Uint8Array): string | Buffer {
  return typeof value === "string" ? value : Buffer.from(value);
}

/** Media types whose answers are written as they are produced rather than whole. */
const STREAMING_TYPES = new Set(["application/x-ndjson", "text/event-stream"]);

function isStreaming(response: Response): boolean {
  const type = (response.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  return response.body !== null && STREAMING_TYPES.has(type);
}

/** Writes a streaming body: one chunk at a time, waiting for the socket to drain; cancels it when the client goes. */
async function pipeBody(body: ReadableStream<Uint8Array>, res: ServerResponse): Promise<void> {
  const reader = body.getReader();
  const gone = (): void => {
    reader.cancel().catch(() => {});
  };
  res.once("close", gone);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || res.destroyed) break;
      if (!res.write(value)) await new Promise<void>((resolve) => {
        res.once("drain", resolve);
        res.once("close", resolve);
      });
    }
  } finally {
    res.off("close", gone);
    if (!res.destroyed) res.end();
  }
}

function toRequest(req: IncomingMessage): Request {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  const method = req.method ?? "GET";
  const url = new URL(req.url ?? "/", "http://localhost");
  if (NO_BODY.has(method)) return new Request(url, { method, headers });
  return new Request(url, { method, headers, body: Readable.toWeb(req) as ReadableStream<Uint8Array>, duplex: "half" } as RequestInit);
}

function plainError(res: ServerResponse, status: number, code: string, message: string): void {
  const text = JSON.stringify({ error: { code, message } });
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), connection: "close" });
  res.end(text);
}

async function answer(app: FetchHandler, req: IncomingMessage, res: ServerResponse, socket: Socket, secure: boolean): Promise<void> {
  let request: Request;
  try {
    request = toRequest(req);
  } catch (e) {
    // A request target that is no URL ("http://[::1"): nothing for the app.
    res.once("finish", () => socket.destroy());
    plainError(res, 400, "invalid-input", `not a request URL: ${(e as Error).message}`);
    return;
  }
  const response = await app.fetch(request, { address: socket.remoteAddress ?? "", secure });
  if (res.headersSent || socket.destroyed) {
    res.destroy();
    return;
  }
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => (headers[name] = value));
  // A body that was refused or not read to its end is not drained (it may never end): the answer
  // closes the connection, and the socket is destroyed once the answer is out.
  if (!req.complete) {
    headers.connection = "close";
    res.once("finish", () => socket.destroy());
  }
  if (isStreaming(response)) {
    res.writeHead(response.status, headers);
    // Headers go out now: a following client sees the stream is open before the first chunk.
    res.flushHeaders();
    await pipeBody(response.body as ReadableStream<Uint8Array>, res);
    return;
  }
  const body = response.body ? Buffer.from(await response.arrayBuffer()) : undefined;
  if (body) headers["content-length"] = String(body.length);
  if (res.headersSent || socket.destroyed) {
    res.destroy();
    return;
  }
  res.writeHead(response.status, headers);
  res.end(body);
}

/**
 * Serves `app` on `listen` (port 0: any free port). Fails with http-listen when the address is taken,
 * tls-invalid when the certificate or key cannot be used.
 */
export function serveHttp(app: FetchHandler, listen: { host: string; port: number }, log: (line: string) => void = () => {}, options: ServeOptions = {}): Promise<ServedHttp> {
  const secure = options.tls !== undefined;
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    // Taken now: once the answer is out and the connection detached, req.socket is null (reading it
    // then ended the process: issue 11).
    const socket = req.socket;
    // An aborted request, or an answer to a connection that is gone, reports through "error" events;
    // an EventEmitter without a listener throws them.
    req.on("error", () => {});
    res.on("error", () => {});
    answer(app, req, res, socket, secure).catch((e: unknown) => {
      log(`http ${req.method} ${req.url}: unhandled ${errorCode(e)}: ${(e as Error)?.stack ?? String(e)}`);
      socket.destroy();
    });
  };
  let server: Server;
  if (options.tls) {
    try {
      server = createTlsServer({ cert: toPem(options.tls.cert), key: toPem(options.tls.key), minVersion: "TLSv1.2" }, handler);
    } catch (e) {
      return Promise.reject(new GatehouseError("tls-invalid", `cannot use the TLS certificate and key: ${(e as Error).message}`));
    }
  } else {
    server = createServer(handler);
  }
  // Bytes that are not HTTP: a 400 when the socket can still take it, then close.
  server.on("clientError", (_error: Error, socket: Duplex) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    socket.destroy();
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.headersTimeout = 10_000;
  server.requestTimeout = 130_000; // above the longest command relay
  return new Promise((resolve, reject) => {
    server.once("error", (e) => reject(new GatehouseError("http-listen", `cannot listen on ${listen.host}:${listen.port}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
    server.listen(listen.port, listen.host, () => {
      const address = server.address() as AddressInfo;
      const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
      let closed: Promise<void> | undefined;
      resolve({
        url: `${secure ? "https" : "http"}://${host}:${address.port}`,
        close() {
          closed ??= new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          });
          return closed;
        },
      });
    });
  });
}
