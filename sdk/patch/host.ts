// The SuitHost of a patch: what the SUIT interpreter (sdk/suit/processor.ts) runs a patch manifest
// against. Its one component is PATCH_COMPONENT, so an image manifest ([h'00']) is refused here
// (suit-unknown-component), as a patch manifest is by a host that holds images. The payload is not
// downloaded by this host: the caller passes the bytes that came over the transfer (or from storage at
// boot) and fetch() checks them, as ImageReceiver checks an image: never more than the signed size,
// then size and SHA-256 against the signed manifest.
//
// Refusals (stable codes): suit-unsupported-command (copy), and ImageReceiver's (suit-image-too-long,
// suit-image-size-mismatch, suit-image-digest-mismatch).

import { fail } from "../errors";
import { bytesEqual } from "../bytes";
import type { CryptoPort } from "../ports/crypto";
import type { SuitComponentId } from "../suit/commands";
import type { SuitFetchRequest, SuitHost, SuitImageMeasurement, SuitInvokeRequest } from "../suit/host";
import { sameComponentId } from "../suit/manifest";
import { ImageReceiver } from "../suit/receiver";
import { MAX_PATCH_SOURCE_BYTES, PATCH_COMPONENT } from "./format";

export interface PatchHostState {
  readonly installedSequenceNumber: number;
  readonly minimumSecurityEpoch: number;
  readonly vendorId: Uint8Array;
  readonly classId: Uint8Array;
}

export class PatchSuitHost implements SuitHost {
  readonly installedSequenceNumber: number;
  readonly minimumSecurityEpoch: number;
  /** The payload, once fetch() checked it. */
  fetched?: Uint8Array;
  invoked = false;

  constructor(
    private readonly crypto: CryptoPort,
    private readonly state: PatchHostState,
    private readonly payload: Uint8Array,
    /** At boot the stored payload is already in place: validate measures it, no fetch runs. */
    stored = false,
  ) {
    this.installedSequenceNumber = state.installedSequenceNumber;
    this.minimumSecurityEpoch = state.minimumSecurityEpoch;
    if (stored) this.fetched = payload;
  }

  hasComponent(id: SuitComponentId): boolean {
    return sameComponentId(id, PATCH_COMPONENT);
  }

  matchesVendorId(_component: unknown, vendorId: Uint8Array): boolean {
    return bytesEqual(vendorId, this.state.vendorId);
  }

  matchesClassId(_component: unknown, classId: Uint8Array): boolean {
    return bytesEqual(classId, this.state.classId);
  }

  matchesDeviceId(): boolean {
    // Patches go to a class of devices; a manifest that names one device is not a Gatehouse patch.
    return false;
  }

  componentSlot(): number | undefined {
    return undefined;
  }

  fetch(request: SuitFetchRequest): void {
    const receiver = new ImageReceiver({ imageDigest: request.imageDigest, imageSize: request.imageSize }, MAX_PATCH_SOURCE_BYTES, this.crypto.createSha256());
    receiver.accept(this.payload);
    receiver.finish();
    this.fetched = this.payload;
  }

  copy(): void {
    fail("suit-unsupported-command", "a patch has one component: there is nothing to copy");
  }

  measure(): SuitImageMeasurement | undefined {
    const payload = this.fetched;
    return payload === undefined ? undefined : { size: payload.length, digest: this.crypto.sha256(payload) };
  }

  invoke(_request: SuitInvokeRequest): void {
    this.invoked = true;
  }
}

/**
 * The host for a patch offered over the air (the update agent's): fetch pulls the source through
 * `download`, which checks it against the signed size and digest as it arrives (never more than
 * MAX_PATCH_SOURCE_BYTES) and settles with it; validate's image-match then measures what came. Nothing is
 * evaluated or stored here: the agent hands the envelope and the source to Patches.apply, which verifies
 * and runs the manifest again before anything of the patch runs.
 */
export class PatchDownloadHost extends PatchSuitHost {
  constructor(
    crypto: CryptoPort,
    state: PatchHostState,
    private readonly download: (request: SuitFetchRequest) => Promise<Uint8Array>,
  ) {
    super(crypto, state, new Uint8Array(0));
  }

  override fetch(request: SuitFetchRequest): Promise<void> {
    return this.download(request).then((source) => {
      this.fetched = source;
    });
  }
}
