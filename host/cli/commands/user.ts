import { GatehouseError, fail } from "../../../sdk/errors";
import { readBoundedFd } from "../../files";
import { bold, dim, exists, note, out, parseFlags, positionals, required, usageError, yellow } from "../util";

export const name = "user";
export const summary = "People who may use the fleet server's API and dashboard: add, list, remove, passwd";
export const usage = `Usage: gatehouse user add --db FILE --name NAME --role ROLE
       gatehouse user passwd --db FILE --name NAME
       gatehouse user remove --db FILE --name NAME
       gatehouse user list --db FILE [--json]

People log in to the fleet server's API (POST /api/session) with a name and a password and get a
session (an HttpOnly cookie) with their role: view < operate < manage < administer. Reading needs view,
relaying commands operate, registering device keys manage, people, tokens and the audit log administer.
Programs use tokens instead ('gatehouse token'). A running server reads users from the database at once.

add      Adds a person. The password comes from standard input (one line) or, at a terminal, from a
         prompt that does not echo (asked twice); never from the command line. 12 to 1024 characters.
         It is stored as a scrypt hash (N=2^16, r=8, p=2: 64 MiB and about 0.4 s per check).
passwd   Gives a person a new password (read the same way); their sessions end.
remove   Removes a person; their sessions end.
list     Shows each person's role, when they were added and their open sessions.

Options:
  --db FILE      the fleet server's SQLite database ('gatehouse server --db'); add creates it if missing
  --name NAME    1 to 64 of a-z, 0-9, ".", "_", "-"
  --role ROLE    view, operate, manage or administer
  --json         list: one JSON object per line
  -h, --help     show this help

Errors: user-exists, user-unknown, password-invalid, too-many-users, file (no database there).
`;

/** Largest password input read (passwords.ts allows 1024 characters; UTF-8 takes up to 4 bytes each). */
const PASSWORD_READ_BYTES = 4096 + 2;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "add") return add(rest, false);
  if (sub === "passwd") return add(rest, true);
  if (sub === "remove") return remove(rest);
  if (sub === "list") return list(rest);
  return usageError(sub === undefined ? "missing subcommand: add, passwd, remove or list" : `unknown subcommand ${JSON.stringify(sub)} (add, passwd, remove or list)`);
}

/** The fleet server's database with its people and tokens. `create`: a missing file is made (with a note). */
export async function openAccounts(path: string, create: boolean) {
  const isNew = path !== ":memory:" && !exists(path);
  if (isNew && !create) fail("file", `no database at ${path} (start 'gatehouse server --db ${path}' once, or check the path)`);
  const { Store } = await import("../../server/store");
  const { Accounts } = await import("../../server/auth/accounts");
  const store = new Store(path);
  if (isNew) note(dim(`created the database ${path} (use the same --db for 'gatehouse server'; keep it private: chmod 600)`, process.stderr));
  return { store, accounts: new Accounts(store.db) };
}

/** One line of standard input without its line break; a second line is refused. */
function passwordFromStdin(): string {
  const text = Buffer.from(readBoundedFd(0, "standard input", PASSWORD_READ_BYTES)).toString("utf8");
  const line = text.replace(/\r?\n$/, "");
  if (/[\r\n]/.test(line)) fail("password-invalid", "standard input holds more than one line: give the password alone");
  if (line === "") fail("password-invalid", "no password on standard input");
  return line;
}

/** Reads a line at the terminal without echoing it. */
function promptHidden(question: string): Promise<string> {
  const input = process.stdin;
  process.stderr.write(question);
  input.setRawMode(true);
  input.setEncoding("utf8");
  input.resume();
  return new Promise((resolve, reject) => {
    let text = "";
    const finish = (): void => {
      input.off("data", onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write("\n");
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n" || ch === "\u0004") {
          finish();
          resolve(text);
          return;
        }
        if (ch === "\u0003") {
          finish();
          reject(new GatehouseError("usage", "interrupted"));
          return;
        }
        if (ch === "\u007f" || ch === "\b") text = Array.from(text).slice(0, -1).join("");
        else text += ch;
      }
    };
    input.on("data", onData);
  });
}

