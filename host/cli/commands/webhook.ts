import { existsSync, statSync } from "node:fs";
import { fail } from "../../../sdk/errors";
import { readBoundedFd } from "../../files";
import { bold, dim, green, note, out, parseFlags, positionals, red, required, usageError, yellow } from "../util";
import { printable } from "./server";

export const name = "webhook";
export const summary = "Send security events to other systems: add, list and remove outgoing webhooks";
export const usage = `Usage: gatehouse webhook add --db FILE --url URL --secret-stdin [--filter CODE]... [--format F]
                             [--batch N] [--after ID]
       gatehouse webhook list --db FILE [--json]
       gatehouse webhook remove --db FILE ID

The fleet server POSTs every security event (the devices' own and its own, as 'gatehouse events' shows
them) to every webhook whose filter matches, in order and at least once: a receiver that is down or
answers anything but 2xx gets the same events again, with exponential backoff (about 1 s doubling to 5
min, with jitter), for as long as it takes, also across server restarts. Each request is signed:
  Gatehouse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
docs/events.md has the body, the headers, a verification recipe and the replay tolerance. A running
server picks up webhooks added or removed here within a second.

add      Stores a webhook in the server's database (the database must exist: start the server once).
  --url URL         where to POST: http:// or https:// (https for anything beyond loopback)
  --secret-stdin    read the signing secret from standard input (one line, 16 to 1024 bytes, e.g.
                    'openssl rand -hex 32 | gatehouse webhook add ... --secret-stdin'). It is never an
                    argument, and is stored in the database as signing needs it: keep the file private.
  --filter CODE     only events with this code (repeat, or comma-separate; "cose-*" matches a prefix).
                    Without it: every event.
  --format F        gatehouse (default: the rows of GET /api/events) or ocsf (OCSF 1.6.0 API Activity)
  --batch N         events per request at most, 1 to 100 (default 20)
  --after ID        deliver events with ids above ID (0: every stored event); default: only new ones
list     Shows each webhook without its secret: its filter, cursor (last event delivered or skipped),
         lag (matching events waiting), failed attempts since the last delivery, the last error.
  --json            one JSON object per webhook and line
remove   Deletes webhook ID; what it had not delivered is not sent.

Options:
  --db FILE          the fleet server's SQLite database ('gatehouse server --db')
  -h, --help         show this help

Errors: url-invalid, secret-missing, secret-invalid, filter-invalid, webhook-unknown, too-many-webhooks,
file (no database there).
`;

/** Largest secret read from standard input (webhook-store.ts refuses above MAX_SECRET_BYTES). */
const SECRET_READ_BYTES = 4096;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "add") return add(rest);
  if (sub === "list") return list(rest);
  if (sub === "remove") return remove(rest);
  return usageError(sub === undefined ? "missing subcommand: add, list or remove" : `unknown subcommand ${JSON.stringify(sub)} (add, list or remove)`);
}

/** A mistyped path would otherwise create an empty database that no server reads. */
function checkDb(path: string): string {
  if (path !== ":memory:" && !existsSync(path)) fail("file", `no database at ${path} (start 'gatehouse server --db ${path}' once, or check the path)`);
  return path;
}

async function openHooks(path: string) {
  checkDb(path);
  const { Store } = await import("../../server/store");
  const { WebhookStore } = await import("../../server/export/webhook-store");
  const store = new Store(path);
  return { store, hooks: new WebhookStore(store.db) };
}

function integer(text: string, flag: string, min: number, max: number): number {
  if (!/^\d{1,16}$/.test(text) || Number(text) < min || Number(text) > max) usageError(`${flag} must be an integer from ${min} to ${max}`);
  return Number(text);
}

