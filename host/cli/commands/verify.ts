import { decode } from "../../../sdk/cbor/decode";
import { diagnostic } from "../../../sdk/cbor/diagnostic";
import type { CborValue, DecodeOptions } from "../../../sdk/cbor/types";
import { toHex } from "../../../sdk/bytes";
import { GatehouseError } from "../../../sdk/errors";
import { verifySign1 } from "../../../sdk/cose/sign1";
import { nodeCrypto } from "../../../ports/node/crypto";
import { cborToJson } from "../json-exact";
import { note, out, parseFlags, parseHex, positionals, readInput, readKeyFile, required } from "../util";

export const name = "verify";
export const summary = "Verify a COSE_Sign1 message and print its payload";
export const usage = `Usage: gatehouse verify --key FILE.pub [--aad HEX] FILE

Verifies a COSE_Sign1 message (tagged or untagged) against one public COSE_Key and prints the
payload on standard output:
  - as JSON, when it is CBOR that maps to JSON (maps with text keys, arrays, text, safe integers,
    finite floats, booleans, null);
  - otherwise in CBOR diagnostic notation (RFC 8949 section 8), when it is CBOR;
  - otherwise as hex, with a note on standard error.
The message's kid must be the key's and its alg the key's alg.

On failure prints one line with a stable code and exits 1, e.g.
  gatehouse verify: error bad-signature: signature does not verify
Codes include bad-signature, unknown-kid (kid is not the key's), alg-not-allowed (the key is for
another algorithm), alg-unknown, alg-missing, cose-malformed, cose-bad-tag and cbor-* for bytes that
are not well-formed CBOR.

Options:
  --key FILE.pub  public key (a private .key file works too)
  --aad HEX       external additional authenticated data, in hex; must match what was signed
  -h, --help      show this help
FILE is the message; '-' reads standard input.
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals: args } = parseFlags({
    args: argv,
    allowPositionals: true,
    options: {
      key: { type: "string" },
      aad: { type: "string" },
    },
  });
  const [file] = positionals(args, ["FILE"]);
  const keyPath = required(values.key, "--key");
  const aad = values.aad === undefined ? undefined : parseHex(values.aad, "--aad");
  const key = readKeyFile(keyPath, "public");
  const message = readInput(file);

  // The file is local and chosen by the user: let its size, not a device's limits, bound the decode.
  const limits = { maxLength: message.length, maxStringLength: message.length };
  const verified = verifySign1(nodeCrypto, message, key, { externalAad: aad, limits });
  const payload = verified.payload;
  note(`verified: ${verified.alg} signature by kid h'${toHex(verified.key.kid)}', ${payload.length}-byte payload`);
  printPayload(payload);
  return 0;
}

function printPayload(payload: Uint8Array): void {
  const sized: DecodeOptions = {
    keepFloats: true,
    maxLength: payload.length,
    maxStringLength: payload.length,
    maxItems: Math.max(payload.length, 1),
    maxDepth: 64,
  };
  let value: CborValue;
  try {
    value = decode(payload, sized);
  } catch (strictError) {
    try {
      value = decode(payload, { ...sized, requireSortedKeys: false });
      const code = strictError instanceof GatehouseError ? strictError.code : "internal";
      note(`note: the payload is CBOR but not deterministically encoded (${code})`);
    } catch {
      note(`note: the payload (${payload.length} bytes) is not CBOR; printed as hex`);
      out(toHex(payload));
      return;
    }
  }
  const json = cborToJson(value);
  out(json !== undefined ? JSON.stringify(json, null, 2) : diagnostic(value));
}
