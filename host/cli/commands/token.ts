import { fail } from "../../../sdk/errors";
import { bold, dim, note, out, parseFlags, positionals, required, usageError, writeOutput, yellow } from "../util";
import { checkUsage, openAccounts } from "./user";

export const name = "token";
export const summary = "API tokens for programs (CLI, scripts, SIEM collectors): create, list, revoke";
export const usage = `Usage: gatehouse token create --db FILE --name NAME --role ROLE [--device-pattern GLOB] [--expires DAYS]
                              [--out FILE]
       gatehouse token list --db FILE [--json]
       gatehouse token revoke --db FILE ID

A token lets a program call the fleet server's API with a role (view < operate < manage < administer),
sent as 'Authorization: Bearer TOKEN'. The CLI's clients take it from a file (--token-file FILE) or
GATEHOUSE_TOKEN, never from the command line. A running server reads tokens from the database at once.

create   Makes a token and prints it once, on standard output (or into --out FILE, mode 600): the
         database keeps only its SHA-256, so it cannot be shown again. Details go to standard error.
  --device-pattern GLOB  the token reaches only devices whose id matches: a-z, 0-9, "-" and the
                 wildcards "*" (any run) and "?" (one character), e.g. 'thermo-*'. Lists show only
                 those devices; calls naming another are refused (device-not-allowed), and so are
                 fleet-wide calls (people, tokens, the audit log).
  --expires DAYS the token is refused (token-expired) after this many days (1 to 3650); default: never
  --out FILE     write the token to FILE (created, mode 600) instead of standard output
list     Shows the tokens that are not revoked (never their secrets), expired ones marked.
revoke   Revokes token ID: every call with it is refused from now on (token-revoked).

Options:
  --db FILE      the fleet server's SQLite database ('gatehouse server --db'); create makes it if missing
  --name NAME    a label for the token (who or what uses it): 1 to 64 of a-z, 0-9, ".", "_", "-"
  --role ROLE    view, operate, manage or administer
  --json         list: one JSON object per line
  -h, --help     show this help

Errors: token-unknown, too-many-tokens, file-exists, file (no database there).
`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "create") return create(rest);
  if (sub === "list") return list(rest);
  if (sub === "revoke") return revoke(rest);
  return usageError(sub === undefined ? "missing subcommand: create, list or revoke" : `unknown subcommand ${JSON.stringify(sub)} (create, list or revoke)`);
}

function date(ms: number | null): string {
  return ms === null ? "-" : new Date(ms).toISOString().replace("T", " ").slice(0, 16);
}

async function create(argv: string[]): Promise<number> {
  const { values, positionals: extra } = parseFlags({
    args: argv,
    allowPositionals: true,
    options: {
      db: { type: "string" },
      name: { type: "string" },
      role: { type: "string" },
      "device-pattern": { type: "string" },
      expires: { type: "string" },
      out: { type: "string" },
    },
  });
  positionals(extra, []);
  const dbPath = required(values.db, "--db");
  const { checkDevicePattern, checkName, checkRole, MAX_TOKEN_DAYS } = await import("../../server/auth/accounts");
  const tokenName = checkUsage(() => checkName(required(values.name, "--name"), "token"));
  const role = checkUsage(() => checkRole(required(values.role, "--role")));
  const devicePattern = values["device-pattern"] === undefined ? null : checkUsage(() => checkDevicePattern(values["device-pattern"]));
  let expiresDays: number | undefined;
  if (values.expires !== undefined) {
    if (!/^\d{1,4}$/.test(values.expires) || Number(values.expires) < 1 || Number(values.expires) > MAX_TOKEN_DAYS) usageError(`--expires must be a number of days from 1 to ${MAX_TOKEN_DAYS}`);
    expiresDays = Number(values.expires);
  }
  if (values.out !== undefined) {
    const { exists } = await import("../util");
    if (exists(values.out)) fail("file-exists", `${values.out} already exists (a token file is never overwritten)`);
  }
  const { store, accounts } = await openAccounts(dbPath, true);
  try {
    const { secret, token } = accounts.createToken({ name: tokenName, role, devicePattern, expiresDays, createdBy: "cli" });
    if (values.out !== undefined) writeOutput(values.out, new TextEncoder().encode(`${secret}\n`), { mode: 0o600 });
    else out(secret);
    const devices = token.devicePattern === null ? "every device" : `devices ${token.devicePattern}`;
    const expiry = token.expiresAt === null ? "never expires" : `expires ${date(token.expiresAt)} UTC`;
    note(dim(`token ${token.id} (${token.name}): role ${token.role}, ${devices}, ${expiry}.${values.out !== undefined ? ` Written to ${values.out}.` : ""} It is shown only now: keep it secret.`, process.stderr));
  } finally {
    store.close();
  }
  return 0;
}

async function list(argv: string[]): Promise<number> {
  const { values, positionals: extra } = parseFlags({ args: argv, allowPositionals: true, options: { db: { type: "string" }, json: { type: "boolean" } } });
  positionals(extra, []);
  const { store, accounts } = await openAccounts(required(values.db, "--db"), false);
  try {
    const tokens = accounts.tokens();
    if (values.json) {
      for (const t of tokens) out(JSON.stringify(t));
      return 0;
    }
    if (tokens.length === 0) {
      out(yellow("no tokens (gatehouse token create --help)"));
      return 0;
    }
    const width = Math.max(4, ...tokens.map((t) => t.name.length));
    const devicesWidth = Math.max(7, ...tokens.map((t) => (t.devicePattern ?? "*").length));
    out(bold(`${"ID".padStart(4)}  ${"NAME".padEnd(width)}  ROLE        ${"DEVICES".padEnd(devicesWidth)}  EXPIRES           LAST USED         CREATED BY`));
    for (const t of tokens) {
      const expires = t.expired ? yellow(`expired ${date(t.expiresAt).slice(0, 10)}`.padEnd(16)) : date(t.expiresAt).padEnd(16);
      out(`${String(t.id).padStart(4)}  ${t.name.padEnd(width)}  ${t.role.padEnd(10)}  ${(t.devicePattern ?? "*").padEnd(devicesWidth)}  ${expires}  ${date(t.lastUsedAt).padEnd(16)}  ${t.createdBy}`);
    }
  } finally {
    store.close();
  }
  return 0;
}

async function revoke(argv: string[]): Promise<number> {
  const { values, positionals: extra } = parseFlags({ args: argv, allowPositionals: true, options: { db: { type: "string" } } });
  const [idText] = positionals(extra, ["ID"]);
  if (!/^\d{1,15}$/.test(idText) || Number(idText) < 1) usageError("ID must be a token id (an integer, as 'gatehouse token list' shows)");
  const { store, accounts } = await openAccounts(required(values.db, "--db"), false);
  try {
    const token = accounts.revokeToken(Number(idText));
    out(`token ${token.id} (${token.name}) revoked`);
  } finally {
    store.close();
  }
  return 0;
}
