// The SuitHost: what the SUIT interpreter (sdk/suit/processor.ts) asks of the device. The interpreter
// decides WHETHER to fetch, copy, measure or invoke, and with which signed parameters; the host does it:
// the OTA transfer streams a payload into the inactive slot, the update port stores it, the boot path
// runs it. Every operation may answer at once or with a promise (a download takes minutes); the same
// interpreter runs either way (processManifest awaits, processManifestSync refuses promises).
//
// A host must:
// - never write more than `imageSize` bytes of a fetch or copy into a component (its capacity when the
//   manifest sets no size), and check the written image against `imageDigest` before reporting success (ImageReceiver in sdk/suit/receiver.ts does both,
//   streaming);
// - answer measure() from what is stored now, hashing it with SHA-256 (streaming, for large images);
// - throw a GatehouseError with a stable code when an operation fails.

import type { SuitDigest } from "./digest";
import type { SuitComponentId } from "./commands";

export type Awaitable<T> = T | PromiseLike<T>;

/** A component as the manifest lists it. */
export interface SuitComponent {
  readonly index: number;
  readonly id: SuitComponentId;
}

interface SuitImageRequest {
  readonly component: SuitComponent;
  /** suit-parameter-component-slot, when the manifest set it (A/B images). */
  readonly componentSlot?: number;
  /** The signed digest of the image; a host refuses an image that does not match it. */
  readonly imageDigest?: SuitDigest;
  /** suit-parameter-image-size, when set. */
  readonly imageSize?: number;
  /** The security epoch of the build (0 when the manifest sets none); already checked against the minimum. */
  readonly securityEpoch: number;
}

export interface SuitFetchRequest extends SuitImageRequest {
  /** Required for a fetch (the profile refuses a fetch without it). */
  readonly imageDigest: SuitDigest;
  /**
   * Where the payload comes from. Absent: from the transport that delivered the envelope (Gatehouse's
   * block transfer over MQTT); the draft's examples name http URIs.
   */
  readonly uri?: string;
}

export interface SuitCopyRequest extends SuitImageRequest {
  readonly source: SuitComponent;
}

export type SuitMeasureRequest = SuitImageRequest;

export interface SuitInvokeRequest {
  readonly component: SuitComponent;
  readonly componentSlot?: number;
  readonly invokeArgs?: Uint8Array;
  readonly securityEpoch: number;
}

/** What is stored in a component now. */
export interface SuitImageMeasurement {
  readonly size: number;
  /** SHA-256 of the stored image. */
  readonly digest: Uint8Array;
}

export interface SuitHost {
  /** The sequence number of the installed manifest (-1: none): an update must be newer (no rollback). */
  readonly installedSequenceNumber: number;
  /** The device refuses to fetch, copy or invoke a build whose security epoch is below this. */
  readonly minimumSecurityEpoch: number;
  /** True for component identifiers the device has; a manifest naming another one is refused. */
  hasComponent(id: SuitComponentId): boolean;
  /** True when `vendorId` (a 16-byte UUID) is this device's vendor, for that component. */
  matchesVendorId(component: SuitComponent, vendorId: Uint8Array): boolean;
  matchesClassId(component: SuitComponent, classId: Uint8Array): boolean;
  matchesDeviceId(component: SuitComponent, deviceId: Uint8Array): boolean;
  /** The slot a component runs from or can take an image in, for condition-component-slot; undefined: no slots. */
  componentSlot(component: SuitComponent): number | undefined;
  /** Obtains the payload into the component, streaming; succeeds only when the stored image matches. */
  fetch(request: SuitFetchRequest): Awaitable<void>;
  copy(request: SuitCopyRequest): Awaitable<void>;
  /** Size and SHA-256 of what the component holds now; undefined when it holds nothing. */
  measure(request: SuitMeasureRequest): Awaitable<SuitImageMeasurement | undefined>;
  /** Starts the image (or, for an updater, marks it to start): the end of the invocation procedure. */
  invoke(request: SuitInvokeRequest): Awaitable<void>;
}
