// The fleet server's HTTP API under requests of every shape (issue 11: one chunked POST ended the
// process). The server runs as a real `gatehouse server` process, so a crash shows as an exit; every
// route and method gets oversized, chunked, trickled, aborted and malformed requests at once, then the
// server must still answer a normal request and be running.
import test from "ava";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startMosquitto } from "./support/brokers";
import { bearer, tokenInFile } from "./support/api-access";
import { sleep, until } from "./support/devices";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = join(repoRoot, "bin", "gatehouse.js");

interface Running {
  child: ChildProcess;
  host: string;
  port: number;
  output(): string;
}

async function startServerProcess(brokerUrl: string, dbPath: string): Promise<Running> {
  const child = spawn(process.execPath, [BIN, "server", "--broker", brokerUrl, "--db", dbPath, "--http", "127.0.0.1:0", "--client-id", `attack-${process.pid}`], {
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.setEncoding("utf8").on("data", (text: string) => (output += text));
  child.stderr?.setEncoding("utf8").on("data", (text: string) => (output += text));
  const url = await until("the server's HTTP address", () => /HTTP API on http:\/\/([\d.]+):(\d+)/.exec(output) ?? (child.exitCode !== null ? false : undefined), 30_000).catch((e: Error) => {
    child.kill("SIGKILL");
    throw new Error(`${e.message}\n${output}`);
  });
  return { child, host: url[1], port: Number(url[2]), output: () => output };
}

/** Writes `parts` to a new connection (a function part pauses), then waits until the server closes it or `holdMs` passes. */
function attack(host: string, port: number, parts: (string | Buffer | number)[], options: { holdMs?: number; abort?: boolean } = {}): Promise<string> {
  return new Promise((done) => {
    let answer = "";
    const socket: Socket = connect({ host, port });
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      done(answer);
    };
    const timer = setTimeout(finish, options.holdMs ?? 5000);
    socket.on("data", (data) => (answer += data.toString("latin1")));
    socket.on("error", () => {});
    socket.on("close", finish);
    socket.on("connect", async () => {
      for (const part of parts) {
        if (socket.destroyed) return;
        if (typeof part === "number") await sleep(part);
        else socket.write(part);
      }
      if (options.abort) finish();
    });
  });
}

const ROUTES = ["/api/devices", "/api/devices/thermo-1", "/api/events?limit=5", "/api/events/stream", "/api/commands", "/api/nothing", "/%zz"];
const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];

function requestsFor(method: string, path: string, credentials: string): { name: string; parts: (string | Buffer | number)[]; abort?: boolean; holdMs?: number }[] {
  const head = (headers: string) => `${method} ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n${credentials}${headers}\r\n`;
  const spaces = Buffer.alloc(1024, 0x20);
  const chunk = (data: Buffer) => Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from("\r\n")]);
  return [
    // The request of issue 11: a chunked body of 70 KB, answered 413 while it still arrives.
    { name: "chunked 70 KB", parts: [head("transfer-encoding: chunked\r\n"), ...new Array<Buffer>(70).fill(chunk(spaces)), "0\r\n\r\n"] },
    { name: "chunked 1 MB, never ended", parts: [head("transfer-encoding: chunked\r\n"), ...new Array<Buffer>(1024).fill(chunk(spaces))] },
    { name: "declared 100 MB", parts: [head("content-length: 104857600\r\n"), ...new Array<Buffer>(80).fill(spaces)] },
    { name: "body larger than declared", parts: [head("content-length: 10\r\n"), Buffer.alloc(70 * 1024, 0x7b)] },
    { name: "trickled", parts: [head("content-length: 200\r\n"), ...Array.from({ length: 20 }, (_, i) => [i === 0 ? "{" : " ", 40]).flat()], abort: true },
    { name: "aborted mid-body", parts: [head("content-length: 1000\r\n"), '{"id": "thermo-1", "key": "AAAA'], abort: true },
    { name: "aborted mid-chunk", parts: [head("transfer-encoding: chunked\r\n"), "ffff\r\n", spaces], abort: true },
    { name: "bad chunk size", parts: [head("transfer-encoding: chunked\r\n"), "zz\r\nhello\r\n0\r\n\r\n"] },
    { name: "both lengths", parts: [head("content-length: 5\r\ntransfer-encoding: chunked\r\n"), "5\r\nhello\r\n0\r\n\r\n"] },
    { name: "not JSON", parts: [head("content-length: 9\r\n"), "\u0000\u00ff{[garb"] },
    { name: "huge header", parts: [`${method} ${path} HTTP/1.1\r\nhost: x\r\nx-big: ${"a".repeat(64 * 1024)}\r\n\r\n`] },
    { name: "pipelined after a refusal", parts: [head("content-length: 70000\r\n"), Buffer.alloc(70000, 0x20), `GET /api/devices HTTP/1.1\r\nhost: x\r\n\r\n`] },
  ];
}

