import { createReadStream } from "node:fs";
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { fail } from "../../../sdk/errors";
import { fromHex, toHex } from "../../../sdk/bytes";
import { decode } from "../../../sdk/cbor/decode";
import { CborTag, type CborValue } from "../../../sdk/cbor/types";
import { HEADER_KID } from "../../../sdk/cose/sign1";
import type { CoseKey } from "../../../sdk/cose/key";
import { buildEnvelope } from "../../../sdk/suit/builder";
import { decodeEnvelope, verifyEnvelope, type SignatureOutcome, type SuitEnvelope } from "../../../sdk/suit/envelope";
import { parseManifest, parseManifestUnverified, type SuitManifest } from "../../../sdk/suit/manifest";
import { summarizeManifest, type SuitSummary } from "../../../sdk/suit/inspect";
import { uuidText } from "../../../sdk/suit/processor";
import { createUpdateTrust, MAX_UPDATE_KEYS } from "../../../sdk/suit/trust";
import { DEFAULT_SUIT_LIMITS } from "../../../sdk/suit/limits";
import { nodeCrypto } from "../../../ports/node/crypto";
import { out, parseFlags, positionals, readInput, readKeyFile, required, usageError, writeOutput } from "../util";

export const name = "update";
export const summary = "Create and inspect signed updates (SUIT manifests)";
export const usage = `Usage: gatehouse update create --image FILE --seq N --vendor-id UUID --class-id UUID
                               --key FILE.key [--key FILE.key]... [--uri URI] [--epoch N] --out FILE.suit
       gatehouse update inspect FILE.suit [--key FILE.pub]... [--threshold K] [--slot N] [--json]

Updates are SUIT envelopes (IETF draft-ietf-suit-manifest-37): a manifest that names the image by its
SHA-256 digest and size, the vendor and class of device it is for, a sequence number (devices refuse
anything not newer than what they run) and a security epoch (devices refuse builds below their minimum),
signed with COSE_Sign1 by one or more update keys. docs/suit.md describes the profile and every code.

create   Hashes the image (streamed: any size) and writes a signed envelope. Each --key adds one
         signature (at most ${DEFAULT_SUIT_LIMITS.maxSignatures}); a device with a k-of-n update trust needs k of them.
  --image FILE     the firmware image or patch
  --seq N          sequence number, an integer 0 to 2^53-1 (e.g. a build number or a UTC time)
  --vendor-id UUID the vendor's UUID (8-4-4-4-12 hex, or 32 hex digits)
  --class-id UUID  the device class's UUID
  --key FILE.key   a private update key from 'gatehouse keygen' (repeat for more signers)
  --uri URI        where devices fetch the image (default: none; it comes over Gatehouse's own transfer)
  --epoch N        the build's security epoch (default 0)
  --out FILE.suit  where to write the envelope (replaced if it exists)

inspect  Prints the sequence number, vendor and class ids, image size and digest, security epoch, URI
         and the signers. With --key, verifies first (k of the given keys, k = --threshold, default 1)
         and exits 1 with one coded line if verification fails, e.g.
           gatehouse update: error suit-threshold-not-met: 1 of the required 2 update keys signed
         Without --key nothing is verified: the output says so.
  --key FILE.pub   a trusted update key (repeat for more, at most ${MAX_UPDATE_KEYS})
  --threshold K    how many distinct given keys must have signed (default 1)
  --slot N         for A/B manifests: show the image for slot N (default 0)
  --json           print the summary as JSON instead of text

Options:
  -h, --help       show this help
`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "create") return create(rest);
  if (sub === "inspect") return inspect(rest);
  return usageError(sub === undefined ? "missing subcommand: create or inspect" : `unknown subcommand ${JSON.stringify(sub)} (create or inspect)`);
}

// ---- create ----