async function readNewPassword(who: string): Promise<string> {
  if (!process.stdin.isTTY) return passwordFromStdin();
  const first = await promptHidden(`password for ${who}: `);
  const { checkPassword } = await import("../../server/auth/passwords");
  checkPassword(first);
  const second = await promptHidden("again: ");
  if (first !== second) fail("password-invalid", "the two passwords differ");
  return first;
}

async function add(argv: string[], change: boolean): Promise<number> {
  const { values, positionals: extra } = parseFlags({
    args: argv,
    allowPositionals: true,
    options: { db: { type: "string" }, name: { type: "string" }, role: { type: "string" } },
  });
  positionals(extra, []);
  const dbPath = required(values.db, "--db");
  const { checkName, checkRole } = await import("../../server/auth/accounts");
  const userName = checkUsage(() => checkName(required(values.name, "--name"), "user"));
  if (change && values.role !== undefined) usageError("passwd changes only the password (remove and add to change a role)");
  const role = change ? undefined : checkUsage(() => checkRole(required(values.role, "--role")));
  const { store, accounts } = await openAccounts(dbPath, !change);
  try {
    // Checked before the password is asked for.
    const known = accounts.user(userName) !== undefined;
    if (!change && known) fail("user-exists", `user ${userName} exists already (gatehouse user passwd changes the password)`);
    if (change && !known) fail("user-unknown", `no user ${userName}`);
    const password = await readNewPassword(userName);
    if (change) {
      await accounts.setPassword(userName, password);
      out(`user ${userName}: new password; their sessions ended`);
    } else {
      const user = await accounts.addUser(userName, role as NonNullable<typeof role>, password);
      out(`user ${user.name} added with role ${user.role}`);
    }
  } finally {
    store.close();
  }
  return 0;
}

/** A check of the server's that answers invalid-input is a usage error on the command line. */
export function checkUsage<T>(check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof GatehouseError && e.code === "invalid-input") usageError(e.message.replace(/^a (user|token) name/, "--name").replace(/^role/, "--role").replace(/^a device pattern/, "--device-pattern"));
    throw e;
  }
}

async function remove(argv: string[]): Promise<number> {
  const { values, positionals: extra } = parseFlags({ args: argv, allowPositionals: true, options: { db: { type: "string" }, name: { type: "string" } } });
  positionals(extra, []);
  const userName = required(values.name, "--name");
  const { store, accounts } = await openAccounts(required(values.db, "--db"), false);
  try {
    accounts.removeUser(userName);
    out(`user ${userName} removed; their sessions ended`);
  } finally {
    store.close();
  }
  return 0;
}

function time(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 16);
}

async function list(argv: string[]): Promise<number> {
  const { values, positionals: extra } = parseFlags({ args: argv, allowPositionals: true, options: { db: { type: "string" }, json: { type: "boolean" } } });
  positionals(extra, []);
  const { store, accounts } = await openAccounts(required(values.db, "--db"), false);
  try {
    const users = accounts.users();
    if (values.json) {
      for (const u of users) out(JSON.stringify(u));
      return 0;
    }
    if (users.length === 0) {
      out(yellow("no users (gatehouse user add --help)"));
      return 0;
    }
    const width = Math.max(4, ...users.map((u) => u.name.length));
    out(bold(`${"NAME".padEnd(width)}  ROLE        ADDED             PASSWORD SET      SESSIONS`));
    for (const u of users) out(`${u.name.padEnd(width)}  ${u.role.padEnd(10)}  ${time(u.createdAt)}  ${time(u.passwordChangedAt)}  ${u.sessions}`);
  } finally {
    store.close();
  }
  return 0;
}
