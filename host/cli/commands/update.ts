import { createReadStream, statSync } from "node:fs";
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
import { publicKey } from "../../../sdk/cose/key";
import { bytesEqual } from "../../../sdk/bytes";
import { signTrustUpdate, type UpdateTrustDocument } from "../../../sdk/update/trust";
import { INTEGRATED_IMAGE, MAX_UPDATE_FILE, readUpdatePackage, splitIntegratedPayloads, withIntegratedImage } from "../../server/update-package";
import { note, out, parseFlags, positionals, readInput, readKeyFile, required, SERVER_ACCESS_HELP, SERVER_ACCESS_OPTIONS, serverAccess, usageError, writeOutput } from "../util";
import type { Rollout } from "../../server/rollouts";

export const name = "update";
export const summary = "Create, inspect and roll out signed updates (SUIT manifests)";
export const usage = `Usage: gatehouse update create --image FILE --seq N --vendor-id UUID --class-id UUID
                               --key FILE.key [--key FILE.key]... [--uri URI | --integrate] [--epoch N] --out FILE.suit
       gatehouse update inspect FILE.suit [--key FILE.pub]... [--threshold K] [--slot N] [--json]
       gatehouse update trust --key CURRENT.key... --new-key NEW.pub... --threshold K --seq N
                              [--min-epoch N] --out FILE.trust
       gatehouse update push FILE.suit (--device ID... | --all) --server URL [--wave N] [--max-failures N]
       gatehouse update status ID --server URL
       gatehouse update abort ID --server URL

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
  --integrate      carry the image inside the file, as SUIT's integrated payload "${INTEGRATED_IMAGE}" (the
                   manifest fetches from "${INTEGRATED_IMAGE}"): the file is all the fleet server needs to offer
                   the update; it strips the image before offering and serves it in blocks. Images up
                   to ${MAX_UPDATE_FILE >> 20} MiB.
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
         An integrated image is shown with its size and whether it is the image the manifest names
         (with --key, one that is not fails: suit-image-size-mismatch, suit-image-digest-mismatch).

trust    Writes a signed trust update: the update keys and threshold that replace a device's current
         ones, and its new minimum security epoch (devices then refuse builds, and rollbacks, below it).
         A device takes it only when k of its CURRENT update keys signed it (k = its current threshold),
         its --seq is above the current one, and the epoch does not go down. The fleet server sends it.
  --key FILE.key   a private key of the CURRENT update trust (repeat: at least its threshold of them)
  --new-key FILE.pub  an update key of the new trust (repeat; at most ${MAX_UPDATE_KEYS}); leave out a compromised one
  --threshold K    how many of the new keys must sign from now on (1 to the number of --new-key)
  --seq N          the new trust's sequence number (above the device's current one; provisioning gives 0)
  --min-epoch N    the new minimum security epoch (default 0; never lower than the current one)
  --out FILE       where to write the trust update (replaced if it exists)

push     Starts a rollout of FILE.suit (from 'update create --integrate', or a patch from 'patch create
         --integrate': the image or the patch source travels inside it) on the fleet
         server, then shows a progress bar per device until the rollout ends (redrawn in place on a
         terminal, one line per change otherwise), and a summary: confirmed, refused (with the devices'
         codes), rolled back, failed. Exits 1 when any device did not confirm. The server offers the
         update in waves: a wave starts when every device of the one before confirmed, refused, rolled
         back or failed; more failures than --max-failures halt the rollout (no further wave). The
         rollout runs on the server: Ctrl-C stops watching, not the rollout. Needs role manage.
  --device ID      a device to update (repeat for more)
  --all            every device registered on the server
  --wave N         devices per wave (default: all at once)
  --max-failures N failures tolerated before the rollout halts (default 0)
  --detach         start the rollout and print its id without watching it

status   Shows a rollout's devices (wave, progress, state, code) and its summary (role view).
abort    Aborts a running or halted rollout: no further wave starts, and devices that have not
         installed the update stop; devices already restarting into it finish (role manage).
  --server URL     the fleet server (e.g. http://127.0.0.1:8080)
${SERVER_ACCESS_HELP}

Options:
  -h, --help       show this help
`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "create") return create(rest);
  if (sub === "inspect") return inspect(rest);
  if (sub === "trust") return trust(rest);
  if (sub === "push") return push(rest);
  if (sub === "status") return status(rest);
  if (sub === "abort") return abort(rest);
  const subs = "create, inspect, trust, push, status or abort";
  return usageError(sub === undefined ? `missing subcommand: ${subs}` : `unknown subcommand ${JSON.stringify(sub)} (${subs})`);
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
      integrate: { type: "boolean" },
      epoch: { type: "string" },
      out: { type: "string" },
    },
  });
  const imagePath = required(values.image, "--image");
  const { outPath, sequenceNumber, securityEpoch, vendorId, classId, keyPaths } = manifestFlags(values);
  if (values.uri === "") usageError("--uri must not be empty");
  const integrate = values.integrate === true;
  if (integrate && values.uri !== undefined) usageError("--integrate and --uri exclude each other: an integrated image is fetched from the file itself");
  for (const path of [imagePath, ...keyPaths]) {
    if (resolve(path) === resolve(outPath)) usageError(`--out is ${path}; refusing to overwrite an input`);
  }

  const keys = keyPaths.map((path) => readKeyFile(path, "private"));
  if (integrate) {
    let size = 0;
    try {
      size = statSync(imagePath).size;
    } catch {
      // hashFile reports it.
    }
    if (size > MAX_UPDATE_FILE - 65536) fail("too-large", `${imagePath} is ${size} bytes; an integrated image takes at most ${MAX_UPDATE_FILE - 65536}`);
  }
  const image = await hashFile(imagePath);
  const uri = integrate ? INTEGRATED_IMAGE : values.uri;
  const envelope = buildEnvelope(nodeCrypto, { sequenceNumber, vendorId, classId, imageDigest: image.digest, imageSize: image.size, securityEpoch, uri }, keys);
  let file = envelope;
  if (integrate) {
    const bytes = readInput(imagePath);
    // The file read now must be the one hashed: a file that changed in between is refused.
    if (bytes.length !== image.size || !bytesEqual(nodeCrypto.sha256(bytes), image.digest)) fail("file", `${imagePath} changed while it was read`);
    file = withIntegratedImage(envelope, bytes);
  }
  writeOutput(outPath, file, { force: true });
  out(
    `wrote ${outPath} (SUIT envelope, ${envelope.length} bytes${integrate ? `, with the image integrated as "${INTEGRATED_IMAGE}": ${file.length} bytes` : ""}): ` +
      `seq ${sequenceNumber}, image ${image.size} bytes sha256 ${toHex(image.digest)}, epoch ${securityEpoch}, signed by ${keys.map(kidText).join(", ")}`,
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

/** The flags every signed manifest takes (update create, patch create), checked: --out --seq --epoch --vendor-id --class-id --key. */
export function manifestFlags(values: { out?: string; seq?: string; epoch?: string; "vendor-id"?: string; "class-id"?: string; key?: string[] }): {
  outPath: string;
  sequenceNumber: number;
  securityEpoch: number;
  vendorId: Uint8Array;
  classId: Uint8Array;
  keyPaths: string[];
} {
  const outPath = required(values.out, "--out");
  const sequenceNumber = parseCount(required(values.seq, "--seq"), "--seq");
  const securityEpoch = values.epoch === undefined ? 0 : parseCount(values.epoch, "--epoch");
  const vendorId = parseUuid(required(values["vendor-id"], "--vendor-id"), "--vendor-id");
  const classId = parseUuid(required(values["class-id"], "--class-id"), "--class-id");
  const keyPaths = values.key ?? [];
  if (keyPaths.length === 0) usageError("missing --key");
  return { outPath, sequenceNumber, securityEpoch, vendorId, classId, keyPaths };
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

  const raw = readInput(file);
  const { envelope: bytes, payloads } = splitOrWhole(raw);
  const fileSize = raw.length;
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
  const integrated = [...payloads].map(([key, payload]) => integratedPayload(key, payload, summary));
  if (values.json) {
    out(JSON.stringify({ ...(summaryJson(summary, envelope, signatures, threshold, fileSize) as object), integrated }, null, 2));
  } else {
    for (const line of summaryText(summary, envelope, signatures, threshold, file, fileSize)) out(line);
    for (const p of integrated) out(`integrated     "${p.key}": ${p.size} bytes sha256 ${p.digest}: ${p.matches ? `the image of component ${p.component}` : (p.problem ?? "")}`);
  }
  // Verified, and carrying an image that is not the one signed for: refused.
  const wrong = integrated.find((p) => !p.matches && p.code !== undefined);
  if (signatures !== undefined && wrong?.code !== undefined) fail(wrong.code, `the integrated payload "${wrong.key}" ${wrong.problem}`);
  return 0;
}

/**
 * The file's integrated payloads set apart; a file that is no envelope at all is left whole, so that the
 * envelope decoder reports what is wrong with it, with its own code and device limits.
 */
function splitOrWhole(bytes: Uint8Array): { envelope: Uint8Array; payloads: ReadonlyMap<string, Uint8Array> } {
  try {
    return splitIntegratedPayloads(bytes);
  } catch {
    return { envelope: bytes, payloads: new Map() };
  }
}

interface IntegratedPayload {
  key: string;
  size: number;
  digest: string;
  component?: number;
  matches: boolean;
  problem?: string;
  code?: "suit-image-size-mismatch" | "suit-image-digest-mismatch";
}

/** An integrated payload, against the component that fetches from its key. */
function integratedPayload(key: string, payload: Uint8Array, summary: SuitSummary): IntegratedPayload {
  const digest = nodeCrypto.sha256(payload);
  const base = { key, size: payload.length, digest: toHex(digest) };
  const component = summary.components.find((c) => c.uri === key);
  if (component === undefined) return { ...base, matches: false, problem: "NOT fetched by the manifest (no component names it): a device never sees it" };
  if (component.imageSize !== undefined && component.imageSize !== payload.length) {
    return { ...base, component: component.index, matches: false, problem: `DOES NOT match: the manifest says ${component.imageSize} bytes`, code: "suit-image-size-mismatch" };
  }
  if (component.imageDigest !== undefined && !bytesEqual(component.imageDigest.bytes, digest)) {
    return { ...base, component: component.index, matches: false, problem: `DOES NOT match: the manifest says sha256 ${toHex(component.imageDigest.bytes)}`, code: "suit-image-digest-mismatch" };
  }
  return { ...base, component: component.index, matches: true };
}

// ---- trust ----

async function trust(argv: string[]): Promise<number> {
  const { values } = parseFlags({
    args: argv,
    options: {
      key: { type: "string", multiple: true },
      "new-key": { type: "string", multiple: true },
      threshold: { type: "string" },
      seq: { type: "string" },
      "min-epoch": { type: "string" },
      out: { type: "string" },
    },
  });
  const outPath = required(values.out, "--out");
  const keyPaths = values.key ?? [];
  const newPaths = values["new-key"] ?? [];
  if (keyPaths.length === 0) usageError("missing --key (the private keys of the current update trust that sign this update)");
  if (newPaths.length === 0) usageError("missing --new-key (the update keys of the new trust)");
  if (newPaths.length > MAX_UPDATE_KEYS) usageError(`at most ${MAX_UPDATE_KEYS} --new-key`);
  const seq = parseCount(required(values.seq, "--seq"), "--seq");
  if (seq === 0) usageError("--seq must be above 0: provisioning gives the first trust seq 0");
  const threshold = parseCount(required(values.threshold, "--threshold"), "--threshold");
  if (threshold < 1 || threshold > newPaths.length) usageError(`--threshold must be 1 to ${newPaths.length} (the number of --new-key)`);
  const minEpoch = values["min-epoch"] === undefined ? 0 : parseCount(values["min-epoch"], "--min-epoch");
  for (const path of [...keyPaths, ...newPaths]) {
    if (resolve(path) === resolve(outPath)) usageError(`--out is ${path}; refusing to overwrite an input`);
  }
  const signers = keyPaths.map((path) => readKeyFile(path, "private"));
  const document: UpdateTrustDocument = { seq, threshold, keys: newPaths.map((path) => publicKey(readKeyFile(path, "public"))), minEpoch };
  const bytes = signTrustUpdate(nodeCrypto, document, signers);
  writeOutput(outPath, bytes, { force: true });
  out(
    `wrote ${outPath} (trust update, ${bytes.length} bytes): seq ${seq}, ${threshold} of ${document.keys.length} keys (${document.keys.map(kidText).join(", ")}), ` +
      `minimum epoch ${minEpoch}, signed by ${signers.map(kidText).join(", ")}`,
  );
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

// ---- push, status, abort (rollouts on the fleet server: host/server/rollouts.ts) ----

/** How often a watched rollout is read again. */
const POLL_MS = 500;

async function push(argv: string[]): Promise<number> {
  const { values, positionals: args } = parseFlags({
    args: argv,
    allowPositionals: true,
    options: {
      device: { type: "string", multiple: true },
      all: { type: "boolean" },
      server: { type: "string" },
      wave: { type: "string" },
      "max-failures": { type: "string" },
      detach: { type: "boolean" },
      ...SERVER_ACCESS_OPTIONS,
    },
  });
  const [file] = positionals(args, ["FILE.suit"]);
  required(values.server, "--server");
  const devices = values.device ?? [];
  if ((devices.length > 0) === (values.all === true)) usageError("give --device ID (repeatable) or --all");
  const waveSize = values.wave === undefined ? undefined : parseCount(values.wave, "--wave");
  const maxFailures = values["max-failures"] === undefined ? undefined : parseCount(values["max-failures"], "--max-failures");
  if (waveSize === 0) usageError("--wave must be at least 1");
  const { MAX_ROLLOUT_BODY } = await import("../../server/http-rollouts-api");
  const { readFileBounded } = await import("../../files");
  // The file goes up as base64 inside the JSON body: three bytes become four.
  const bytes = readFileBounded(resolve(file), { maxBytes: Math.floor((MAX_ROLLOUT_BODY - 4096) / 4) * 3, code: "file" });
  // The server takes the image (or patch source) only from inside the file: say how to make one, here.
  const update = readUpdatePackage(bytes);
  if (update.image === undefined) {
    fail("suit-image-missing", `${file} carries no ${update.patch ? "patch source: make it with 'gatehouse patch create --integrate'" : "image: make it with 'gatehouse update create --integrate'"}`);
  }
  const server = (await serverAccess(values))!;
  const { apiRequest } = await import("../../client/api");
  const body = { update: Buffer.from(bytes).toString("base64"), ...(values.all ? { all: true } : { devices }), waveSize, maxFailures };
  const { rollout } = (await apiRequest(server, "POST", "/api/rollouts", body, { timeoutMs: 120_000 })) as { rollout: Rollout };
  if (values.detach) {
    out(rollout.id);
    return 0;
  }
  note(`rollout ${rollout.id} started; Ctrl-C stops watching (the rollout goes on: gatehouse update status ${rollout.id})`);
  const last = await watch(server, rollout.id);
  const { summaryLines, exitCodeOf } = await import("../rollout-view");
  for (const line of summaryLines(last)) out(line);
  return exitCodeOf(last);
}

/** Reads the rollout every POLL_MS and draws it, until it ended and no device is in flight. */
async function watch(server: import("../../client/api").ServerAccess, id: string): Promise<Rollout> {
  const { apiRequest } = await import("../../client/api");
  const { RolloutProgress } = await import("../rollout-view");
  const { rolloutSettled } = await import("../../server/http-rollouts-api");
  const progress = new RolloutProgress();
  for (;;) {
    const { rollout } = (await apiRequest(server, "GET", `/api/rollouts/${encodeURIComponent(id)}`)) as { rollout: Rollout };
    progress.draw(rollout);
    if (rolloutSettled(rollout)) return rollout;
    await new Promise((done) => setTimeout(done, POLL_MS));
  }
}

async function rolloutCall(argv: string[], method: "GET" | "POST", suffix: string): Promise<Rollout> {
  const { values, positionals: args } = parseFlags({ args: argv, allowPositionals: true, options: { server: { type: "string" }, ...SERVER_ACCESS_OPTIONS } });
  const [id] = positionals(args, ["ID"]);
  required(values.server, "--server");
  const server = (await serverAccess(values))!;
  const { apiRequest } = await import("../../client/api");
  return ((await apiRequest(server, method, `/api/rollouts/${encodeURIComponent(id)}${suffix}`)) as { rollout: Rollout }).rollout;
}

async function status(argv: string[]): Promise<number> {
  const rollout = await rolloutCall(argv, "GET", "");
  const { headLine, deviceLine, summaryLines } = await import("../rollout-view");
  const width = Math.max(6, ...rollout.devices.map((d) => d.device.length));
  out(headLine(rollout));
  for (const d of rollout.devices) out(deviceLine(d, width));
  for (const line of summaryLines(rollout)) out(line);
  return 0;
}

async function abort(argv: string[]): Promise<number> {
  const rollout = await rolloutCall(argv, "POST", "/abort");
  const { headLine, summaryLines } = await import("../rollout-view");
  out(headLine(rollout));
  for (const line of summaryLines(rollout)) out(line);
  return 0;
}