async function create(argv: string[]): Promise<number> {
  const { values } = parseFlags({
    args: argv,
    options: {
      image: { type: "string" },
      seq: { type: "string" },
      "vendor-id": { type: "string" },
      "class-id": { type: "string" },
      key: { type: "string", multiple: true },
      uri: { type: "string" },
      epoch: { type: "string" },
      out: { type: "string" },
    },
  });
  const imagePath = required(values.image, "--image");
  const outPath = required(values.out, "--out");
  const sequenceNumber = parseCount(required(values.seq, "--seq"), "--seq");
  const securityEpoch = values.epoch === undefined ? 0 : parseCount(values.epoch, "--epoch");
  const vendorId = parseUuid(required(values["vendor-id"], "--vendor-id"), "--vendor-id");
  const classId = parseUuid(required(values["class-id"], "--class-id"), "--class-id");
  const keyPaths = values.key ?? [];
  if (keyPaths.length === 0) usageError("missing --key");
  if (values.uri === "") usageError("--uri must not be empty");
  for (const path of [imagePath, ...keyPaths]) {
    if (resolve(path) === resolve(outPath)) usageError(`--out is ${path}; refusing to overwrite an input`);
  }

  const keys = keyPaths.map((path) => readKeyFile(path, "private"));
  const image = await hashFile(imagePath);
  const envelope = buildEnvelope(nodeCrypto, { sequenceNumber, vendorId, classId, imageDigest: image.digest, imageSize: image.size, securityEpoch, uri: values.uri }, keys);
  writeOutput(outPath, envelope, { force: true });
  out(
    `wrote ${outPath} (SUIT envelope, ${envelope.length} bytes): seq ${sequenceNumber}, image ${image.size} bytes sha256 ${toHex(image.digest)}, ` +
      `epoch ${securityEpoch}, signed by ${keys.map(kidText).join(", ")}`,
  );
  return 0;
}

/** SHA-256 and size of a file, streamed: images may be larger than memory should hold. */
async function hashFile(path: string): Promise<{ digest: Uint8Array; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  try {
    for await (const chunk of createReadStream(path)) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : code === "EACCES" ? "permission denied" : String(code ?? e);
    return fail("file", `cannot read ${path}: ${reason}`);
  }
  if (!Number.isSafeInteger(size)) fail("file", `${path} is too large`);
  return { digest: new Uint8Array(hash.digest()), size };
}

export function parseCount(text: string, flag: string): number {
  const value = /^(0|[1-9][0-9]*)$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) usageError(`${flag} must be an integer from 0 to 2^53-1, not ${JSON.stringify(text)}`);
  return value;
}

export function parseUuid(text: string, flag: string): Uint8Array {
  const bytes = /^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/.test(text) ? fromHex(text.replace(/-/g, "")) : undefined;
  if (bytes === undefined) usageError(`${flag} must be a UUID (8-4-4-4-12 hex digits, or 32 hex digits), not ${JSON.stringify(text)}`);
  return bytes;
}

// ---- inspect ----

async function inspect(argv: string[]): Promise<number> {
  const { values, positionals: args } = parseFlags({
    args: argv,
    allowPositionals: true,
    options: {
      key: { type: "string", multiple: true },
      threshold: { type: "string" },
      slot: { type: "string" },
      json: { type: "boolean" },
    },
  });
  const [file] = positionals(args, ["FILE.suit"]);
  const keyPaths = values.key ?? [];
  if (values.threshold !== undefined && keyPaths.length === 0) usageError("--threshold needs --key");
  const threshold = values.threshold === undefined ? 1 : parseCount(values.threshold, "--threshold");
  if (keyPaths.length > 0 && (threshold < 1 || threshold > keyPaths.length)) usageError(`--threshold must be 1 to ${keyPaths.length} (the number of --key)`);
  const slot = values.slot === undefined ? 0 : parseCount(values.slot, "--slot");

  const bytes = readInput(file);
  let envelope: SuitEnvelope;
  let manifest: SuitManifest;
  let signatures: readonly SignatureOutcome[] | undefined;
  if (keyPaths.length > 0) {
    const keys = keyPaths.map((path) => readKeyFile(path, "public"));
    const verified = verifyEnvelope(nodeCrypto, bytes, createUpdateTrust(keys, threshold));
    envelope = verified;
    signatures = verified.signatures;
    manifest = parseManifest(nodeCrypto, verified);
  } else {
    envelope = decodeEnvelope(nodeCrypto, bytes);
    manifest = parseManifestUnverified(nodeCrypto, envelope);
  }
  const summary = summarizeManifest(manifest, { slot });
  if (values.json) {
    out(JSON.stringify(summaryJson(summary, envelope, signatures, threshold, bytes.length), null, 2));
  } else {
    for (const line of summaryText(summary, envelope, signatures, threshold, file, bytes.length)) out(line);
  }
  return 0;
}

/** The kid a block names (before any verification), for display. */
function blockKid(block: Uint8Array): Uint8Array | undefined {
  try {
    const item = decode(block);
    const parts = (item instanceof CborTag ? item.value : item) as CborValue[];
    const header = decode(parts[0] as Uint8Array) as Map<unknown, unknown>;
    const kid = header.get(HEADER_KID) ?? (parts[1] as Map<unknown, unknown>).get(HEADER_KID);
    return kid instanceof Uint8Array ? kid : undefined;
  } catch {
    return undefined;
  }
}

