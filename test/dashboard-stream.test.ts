// Long streams to slow readers (the dashboard's server-sent events under a flood of events): each time the
// socket is full, http-serve.ts waits for "drain" or "close". Those waits must not pile up listeners on the
// response (found by bench/dashboard.ts: MaxListenersExceededWarning after ten waits, and a listener kept
// per wait for the life of the stream).
import test from "ava";
import { get } from "node:http";
import { serveHttp } from "../host/server/index";

const CHUNK = new Uint8Array(64 * 1024).fill(0x61);
const CHUNKS = 400;

test("a streamed answer to a slow reader waits for drain many times without piling up listeners", async (t) => {
  let sent = 0;
  const app = {
    fetch: async () =>
      new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent++ >= CHUNKS) controller.close();
            else controller.enqueue(CHUNK);
          },
        }),
        { headers: { "content-type": "application/x-ndjson" } },
      ),
  };
  const served = await serveHttp(app, { host: "127.0.0.1", port: 0 });
  t.teardown(() => served.close());
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on("warning", onWarning);
  t.teardown(() => process.off("warning", onWarning));

  const received = await new Promise<number>((resolve, reject) => {
    get(`${served.url}/`, (response) => {
      let bytes = 0;
      response.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        // A slow reader: the server's socket fills and it waits for drain again and again.
        response.pause();
        setTimeout(() => response.resume(), 1);
      });
      response.on("end", () => resolve(bytes));
      response.on("error", reject);
    }).on("error", reject);
  });
  t.is(received, CHUNK.length * CHUNKS);
  // Warnings are emitted on the next tick.
  await new Promise((done) => setImmediate(done));
  t.deepEqual(warnings.filter((w) => w.startsWith("MaxListenersExceededWarning")), []);
});
