import { join } from "node:path";
import { utf8 } from "../../../sdk/cbor/encode";
import { encodeKey, publicKey, type SignatureAlgorithm } from "../../../sdk/cose/key";
import { toHex } from "../../../sdk/bytes";
import { nodeCrypto } from "../../../ports/node/crypto";
import { fail } from "../../../sdk/errors";
import { exists, out, parseFlags, required, usageError, writeOutput } from "../util";

export const name = "keygen";
export const summary = "Generate a signing key pair (COSE_Key files NAME.key and NAME.pub)";
export const usage = `Usage: gatehouse keygen --alg ES256|EdDSA --kid NAME --out DIR [--force]

Generates a key pair and writes two COSE_Key files (CBOR, RFC 9052 section 7):
  DIR/NAME.key  the private key, file mode 0600. Keep it secret.
  DIR/NAME.pub  the public key, to give to verifiers.
Both carry kid = the UTF-8 bytes of NAME and the algorithm, so a key works with that algorithm only.

Options:
  --alg ES256|EdDSA  ES256 (ECDSA P-256 with SHA-256) or EdDSA (Ed25519)
  --kid NAME         key id and file name: 1 to 64 bytes of letters, digits, '.', '_', '-', '@',
                     starting with a letter or digit
  --out DIR          folder for the two files (created if missing)
  --force            replace existing files (otherwise an existing file is an error)
  -h, --help         show this help
`;

const KID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]*$/;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags({
    args: argv,
    options: {
      alg: { type: "string" },
      kid: { type: "string" },
      out: { type: "string" },
      force: { type: "boolean" },
    },
  });
  const alg = required(values.alg, "--alg");
  if (alg !== "ES256" && alg !== "EdDSA") usageError(`--alg must be ES256 or EdDSA, not ${JSON.stringify(alg)}`);
  const kid = required(values.kid, "--kid");
  if (!KID_PATTERN.test(kid) || kid.length > 64) {
    usageError(`--kid must be 1 to 64 of letters, digits, '.', '_', '-', '@', starting with a letter or digit`);
  }
  const dir = required(values.out, "--out");
  if (dir === "") usageError("--out must name a folder");
  const force = values.force === true;

  const keyPath = join(dir, `${kid}.key`);
  const pubPath = join(dir, `${kid}.pub`);
  if (!force) {
    // Check both before writing either, so a refusal leaves nothing half done.
    for (const path of [keyPath, pubPath]) {
      if (exists(path)) fail("file-exists", `${path} already exists (use --force to replace it)`);
    }
  }

  const key = nodeCrypto.generateKey(alg as SignatureAlgorithm, utf8(kid));
  writeOutput(keyPath, encodeKey(key, true), { force, mode: 0o600 });
  writeOutput(pubPath, encodeKey(publicKey(key), false), { force, mode: 0o644 });
  out(`wrote ${keyPath} (${alg} private key, mode 0600, keep it secret)`);
  out(`wrote ${pubPath} (${alg} public key, kid "${kid}" = h'${toHex(key.kid)}')`);
  return 0;
}
