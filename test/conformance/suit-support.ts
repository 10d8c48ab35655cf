// Shared by the SUIT conformance cases (suit.cases.ts) and the Node SUIT tests: the published keys,
// a real in-memory SuitHost, and helpers that sign hand-made manifests. Device-safe (runs in XS).

import { sha256 } from "@noble/hashes/sha2.js";
import { GatehouseError } from "../../sdk/errors";
import { concatBytes, fromHex } from "../../sdk/bytes";
import { utf8 } from "../../sdk/cbor/encode";
import { encode } from "../../sdk/cbor/encode";
import type { CborValue } from "../../sdk/cbor/types";
import type { CoseKey } from "../../sdk/cose/key";
import type { CryptoPort } from "../../sdk/ports/crypto";
import type { SuitHost, SuitComponent, SuitCopyRequest, SuitFetchRequest, SuitInvokeRequest, SuitMeasureRequest, SuitImageMeasurement } from "../../sdk/suit/host";
import type { SuitComponentId } from "../../sdk/suit/commands";
import { ImageReceiver, type Sha256Stream } from "../../sdk/suit/receiver";
import { signManifest } from "../../sdk/suit/builder";
import { verifyEnvelope } from "../../sdk/suit/envelope";
import { parseManifest, type SuitManifest } from "../../sdk/suit/manifest";
import { createUpdateTrust, type UpdateTrust } from "../../sdk/suit/trust";
import fixtures from "../fixtures/suit/envelopes.json" with { type: "json" };
import rfc8032 from "../fixtures/ed25519/rfc8032.json" with { type: "json" };

export function hexBytes(text: string): Uint8Array {
  const bytes = fromHex(text);
  if (bytes === undefined) throw new Error(`not hex: ${text}`);
  return bytes;
}

export const envelopeHex: Record<string, string> = fixtures.envelopes;

/** An envelope of the published vectors, by file name (e.g. "example0.hex"). */
export function vectorEnvelope(file: string): Uint8Array {
  const hex = envelopeHex[file];
  if (hex === undefined) throw new Error(`no vector ${file}`);
  return hexBytes(hex);
}

/**
 * The draft's published P-256 signing key (a test key, never for anything else). Its examples carry
 * no kid, so the kid here is ours.
 */
export const SUIT_EXAMPLE_KEY: CoseKey = Object.freeze({
  alg: "ES256",
  kid: utf8("suit-example"),
  d: hexBytes(fixtures.key.d),
  x: hexBytes(fixtures.key.x),
  y: hexBytes(fixtures.key.y),
});

/** Five Ed25519 key pairs: the RFC 8032 section 7.1 test keys, as update keys ed1 .. ed5. */
export const ED_KEYS: readonly CoseKey[] = rfc8032.vectors.map((v, i) =>
  Object.freeze({ alg: "EdDSA" as const, kid: utf8(`ed${i + 1}`), d: hexBytes(v.secret_key), x: hexBytes(v.public_key) }),
);

export const VENDOR_ID = hexBytes("fa6b4a53d5ad5fdfbe9de663e4d41ffe");
export const CLASS_ID = hexBytes("1492af1425695e48bf429b2d51f2ab45");
export const OTHER_ID = hexBytes("00112233445566778899aabbccddeeff");
export const COMPONENT_0: SuitComponentId = [Uint8Array.of(0)];

export function trustOf(keys: readonly CoseKey[], threshold: number): UpdateTrust {
  return createUpdateTrust(keys, threshold);
}

/** A hand-made manifest (a CBOR map), signed by `keys`, verified under them (threshold 1) and parsed. */
export function signedManifest(crypto: CryptoPort, manifest: CborValue, keys: readonly CoseKey[] = [ED_KEYS[0]]): SuitManifest {
  const envelope = signManifest(crypto, encode(manifest), keys);
  return parseManifest(crypto, verifyEnvelope(crypto, envelope, trustOf(keys, 1)));
}

/** An incremental SHA-256 that runs anywhere (@noble/hashes). */
export function streamingSha256(): Sha256Stream {
  const state = sha256.create();
  return {
    update: (data) => void state.update(data),
    digest: () => state.digest(),
  };
}

/**
 * A SuitHost that keeps its components in memory: a real implementation, with the checks a device's
 * host makes (a fetch streams the payload through an ImageReceiver and stores nothing unless the whole
 * image matches). Payloads are what a fetch finds, by URI ("" for the envelope's own transport).
 */
export class MemoryHost implements SuitHost {
  installedSequenceNumber = -1;
  minimumSecurityEpoch = 0;
  vendorId: Uint8Array = VENDOR_ID;
  classId: Uint8Array = CLASS_ID;
  deviceId: Uint8Array | undefined = undefined;
  slot: number | undefined = undefined;
  /** The most one component holds. */
  capacity = 1 << 20;
  /** Bytes a fetch receives at once. */
  chunkSize = 1000;
  readonly components: SuitComponentId[] = [COMPONENT_0];
  readonly images = new Map<number, Uint8Array>();
  readonly payloads = new Map<string, Uint8Array>();
  /** What the interpreter asked, in order: "fetch 0", "copy 0<-1", "invoke 0", "measure 0". */
  readonly log: string[] = [];
  private readonly crypto: CryptoPort;

  constructor(crypto: CryptoPort) {
    this.crypto = crypto;
  }

  hasComponent(id: SuitComponentId): boolean {
    return this.components.some((c) => c.length === id.length && c.every((part, i) => part.length === id[i].length && part.every((b, j) => b === id[i][j])));
  }
  matchesVendorId(_component: SuitComponent, vendorId: Uint8Array): boolean {
    return same(vendorId, this.vendorId);
  }
  matchesClassId(_component: SuitComponent, classId: Uint8Array): boolean {
    return same(classId, this.classId);
  }
  matchesDeviceId(_component: SuitComponent, deviceId: Uint8Array): boolean {
    return this.deviceId !== undefined && same(deviceId, this.deviceId);
  }
  componentSlot(): number | undefined {
    return this.slot;
  }
  fetch(request: SuitFetchRequest): void {
    this.log.push(`fetch ${request.component.index}`);
    const payload = this.payloads.get(request.uri ?? "");
    if (payload === undefined) throw new GatehouseError("test-no-payload", `nothing to fetch at ${JSON.stringify(request.uri ?? "")}`);
    const receiver = new ImageReceiver(request, this.capacity, streamingSha256());
    const pieces: Uint8Array[] = [];
    for (let at = 0; at < payload.length; at += this.chunkSize) {
      const piece = payload.subarray(at, at + this.chunkSize);
      receiver.accept(piece);
      pieces.push(piece);
    }
    receiver.finish();
    this.images.set(request.component.index, concatBytes(...pieces));
  }
  copy(request: SuitCopyRequest): void {
    this.log.push(`copy ${request.component.index}<-${request.source.index}`);
    const image = this.images.get(request.source.index);
    if (image === undefined) throw new GatehouseError("test-no-image", `component ${request.source.index} is empty`);
    this.images.set(request.component.index, image);
  }
  measure(request: SuitMeasureRequest): SuitImageMeasurement | undefined {
    this.log.push(`measure ${request.component.index}`);
    const image = this.images.get(request.component.index);
    return image === undefined ? undefined : { size: image.length, digest: this.crypto.sha256(image) };
  }
  invoke(request: SuitInvokeRequest): void {
    this.log.push(`invoke ${request.component.index}`);
  }
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
