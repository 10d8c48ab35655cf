// One table of error codes (sdk/error-codes.ts), held together with the code and the documents: every
// code Gatehouse's own source gives is in the table (fail() takes only those, so the compiler checks
// most; this catches the rest: new GatehouseError, HttpError, events, `code:` literals, the scripts), every
// code in the table is given somewhere, and each is documented: docs/protocol.md section 7 lists all but
// the SUIT codes, which docs/suit.md lists; the example apps' own codes are in docs/protocol.md too.
import test from "ava";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { ERROR_CODES, type ErrorCode } from "../sdk/error-codes";

const root = resolve(import.meta.dirname, "..");
const TABLE = new Set<string>(Object.values(ERROR_CODES).flat());

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|js)$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

/** Where a code is given: the first string argument of these, a `code:` field, a printed "error CODE:". */
const CODE = "([a-z][a-z0-9]*(?:-[a-z0-9]+)*)";
const GIVEN = [
  new RegExp(`\\b(?:fail|conditionFailed)\\(\\s*"${CODE}"`, "g"),
  new RegExp(`\\.(?:refuse|directEvent|directEventOutside|serverEvent)\\(\\s*(?:[\\w.]+,\\s*)?"${CODE}"`, "g"),
  new RegExp(`\\bnew (?:GatehouseError|HttpError)\\(\\s*(?:\\d+,\\s*)?"${CODE}"`, "g"),
  new RegExp(`\\bcode:\\s*"${CODE}"`, "g"),
  new RegExp(`\\berror ${CODE}:`, "g"),
];

function codesIn(files: string[]): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    for (const pattern of GIVEN) {
      for (const match of text.matchAll(pattern)) {
        const where = found.get(match[1]) ?? [];
        where.push(relative(root, file));
        found.set(match[1], where);
      }
    }
  }
  return found;
}

/** Every `code` in backticks in a document. */
function documented(doc: string): Set<string> {
  return new Set(Array.from(readFileSync(join(root, doc), "utf8").matchAll(/`([a-z0-9]+(?:-[a-z0-9]+)*)`/g), (m) => m[1]));
}

// The table's own module names codes in its comments; it is what the others are checked against.
const gatehouseSource = ["sdk", "host", "ports", "boards", "bin", "scripts"].flatMap((dir) => sourceFiles(join(root, dir))).filter((file) => !file.endsWith("error-codes.ts"));
const appSource = sourceFiles(join(root, "examples"));

test("every code Gatehouse's source gives is in the table", (t) => {
  const given = codesIn(gatehouseSource);
  t.true(given.size > 60, `found ${given.size} codes`);
  const strays = [...given].filter(([code]) => !TABLE.has(code) && code !== "allowed").map(([code, files]) => `${code} (${[...new Set(files)].join(", ")})`);
  t.deepEqual(strays, []);
});

test("every code in the table is given somewhere in the source (no stale entries)", (t) => {
  const text = gatehouseSource.map((file) => readFileSync(file, "utf8")).join("\n");
  const unused = [...TABLE].filter((code) => !text.includes(`"${code}"`) && !text.includes(`error ${code}:`));
  t.deepEqual(unused, []);
});

test("docs/protocol.md lists every code but the SUIT ones, and docs/suit.md every SUIT code", (t) => {
  const protocol = documented("docs/protocol.md");
  const suit = documented("docs/suit.md");
  const missing: string[] = [];
  for (const [group, codes] of Object.entries(ERROR_CODES)) {
    for (const code of codes as readonly ErrorCode[]) {
      if (!(group === "suit" ? suit : protocol).has(code)) missing.push(`${code} (${group}) not in ${group === "suit" ? "docs/suit.md" : "docs/protocol.md"}`);
    }
  }
  t.deepEqual(missing, []);
});

test("docs/protocol.md lists the example apps' own codes", (t) => {
  const given = codesIn(appSource);
  const own = [...given.keys()].filter((code) => !TABLE.has(code));
  t.true(own.length >= 10, `the examples give ${own.length} codes of their own: ${own.join(", ")}`);
  const protocol = documented("docs/protocol.md");
  t.deepEqual(
    own.filter((code) => !protocol.has(code)),
    [],
  );
});
