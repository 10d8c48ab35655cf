// Shared parts of the update tests: update keys and trust, signed update files for simulated builds, and a
// fleet (mosquitto, the fleet server, simulated devices with identities on disk) that the flow tests and
// the kill -9 trials (host/sim/power-cut.ts) start the same way.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { utf8 } from "../../sdk/cbor/encode";
import type { CoseKey } from "../../sdk/cose/key";
import { publicKey } from "../../sdk/cose/key";
import { buildEnvelope, type GatehouseManifestSpec } from "../../sdk/suit/builder";
import { classNameOf, DEFAULT_VENDOR_NAME, nameUuid } from "../../sdk/update/ids";
import type { UpdateTrustDocument } from "../../sdk/update/trust";
import { TrustList } from "../../sdk/trust";
import { nodeCrypto } from "../../ports/node/crypto";
import { generateDeviceKey, writeIdentity } from "../../host/identity-files";
import { simBuild } from "../../host/sim/build";
import { prepareUpdate, bytesImage, type PreparedUpdate } from "../../host/server/update-transfer";
import { withIntegratedImage, INTEGRATED_IMAGE } from "../../host/server/update-package";

/** n update keys (ES256), kids "upd-1".. */
export function updateKeys(n: number, prefix = "upd"): CoseKey[] {
  return Array.from({ length: n }, (_, i) => nodeCrypto.generateKey("ES256", utf8(`${prefix}-${i + 1}`)));
}

export function trustDocument(keys: readonly CoseKey[], threshold: number, seq = 0, minEpoch = 0): UpdateTrustDocument {
  return { seq, threshold, keys: keys.map((k) => publicKey(k)), minEpoch };
}

/** The ids the simulator gives an example's devices by default. */
export function exampleIds(app: string): { vendorId: Uint8Array; classId: Uint8Array } {
  return { vendorId: nameUuid(nodeCrypto, DEFAULT_VENDOR_NAME), classId: nameUuid(nodeCrypto, classNameOf(app)) };
}

export interface SimUpdate {
  readonly image: Uint8Array;
  readonly envelope: Uint8Array;
  /** The update file with the image integrated (as `gatehouse update create` writes it). */
  readonly file: Uint8Array;
  readonly prepared: PreparedUpdate;
}

/** A signed update to a simulated build named `firmware` with `payloadBytes` of payload. */
export function simUpdate(options: {
  app: string;
  firmware: string;
  seq: number;
  keys: readonly CoseKey[];
  payloadBytes?: number;
  flags?: number;
  epoch?: number;
  spec?: Partial<GatehouseManifestSpec>;
}): SimUpdate {
  const payload = new Uint8Array(options.payloadBytes ?? 20_000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + options.seq) & 0xff;
  const image = simBuild(options.firmware, payload, options.flags ?? 0);
  const envelope = buildEnvelope(
    nodeCrypto,
    {
      ...exampleIds(options.app),
      sequenceNumber: options.seq,
      imageDigest: nodeCrypto.sha256(image),
      imageSize: image.length,
      securityEpoch: options.epoch ?? 0,
      uri: INTEGRATED_IMAGE,
      ...options.spec,
    },
    options.keys,
  );
  const file = withIntegratedImage(envelope, image);
  return { image, envelope, file, prepared: prepareUpdate(file, options.spec?.uri === undefined ? undefined : bytesImage(image)) };
}

/** Same envelope, another image (a server serving bytes the manifest does not name). */
export function withImage(update: SimUpdate, image: Uint8Array): PreparedUpdate {
  return { ...update.prepared, source: bytesImage(image) };
}

/** A temp folder with `ids` provisioned (identities/<id>/...), each with `updateTrust`. */
export function provisionFleet(ids: readonly string[], updateTrust: UpdateTrustDocument | undefined): { dir: string; identitiesDir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), "gh-update-"));
  const identitiesDir = join(dir, "identities");
  for (const id of ids) writeIdentity(identitiesDir, { id, key: generateDeviceKey(id), trust: new TrustList(), updateTrust });
  return { dir, identitiesDir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