const GARBAGE: (string | Buffer)[] = [
  Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)),
  "\r\n\r\n\r\n",
  "GET\r\n\r\n",
  "GET / HTTP/9.9\r\n\r\n",
  "POST /api/devices HTTP/1.1\r\nhost: x\r\ncontent-length: -1\r\n\r\n",
  "POST /api/devices HTTP/1.1\r\nhost: x\r\ncontent-length: 99999999999999999999999\r\n\r\n",
  "GET http://[::1 HTTP/1.1\r\nhost: x\r\n\r\n",
  "GET //// HTTP/1.1\r\nhost: x\r\n\r\n",
  "CONNECT 127.0.0.1:1 HTTP/1.1\r\nhost: x\r\n\r\n",
  "GET /api/devices HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n",
];

test("no request of any shape ends the server: oversized, chunked, trickled, aborted and garbage requests to every route and method", async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-attack-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const dbPath = join(dir, "fleet.db");
  const token = tokenInFile(dbPath, "administer");
  const server = await startServerProcess(broker.url, dbPath);
  t.teardown(() => {
    server.child.kill("SIGKILL");
  });
  const exited = new Promise<string>((resolveExit) => server.child.once("exit", (code, signal) => resolveExit(`exited with ${code ?? signal}`)));

  const attacks: Promise<string>[] = [];
  for (const path of ROUTES) {
    for (const method of METHODS) {
      // With an administrator's token (the requests reach the routes and their body limits), and POSTs
      // also without credentials (refused before their bodies are read).
      const credentials = [`authorization: Bearer ${token}\r\n`, ...(method === "POST" ? [""] : [])];
      for (const c of credentials) for (const r of requestsFor(method, path, c)) attacks.push(attack(server.host, server.port, r.parts, { abort: r.abort, holdMs: r.holdMs }));
    }
  }
  for (const bytes of GARBAGE) attacks.push(attack(server.host, server.port, [bytes]));
  t.log(`${attacks.length} hostile requests`);
  const answers = await Promise.race([Promise.all(attacks), exited]);
  t.true(Array.isArray(answers), `the server ${answers as string} during the attack:\n${server.output()}`);
  t.true((answers as string[]).some((a) => a.startsWith("HTTP/1.1 413")), "oversized bodies are answered 413");
  t.true((answers as string[]).some((a) => a.startsWith("HTTP/1.1 400")), "garbage is answered 400");
  t.true((answers as string[]).some((a) => a.startsWith("HTTP/1.1 401")), "requests without credentials are answered 401");

  // The crash of issue 11 came after the answer had gone out: a normal request afterwards must still
  // be served, twice (the second after every callback of the first has run).
  for (let i = 0; i < 2; i++) {
    const response = await Promise.race([fetch(`http://${server.host}:${server.port}/api/devices`, { headers: bearer(token) }), exited]);
    t.true(response instanceof Response, `the server ${String(response)}:\n${server.output()}`);
    t.is((response as Response).status, 200);
    t.deepEqual(await (response as Response).json(), { devices: [], next: null });
  }
  t.is(server.child.exitCode, null, "the server process is still running");
  t.notRegex(server.output(), /error internal|unhandled/, "nothing escaped the request handlers");
});
