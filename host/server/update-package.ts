// Update files as `gatehouse update create` writes them and the fleet server takes them: a SUIT envelope,
// optionally carrying its image as an integrated payload (draft-ietf-suit-manifest-37 section 7.5: an
// envelope member keyed by a URI fragment, "#image", which the manifest's fetch names as its URI).
//
// A device never takes an integrated payload over MQTT (its envelope limit is a few KiB, and the SDK
// refuses text keys: suit-unsupported-member). The server strips the payload before it offers the
// envelope and serves the image in blocks (host/server/update-transfer.ts); what it strips is outside
// the signatures (they cover the manifest, whose digest covers the image), so nothing signed changes.
// Host side (Node).
//
// Refusals (stable codes): suit-not-envelope, suit-malformed, the SUIT codes of decodeEnvelope and
// parseManifestUnverified, too-large (an integrated payload over the limit).

import { fail } from "../../sdk/errors";
import { bytesEqual, toHex } from "../../sdk/bytes";
import { decode } from "../../sdk/cbor/decode";
import { encode } from "../../sdk/cbor/encode";
import { CborTag, type CborKey, type CborValue } from "../../sdk/cbor/types";
import { TAG_SUIT_ENVELOPE } from "../../sdk/suit/labels";
import { decodeEnvelope } from "../../sdk/suit/envelope";
import { parseManifestUnverified } from "../../sdk/suit/manifest";
import { summarizeManifest, type SuitSummary } from "../../sdk/suit/inspect";
import { nodeCrypto } from "../../ports/node/crypto";
import { isPatchManifest } from "../../sdk/patch/format";

/** The member key (and the manifest's fetch URI) of an image carried inside the envelope. */
export const INTEGRATED_IMAGE = "#image";
/** The largest update file the host tools read: a 16 MiB image and its envelope, with room to spare. */
export const MAX_UPDATE_FILE = 64 * 1024 * 1024;

export interface SplitUpdate {
  /** The envelope without integrated payloads: what a device is offered. */
  readonly envelope: Uint8Array;
  /** Integrated payloads, by their key ("#image"). */
  readonly payloads: ReadonlyMap<string, Uint8Array>;
}

function envelopeMap(bytes: Uint8Array): Map<CborKey, CborValue> {
  const item = decode(bytes, { maxLength: MAX_UPDATE_FILE, maxStringLength: MAX_UPDATE_FILE, maxDepth: 4, maxItems: 64 });
  if (!(item instanceof CborTag) || item.tag !== TAG_SUIT_ENVELOPE || !(item.value instanceof Map)) return fail("suit-not-envelope", "not a SUIT_Envelope_Tagged (tag 107) over a map");
  return item.value;
}

/** Separates an update file's integrated payloads (text keys) from the envelope a device takes. */
export function splitIntegratedPayloads(bytes: Uint8Array): SplitUpdate {
  const map = envelopeMap(bytes);
  const payloads = new Map<string, Uint8Array>();
  for (const [key, value] of map) {
    if (typeof key !== "string") continue;
    if (!(value instanceof Uint8Array)) fail("suit-malformed", `integrated payload ${JSON.stringify(key)} is not a byte string`);
    payloads.set(key, value);
  }
  if (payloads.size === 0) return { envelope: bytes, payloads };
  for (const key of payloads.keys()) map.delete(key);
  return { envelope: encode(new CborTag(TAG_SUIT_ENVELOPE, map)), payloads };
}

/** The envelope with `image` added as its integrated payload "#image" (the manifest must fetch from "#image"). */
export function withIntegratedImage(envelope: Uint8Array, image: Uint8Array): Uint8Array {
  const map = envelopeMap(envelope);
  map.set(INTEGRATED_IMAGE, image);
  return encode(new CborTag(TAG_SUIT_ENVELOPE, map));
}

export interface UpdatePackage {
  /** The envelope a device is offered (no integrated payload). */
  readonly envelope: Uint8Array;
  /** What the manifest says (NOT verified: the server offers, devices verify). */
  readonly summary: SuitSummary;
  readonly sequenceNumber: number;
  /** The image's signed size and SHA-256. */
  readonly imageSize: number;
  readonly imageDigest: Uint8Array;
  /** The integrated image, when the file carried one. */
  readonly image?: Uint8Array;
  /**
   * A patch of door logic (its one component is PATCH_COMPONENT; `gatehouse patch create --integrate`):
   * offered and served in blocks as an image is; the device applies it without a restart. Its sequence
   * number counts apart from images' (a birth's `patch`, not its `update.seq`).
   */
  readonly patch: boolean;
}

/**
 * Reads an update file for offering: the envelope, what its manifest names (one component with an image
 * digest and size, as Gatehouse's builder makes), and the integrated image, checked against that size and
 * digest (a file whose image does not match its manifest is refused: suit-image-size-mismatch,
 * suit-image-digest-mismatch).
 */
export function readUpdatePackage(bytes: Uint8Array): UpdatePackage {
  const { envelope, payloads } = splitIntegratedPayloads(bytes);
  const manifest = parseManifestUnverified(nodeCrypto, decodeEnvelope(nodeCrypto, envelope));
  const summary = summarizeManifest(manifest);
  const component = summary.components.find((c) => c.fetched);
  if (component === undefined || component.imageDigest === undefined || component.imageSize === undefined) {
    return fail("suit-parameter-missing", "the manifest fetches no image with a digest and a size: a Gatehouse device cannot take it");
  }
  const image = component.uri !== undefined ? payloads.get(component.uri) : undefined;
  if (image !== undefined) checkImage(image, component.imageSize, component.imageDigest.bytes);
  return { envelope, summary, sequenceNumber: summary.sequenceNumber, imageSize: component.imageSize, imageDigest: component.imageDigest.bytes, image, patch: isPatchManifest(manifest) };
}

/** Refuses an image that is not the one a manifest names. */
export function checkImage(image: Uint8Array, size: number, digest: Uint8Array): void {
  if (image.length !== size) fail("suit-image-size-mismatch", `the image is ${image.length} bytes, the manifest says ${size}`);
  const actual = nodeCrypto.sha256(image);
  if (!bytesEqual(actual, digest)) fail("suit-image-digest-mismatch", `the image has SHA-256 ${toHex(actual)}, the manifest says ${toHex(digest)}`);
}
