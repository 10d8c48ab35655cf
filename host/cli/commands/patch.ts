import { resolve } from "node:path";
import { fail } from "../../../sdk/errors";
import { toHex } from "../../../sdk/bytes";
import { buildEnvelope } from "../../../sdk/suit/builder";
import { DEFAULT_SUIT_LIMITS } from "../../../sdk/suit/limits";
import { checkPatchSource, MAX_PATCH_SOURCE_BYTES, PATCH_COMPONENT } from "../../../sdk/patch/format";
import { nodeCrypto } from "../../../ports/node/crypto";
import { INTEGRATED_IMAGE, withIntegratedImage } from "../../server/update-package";
import { out, parseFlags, positionals, readInput, readKeyFile, required, usageError, writeOutput } from "../util";
import { kidText, manifestFlags } from "./update";

export const name = "patch";
export const summary = "Create signed patches of door logic (JavaScript in a SUIT envelope)";
export const usage = `Usage: gatehouse patch create FILE.js --seq N --vendor-id UUID --class-id UUID
                              --key FILE.key [--key FILE.key]... [--epoch N] [--integrate] --out FILE.suit

A patch replaces the logic behind door operations without reflashing: JavaScript source of the form
  export default { thermostat: { write: { target(value, ctx) { return ctx.original(value > 25 ? 25 : value); } } } };
signed like an update ('gatehouse update create'): the same update keys, sequence numbers and security
epoch, for the SUIT component "gatehouse-patch". The device verifies the envelope, checks the source
against its signed size and digest, and runs it in a Compartment whose only endowment is the door API;
the door's schema and role checks still apply. docs/suit.md ("Patches") describes the format and limits.
'export default {}' with a newer --seq removes a patch.

create   Checks FILE.js as a device will (at most ${MAX_PATCH_SOURCE_BYTES} bytes of UTF-8, one 'export default', none
         of the words for, while, do, async, await, yield, import) and writes the signed envelope. The
         device takes the envelope and, as its payload, FILE.js itself.
  --seq N          sequence number, newer than the device's last patch (patches count apart from images)
  --vendor-id UUID the vendor's UUID (8-4-4-4-12 hex, or 32 hex digits)
  --class-id UUID  the device class's UUID
  --key FILE.key   a private update key from 'gatehouse keygen' (repeat for more signers, at most ${DEFAULT_SUIT_LIMITS.maxSignatures})
  --epoch N        the security epoch (default 0)
  --integrate      carry FILE.js inside the file, as SUIT's integrated payload "${INTEGRATED_IMAGE}", for
                   'gatehouse update push': the fleet server strips it, offers the envelope and serves
                   the source in blocks; the device applies the patch without a restart
  --out FILE.suit  where to write the envelope (replaced if it exists)

Options:
  -h, --help       show this help
`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "create") return create(rest);
  return usageError(sub === undefined ? "missing subcommand: create" : `unknown subcommand ${JSON.stringify(sub)} (create)`);
}

async function create(argv: string[]): Promise<number> {
  const { values, positionals: args } = parseFlags({
    args: argv,
    allowPositionals: true,
    options: {
      seq: { type: "string" },
      "vendor-id": { type: "string" },
      "class-id": { type: "string" },
      key: { type: "string", multiple: true },
      epoch: { type: "string" },
      integrate: { type: "boolean" },
      out: { type: "string" },
    },
  });
  const [sourcePath] = positionals(args, ["FILE.js"]);
  const { outPath, sequenceNumber, securityEpoch, vendorId, classId, keyPaths } = manifestFlags(values);
  for (const path of [sourcePath, ...keyPaths]) {
    if (resolve(path) === resolve(outPath)) usageError(`--out is ${path}; refusing to overwrite an input`);
  }
  const keys = keyPaths.map((path) => readKeyFile(path, "private"));
  const source = readInput(sourcePath);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(source);
  } catch {
    return fail("patch-source-invalid", `${sourcePath} is not UTF-8`);
  }
  checkPatchSource(text);
  const imageDigest = nodeCrypto.sha256(source);
  const integrate = values.integrate === true;
  const uri = integrate ? INTEGRATED_IMAGE : undefined;
  const envelope = buildEnvelope(nodeCrypto, { sequenceNumber, vendorId, classId, imageDigest, imageSize: source.length, securityEpoch, uri, componentId: PATCH_COMPONENT }, keys);
  const file = integrate ? withIntegratedImage(envelope, source) : envelope;
  writeOutput(outPath, file, { force: true });
  out(
    `wrote ${outPath} (patch envelope, ${envelope.length} bytes${integrate ? `, with the source integrated as "${INTEGRATED_IMAGE}": ${file.length} bytes` : ""}): seq ${sequenceNumber}, source ${sourcePath} ${source.length} bytes sha256 ${toHex(imageDigest)}, ` +
      `epoch ${securityEpoch}, signed by ${keys.map(kidText).join(", ")}`,
  );
  return 0;
}
