import { decode } from "../../../sdk/cbor/decode";
import { diagnostic } from "../../../sdk/cbor/diagnostic";
import { CborTag, type CborMap, type CborValue, type DecodeOptions } from "../../../sdk/cbor/types";
import { algorithmFromId } from "../../../sdk/cose/key";
import { HEADER_ALG, HEADER_KID, TAG_COSE_SIGN1 } from "../../../sdk/cose/sign1";
import { out, parseFlags, positionals, readInput } from "../util";

export const name = "inspect";
export const summary = "Print any CBOR item in diagnostic notation";
export const usage = `Usage: gatehouse inspect [--show-private] FILE

Prints the CBOR data item in FILE in diagnostic notation (RFC 8949 section 8), e.g.
  {1: 2, "a": 1.0}
Floats keep their float form (1.0 is not 1). A COSE_Sign1 message (tag 18) also gets comment lines
/ ... / with its decoded protected header and payload. Nothing is verified: use 'gatehouse verify'.

inspect is lenient where that helps to look at foreign data: map keys may come in any order, so
non-deterministic encodings show too. It still refuses what is not well-formed or that the decoder
never accepts (indefinite lengths, non-shortest heads and floats, duplicate map keys, bytes after
the item, ...), with one error line and a stable cbor-* code, e.g.
  gatehouse inspect: error cbor-truncated: needs 1 more bytes at offset 3

A private COSE_Key (from 'gatehouse keygen' or 'provision') is shown with its secret redacted: d
(and k of a symmetric key) becomes "<redacted: N bytes>", so the output can be pasted anywhere.

Options:
  --show-private  print private key material as it is
  -h, --help      show this help
FILE '-' reads standard input; at most 16 MiB are read (more is error too-large).
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals: args } = parseFlags({ args: argv, allowPositionals: true, options: { "show-private": { type: "boolean" } } });
  const [file] = positionals(args, ["FILE"]);
  const bytes = readInput(file);
  const show = values["show-private"] === true ? (v: CborValue) => v : redactSecrets;
  const value = decode(bytes, lenient(bytes.length));
  const shown = show(value);
  out(diagnostic(shown));
  if (shown !== value) out("/ private key material redacted: --show-private prints it /");
  for (const line of sign1Notes(value, show)) out(line);
  return 0;
}

/** COSE key type Symmetric (RFC 9053): its secret is label -1 (k); every other type keeps it in -4 (d). */
const KTY_SYMMETRIC = 4;
const LABEL_KTY = 1;

/**
 * The value with the secret of every COSE_Key in it (a map with a kty) replaced by the text
 * "<redacted: N bytes>"; the same object when there was nothing to redact.
 */
export function redactSecrets(value: CborValue, depth = 0): CborValue {
  if (depth > 64) return value;
  if (Array.isArray(value)) {
    const items = value.map((item) => redactSecrets(item, depth + 1));
    return items.some((item, i) => item !== value[i]) ? items : value;
  }
  if (value instanceof CborTag) {
    const inner = redactSecrets(value.value, depth + 1);
    return inner === value.value ? value : new CborTag(value.tag, inner);
  }
  if (!(value instanceof Map)) return value;
  const kty = value.get(LABEL_KTY);
  const secretLabel = kty === KTY_SYMMETRIC ? -1 : -4;
  let changed = false;
  const copy: CborMap = new Map();
  for (const [k, v] of value) {
    let shown = redactSecrets(v, depth + 1);
    if (kty !== undefined && k === secretLabel && v instanceof Uint8Array) shown = `<redacted: ${v.length} bytes>`;
    if (shown !== v) changed = true;
    copy.set(k, shown);
  }
  return changed ? copy : value;
}

/** Decode options for looking at data: bounded by the input's size rather than a device's limits. */
function lenient(length: number): DecodeOptions {
  return {
    keepFloats: true,
    requireSortedKeys: false,
    maxLength: length,
    maxStringLength: length,
    maxItems: Math.max(length, 1),
    maxDepth: 64,
  };
}

/** Comment lines for a tagged COSE_Sign1: its protected header and payload, decoded when they are CBOR. */
function sign1Notes(value: CborValue, show: (v: CborValue) => CborValue): string[] {
  if (!(value instanceof CborTag) || value.tag !== TAG_COSE_SIGN1) return [];
  const parts = value.value;
  if (!Array.isArray(parts) || parts.length !== 4) return ["/ tag 18 but not a COSE_Sign1 (an array of four) /"];
  const [protectedBytes, , payload] = parts;
  const lines: string[] = [];
  if (protectedBytes instanceof Uint8Array) {
    const header = protectedBytes.length === 0 ? new Map() : tryDecode(protectedBytes);
    if (header === undefined) {
      lines.push("/ COSE_Sign1 protected header: not CBOR /");
    } else {
      lines.push(`/ COSE_Sign1 protected header: ${diagnostic(header)}${headerSummary(header)} /`);
    }
  }
  if (payload === null) {
    lines.push("/ COSE_Sign1 payload: detached (nil) /");
  } else if (payload instanceof Uint8Array) {
    const decoded = tryDecode(payload);
    lines.push(decoded === undefined ? `/ COSE_Sign1 payload: ${payload.length} bytes, not CBOR /` : `/ COSE_Sign1 payload: ${diagnostic(show(decoded))} /`);
  }
  return lines;
}

function tryDecode(bytes: Uint8Array): CborValue | undefined {
  try {
    return decode(bytes, lenient(bytes.length));
  } catch {
    return undefined;
  }
}

function headerSummary(header: CborValue): string {
  if (!(header instanceof Map)) return "";
  const parts: string[] = [];
  const alg = header.get(HEADER_ALG);
  if (alg !== undefined) parts.push(`alg ${algorithmFromId(alg) ?? diagnostic(alg)}`);
  const kid = header.get(HEADER_KID);
  if (kid instanceof Uint8Array) {
    const text = printableUtf8(kid);
    if (text !== undefined) parts.push(`kid ${JSON.stringify(text)}`);
  }
  return parts.length > 0 ? ` = ${parts.join(", ")}` : "";
}

function printableUtf8(bytes: Uint8Array): string | undefined {
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return /^[\x20-\x7e]+$/.test(text) ? text : undefined;
  } catch {
    return undefined;
  }
}