export function kidText(key: { kid: Uint8Array } | Uint8Array | undefined): string {
  const kid = key instanceof Uint8Array ? key : key?.kid;
  if (kid === undefined) return "(no kid)";
  const text = new TextDecoder("utf-8", { fatal: false }).decode(kid);
  return /^[\x20-\x7e]+$/.test(text) ? JSON.stringify(text) : `h'${toHex(kid)}'`;
}

function summaryText(summary: SuitSummary, envelope: SuitEnvelope, signatures: readonly SignatureOutcome[] | undefined, threshold: number, file: string, size: number): string[] {
  const lines = [`envelope       ${file} (${size} bytes)`];
  if (signatures === undefined) {
    lines.push(`verified       NO: no --key given; nothing below is authenticated`);
  } else {
    const signers = signatures.filter((s) => s.signer).map((s) => kidText(s.signer as CoseKey));
    lines.push(`verified       yes: ${signers.length} distinct update key${signers.length === 1 ? "" : "s"} signed (${threshold} required): ${signers.join(", ")}`);
  }
  lines.push(`manifest       sha256 ${toHex(summary.manifestDigest.bytes)}`);
  lines.push(`sequence       ${summary.sequenceNumber}`);
  if (summary.referenceUri !== undefined) lines.push(`reference-uri  ${summary.referenceUri}`);
  for (const c of summary.components) {
    lines.push(`component ${c.index}    [${c.id.map((part) => `h'${toHex(part)}'`).join(", ")}]`);
    lines.push(`  vendor-id    ${c.vendorId ? uuidText(c.vendorId) : "-"}${c.vendorId && !c.vendorIdChecked ? " (not checked)" : ""}`);
    lines.push(`  class-id     ${c.classId ? uuidText(c.classId) : "-"}${c.classId && !c.classIdChecked ? " (not checked)" : ""}`);
    lines.push(`  image size   ${c.imageSize === undefined ? "-" : `${c.imageSize} bytes`}`);
    lines.push(`  image digest ${c.imageDigest ? `sha256 ${toHex(c.imageDigest.bytes)}` : "-"}`);
    lines.push(`  epoch        ${c.securityEpoch ?? 0}`);
    lines.push(`  uri          ${c.uri ?? (c.fetched ? "- (fetched over Gatehouse's own transfer)" : "-")}`);
    const actions = [c.fetched && "fetch", c.copied && `copy from ${c.sourceComponent}`, c.invoked && "invoke"].filter(Boolean);
    lines.push(`  does         ${actions.length > 0 ? actions.join(", ") : "-"}`);
  }
  for (const [procedure, code] of Object.entries(summary.procedures)) {
    if (code !== "ok") lines.push(`${procedure.padEnd(14)} cannot run: ${code}`);
  }
  lines.push("signatures");
  envelope.authenticationBlocks.forEach((block, index) => {
    const outcome = signatures?.[index];
    const state = outcome === undefined ? "not checked" : outcome.code === undefined ? "ok" : outcome.code;
    lines.push(`  block ${index}      kid ${kidText(blockKid(block))}: ${state}`);
  });
  if (envelope.authenticationBlocks.length === 0) lines.push("  none (unsigned)");
  return lines;
}

function summaryJson(summary: SuitSummary, envelope: SuitEnvelope, signatures: readonly SignatureOutcome[] | undefined, threshold: number, size: number): unknown {
  const hex = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : toHex(b));
  return {
    bytes: size,
    verified: signatures !== undefined,
    threshold: signatures === undefined ? undefined : threshold,
    manifestDigest: toHex(summary.manifestDigest.bytes),
    sequenceNumber: summary.sequenceNumber,
    referenceUri: summary.referenceUri,
    procedures: summary.procedures,
    components: summary.components.map((c) => ({
      index: c.index,
      id: c.id.map(toHex),
      vendorId: c.vendorId && uuidText(c.vendorId),
      classId: c.classId && uuidText(c.classId),
      vendorIdChecked: c.vendorIdChecked,
      classIdChecked: c.classIdChecked,
      imageSize: c.imageSize,
      imageDigest: hex(c.imageDigest?.bytes),
      securityEpoch: c.securityEpoch ?? 0,
      uri: c.uri,
      fetched: c.fetched,
      copied: c.copied,
      invoked: c.invoked,
    })),
    signatures: envelope.authenticationBlocks.map((block, index) => {
      const outcome = signatures?.[index];
      const kid = blockKid(block);
      return { index, kid: kid && toHex(kid), result: outcome === undefined ? "not-checked" : (outcome.code ?? "ok") };
    }),
  };
}
