// A webhook receiver for tests: a real node:http server on a loopback port that checks every request's
// Gatehouse-Signature the way docs/events.md tells receivers to (written from that recipe, not with the
// server's own code): HMAC-SHA256 with the shared secret over "<t>.<raw body>", compared in constant
// time, t within 300 s of now. It can be closed and opened again on the same port (a receiver that is
// down), and told how to answer: 204, an error status, a redirect, or never.

import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  /** Why the signature did not verify, or undefined when it did. */
  refused: string | undefined;
  /** The body's events (parsed), when it was JSON. */
  events: any[];
  answered: number | "hang";
}

export type Answer = number | "hang" | { redirect: string };

export interface Receiver {
  readonly url: string;
  readonly port: number;
  readonly requests: Received[];
  /** Answers for the next requests, in turn; afterwards `fallback` (default 204). */
  answers: Answer[];
  fallback: Answer;
  /** Stops listening (open connections are cut): the receiver is down. */
  close(): Promise<void>;
  /** Listens again on the same port. */
  open(): Promise<void>;
}

const TOLERANCE_SECONDS = 300;

/** The recipe of docs/events.md, step by step. */
export function verifySignature(secret: string, header: string | string[] | undefined, body: string, nowSeconds = Math.floor(Date.now() / 1000)): string | undefined {
  if (typeof header !== "string") return "no signature header";
  let t: string | undefined;
  const candidates: string[] = [];
  for (const part of header.split(",")) {
    const [key, value] = part.split("=", 2);
    if (key === "t") t = value;
    if (key === "v1" && value !== undefined) candidates.push(value);
  }
  if (t === undefined || !/^\d+$/.test(t)) return "no timestamp";
  if (Math.abs(nowSeconds - Number(t)) > TOLERANCE_SECONDS) return "timestamp outside the tolerance";
  const expected = createHmac("sha256", secret).update(`${t}.${body}`, "utf8").digest();
  const ok = candidates.some((c) => {
    const given = Buffer.from(c, "hex");
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  return ok ? undefined : "signature does not match";
}

export async function startReceiver(secret: string, port = 0): Promise<Receiver> {
  const requests: Received[] = [];
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  const hanging = new Set<ServerResponse>();

  const receiver: Receiver = {
    url: "",
    port,
    requests,
    answers: [],
    fallback: 204,
    async close() {
      const s = server;
      server = undefined;
      if (!s) return;
      for (const res of hanging) res.destroy();
      hanging.clear();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    async open() {
      const s = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8");
          let events: any[] = [];
          try {
            events = JSON.parse(body).events ?? [];
          } catch {
            events = [];
          }
          const answer = receiver.answers.length > 0 ? (receiver.answers.shift() as Answer) : receiver.fallback;
          requests.push({ headers: req.headers, body, refused: verifySignature(secret, req.headers["gatehouse-signature"], body), events, answered: typeof answer === "number" ? answer : answer === "hang" ? "hang" : 302 });
          if (answer === "hang") {
            hanging.add(res);
            return;
          }
          if (typeof answer === "object") {
            res.writeHead(302, { location: answer.redirect }).end();
            return;
          }
          res.writeHead(answer, { "content-type": "text/plain" }).end(answer >= 300 ? `receiver says ${answer}` : "");
        });
      });
      s.on("connection", (socket: Socket) => {
        sockets.add(socket);
        socket.on("close", () => sockets.delete(socket));
      });
      await new Promise<void>((resolve, reject) => {
        s.once("error", reject);
        s.listen(receiver.port, "127.0.0.1", () => resolve());
      });
      server = s;
      const bound = (s.address() as AddressInfo).port;
      Object.assign(receiver, { port: bound, url: `http://127.0.0.1:${bound}/hooks/gatehouse` });
    },
  };
  await receiver.open();
  return receiver;
}

/** The event ids a receiver saw, each request's in turn (duplicates included). */
export function deliveredIds(receiver: Receiver, only2xx = true): number[] {
  return receiver.requests.filter((r) => !only2xx || (typeof r.answered === "number" && r.answered < 300)).flatMap((r) => r.events.map((e) => Number(e.id ?? e.metadata?.uid)));
}

/** Ids in first-arrival order: what a receiver keeps when it drops ids not above the highest seen. */
export function firstArrivals(ids: number[]): number[] {
  const kept: number[] = [];
  for (const id of ids) if (kept.length === 0 || id > kept[kept.length - 1]) kept.push(id);
  return kept;
}
