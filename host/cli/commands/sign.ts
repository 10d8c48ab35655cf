import { resolve } from "node:path";
import { encode } from "../../../sdk/cbor/encode";
import { DEFAULT_DECODE_LIMITS } from "../../../sdk/cbor/types";
import { sign1 } from "../../../sdk/cose/sign1";
import { nodeCrypto } from "../../../ports/node/crypto";
import { jsonTextToCbor } from "../json-exact";
import { note, out, parseFlags, parseHex, readInput, readKeyFile, required, usageError, writeOutput } from "../util";

export const name = "sign";
export const summary = "Sign a payload into a COSE_Sign1 message";
export const usage = `Usage: gatehouse sign --key FILE.key (--json JSON | --payload FILE) [--aad HEX] [--untagged] --out FILE

Signs a payload with a private COSE_Key and writes a COSE_Sign1 message (RFC 9052 section 4.2).
The protected header holds the key's alg and kid; the unprotected header is empty.

Options:
  --key FILE.key   private key from 'gatehouse keygen'
  --json JSON      payload: this JSON value as deterministic CBOR (objects become maps with text
                   keys; safe integers become CBOR integers, other numbers floats; note that JSON
                   1.0 is the number 1, an integer)
  --payload FILE   payload: the file's bytes, as they are ('-' reads standard input)
  --aad HEX        external additional authenticated data, in hex; the verifier must give the same
  --untagged       leave out tag 18 (for protocols that know the message type)
  --out FILE       where to write the message (replaced if it exists)
  -h, --help       show this help

Exactly one of --json and --payload.
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags({
    args: argv,
    options: {
      key: { type: "string" },
      json: { type: "string" },
      payload: { type: "string" },
      aad: { type: "string" },
      untagged: { type: "boolean" },
      out: { type: "string" },
    },
  });
  const keyPath = required(values.key, "--key");
  const outPath = required(values.out, "--out");
  if ((values.json === undefined) === (values.payload === undefined)) usageError("give exactly one of --json and --payload");
  if (resolve(outPath) === resolve(keyPath)) usageError("--out is the key file; refusing to overwrite the key");
  const aad = values.aad === undefined ? undefined : parseHex(values.aad, "--aad");

  const key = readKeyFile(keyPath, "private");
  const payload = values.json !== undefined ? encode(jsonTextToCbor(values.json, "--json")) : readInput(values.payload as string);
  const message = sign1(nodeCrypto, key, payload, { externalAad: aad, tagged: values.untagged !== true });
  writeOutput(outPath, message, { force: true });

  out(`wrote ${outPath} (COSE_Sign1${values.untagged ? ", untagged" : ""}, ${key.alg}, ${payload.length}-byte payload, ${message.length} bytes)`);
  if (message.length > DEFAULT_DECODE_LIMITS.maxLength || payload.length > DEFAULT_DECODE_LIMITS.maxStringLength) {
    note(
      `note: a device decodes at most ${DEFAULT_DECODE_LIMITS.maxLength}-byte messages with ${DEFAULT_DECODE_LIMITS.maxStringLength}-byte strings by default; this one is larger`,
    );
  }
  return 0;
}