async function add(argv: string[]): Promise<number> {
  const { values, positionals: extra } = parseFlags({
    args: argv,
    allowPositionals: true,
    options: {
      db: { type: "string" },
      url: { type: "string" },
      "secret-stdin": { type: "boolean" },
      filter: { type: "string", multiple: true },
      format: { type: "string" },
      batch: { type: "string" },
      after: { type: "string" },
    },
  });
  positionals(extra, []);
  const dbPath = checkDb(required(values.db, "--db"));
  const url = required(values.url, "--url");
  const { checkWebhookFilter, checkWebhookSecret, checkWebhookUrl, MAX_BATCH, WEBHOOK_FORMATS } = await import("../../server/export/webhook-store");
  // Everything on the command line is checked before standard input is read.
  checkWebhookUrl(url);
  checkWebhookFilter(values.filter ?? []);
  const format = values.format ?? "gatehouse";
  if (!(WEBHOOK_FORMATS as readonly string[]).includes(format)) usageError(`--format must be ${WEBHOOK_FORMATS.join(" or ")}`);
  const batch = values.batch === undefined ? undefined : integer(values.batch, "--batch", 1, MAX_BATCH);
  const after = values.after === undefined ? undefined : integer(values.after, "--after", 0, Number.MAX_SAFE_INTEGER);
  if (values["secret-stdin"] !== true) fail("secret-missing", "give the signing secret on standard input with --secret-stdin (never as an argument)");
  if (process.stdin.isTTY) note(dim("type the secret, then Enter and Ctrl-D (it is shown as typed; piping it in is better)", process.stderr));
  const secret = checkWebhookSecret(Buffer.from(readBoundedFd(0, "standard input", SECRET_READ_BYTES)).toString("utf8"));

  const { store, hooks } = await openHooks(dbPath);
  try {
    const hook = hooks.add({ url, secret, filter: values.filter, format: format as "gatehouse" | "ocsf", batch, after });
    out(`webhook ${hook.id}: ${hook.url}, ${hook.filter.length > 0 ? `events ${hook.filter.join(", ")}` : "every event"}, format ${hook.format}, after event ${hook.cursor}`);
    if (dbPath !== ":memory:" && (statSync(dbPath).mode & 0o077) !== 0) {
      note(yellow(`note: ${dbPath} is readable by other users, and now holds a webhook secret (chmod 600 it, and its -wal file)`, process.stderr));
    }
  } finally {
    store.close();
  }
  return 0;
}

function ago(ms: number | null, now: number): string {
  if (ms === null) return "-";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}

async function list(argv: string[]): Promise<number> {
  const { values, positionals: extra } = parseFlags({ args: argv, allowPositionals: true, options: { db: { type: "string" }, json: { type: "boolean" } } });
  positionals(extra, []);
  const { store, hooks } = await openHooks(required(values.db, "--db"));
  try {
    const statuses = hooks.statuses();
    if (values.json) {
      for (const s of statuses) out(JSON.stringify(s));
      return 0;
    }
    if (statuses.length === 0) {
      out(dim("no webhooks (gatehouse webhook add --help)"));
      return 0;
    }
    const now = Date.now();
    for (const s of statuses) {
      const state = s.attempts > 0 ? red(`failing: ${s.attempts} attempt(s), next ${s.nextAttemptAt === null ? "-" : `in ${Math.max(0, Math.round((s.nextAttemptAt - now) / 1000))} s`}`) : s.lag > 0 ? yellow("delivering") : green("up to date");
      out(`${bold(`webhook ${s.id}`)}  ${printable(s.url)}  ${state}`);
      out(`  filter ${s.filter.length > 0 ? s.filter.join(", ") : "(every event)"}, format ${s.format}, batch ${s.batch}`);
      out(`  cursor ${s.cursor}, lag ${s.lag} event(s)${s.oldestWaiting !== null ? ` (oldest ${ago(s.oldestWaiting, now)})` : ""}, delivered ${s.delivered} (last ${ago(s.lastDeliveredAt, now)})`);
      if (s.lastError !== null) out(`  last error ${ago(s.lastAttemptAt, now)}: ${printable(s.lastError)}`);
    }
  } finally {
    store.close();
  }
  return 0;
}

async function remove(argv: string[]): Promise<number> {
  const { values, positionals: extra } = parseFlags({ args: argv, allowPositionals: true, options: { db: { type: "string" } } });
  const [idText] = positionals(extra, ["ID"]);
  const id = integer(idText, "ID", 1, Number.MAX_SAFE_INTEGER);
  const { store, hooks } = await openHooks(required(values.db, "--db"));
  try {
    hooks.remove(id);
    out(`webhook ${id} removed`);
  } finally {
    store.close();
  }
  return 0;
}
