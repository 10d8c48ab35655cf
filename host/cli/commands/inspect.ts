import { decode } from "../../../sdk/cbor/decode";
import { diagnostic } from "../../../sdk/cbor/diagnostic";
import { CborTag, type CborValue, type DecodeOptions } from "../../../sdk/cbor/types";
import { algorithmFromId } from "../../../sdk/cose/key";
import { HEADER_ALG, HEADER_KID, TAG_COSE_SIGN1 } from "../../../sdk/cose/sign1";
import { out, parseFlags, positionals, readInput } from "../util";

export const name = "inspect";
export const summary = "Print any CBOR item in diagnostic notation";
export const usage = `Usage: gatehouse inspect FILE

Prints the CBOR data item in FILE in diagnostic notation (RFC 8949 section 8), e.g.
  {1: 2, "a": 1.0}
Floats keep their float form (1.0 is not 1). A COSE_Sign1 message (tag 18) also gets comment lines
/ ... / with its decoded protected header and payload. Nothing is verified: use 'gatehouse verify'.

inspect is lenient where that helps to look at foreign data: map keys may come in any order, so
non-deterministic encodings show too. It still refuses what is not well-formed or that the decoder
never accepts (indefinite lengths, non-shortest heads and floats, duplicate map keys, bytes after
the item, ...), with one error line and a stable cbor-* code, e.g.
  gatehouse inspect: error cbor-truncated: needs 1 more bytes at offset 3

Options:
  -h, --help  show this help
FILE '-' reads standard input.
`;

export async function run(argv: string[]): Promise<number> {
  const { positionals: args } = parseFlags({ args: argv, allowPositionals: true, options: {} });
  const [file] = positionals(args, ["FILE"]);
  const bytes = readInput(file);
  const value = decode(bytes, lenient(bytes.length));
  out(diagnostic(value));
  for (const line of sign1Notes(value)) out(line);
  return 0;
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
function sign1Notes(value: CborValue): string[] {
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
    lines.push(decoded === undefined ? `/ COSE_Sign1 payload: ${payload.length} bytes, not CBOR /` : `/ COSE_Sign1 payload: ${diagnostic(decoded)} /`);
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
