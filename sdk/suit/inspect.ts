// What a manifest would do, found by running it: a dry run of both procedures against a host that
// holds whatever the manifest expects and records what it is asked. This is how tools show a manifest
// (`gatehouse update inspect`, the server) and how the tests compare the draft's examples with their
// published semantics, with the one interpreter the device uses, not a second reading of the format.
//
// The dry-run host accepts every identity, holds every image the manifest names (so image-match holds),
// is in the slot the caller names (A/B manifests pick their parameters by slot) and has installed
// nothing. A dry run never refuses on the device's state; it still refuses a manifest the profile
// refuses (suit-unsupported-*, suit-malformed, ...), and reports a procedure that cannot run (a severed
// sequence the envelope lacks) by its code.

import { errorCode } from "../errors";
import type { SuitComponentId, SuitParameters } from "./commands";
import type { SuitDigest } from "./digest";
import type { SuitComponent, SuitCopyRequest, SuitFetchRequest, SuitHost, SuitImageMeasurement, SuitInvokeRequest, SuitMeasureRequest } from "./host";
import type { SuitManifest } from "./manifest";
import { processManifestSync, type SuitProcedure } from "./processor";

export interface SuitComponentSummary {
  readonly index: number;
  readonly id: SuitComponentId;
  readonly vendorId?: Uint8Array;
  readonly classId?: Uint8Array;
  /** True when a vendor-identifier (class-identifier) condition checked this component. */
  readonly vendorIdChecked: boolean;
  readonly classIdChecked: boolean;
  readonly imageDigest?: SuitDigest;
  readonly imageSize?: number;
  readonly uri?: string;
  readonly securityEpoch?: number;
  readonly componentSlot?: number;
  readonly sourceComponent?: number;
  readonly fetched: boolean;
  readonly copied: boolean;
  readonly invoked: boolean;
}

export interface SuitSummary {
  readonly sequenceNumber: number;
  readonly manifestDigest: SuitDigest;
  readonly referenceUri?: string;
  readonly components: readonly SuitComponentSummary[];
  /** Each procedure: "ok", or the code that stopped its dry run. */
  readonly procedures: Readonly<Record<SuitProcedure, string>>;
}

export interface SummaryOptions {
  /** The slot the dry-run device is in, for manifests that test component-slot; default 0. */
  readonly slot?: number;
}

interface Seen {
  vendorIdChecked: boolean;
  classIdChecked: boolean;
  fetched: boolean;
  copied: boolean;
  invoked: boolean;
}

/** Runs the update and the invocation procedure dry and sums up each component. */
export function summarizeManifest(manifest: SuitManifest, options: SummaryOptions = {}): SuitSummary {
  const seen: Seen[] = manifest.components.map(() => ({ vendorIdChecked: false, classIdChecked: false, fetched: false, copied: false, invoked: false }));
  const host = dryRunHost(seen, options.slot ?? 0);
  const parameters: SuitParameters[] = manifest.components.map(() => ({}));
  const procedures = { update: "ok", invoke: "ok" };
  for (const procedure of ["update", "invoke"] as const) {
    try {
      const report = processManifestSync(manifest, host, procedure, { unverified: true });
      // What the update sets, then what only the invocation sets (a load target, say).
      report.parameters.forEach((p, i) => {
        for (const [name, value] of Object.entries(p)) {
          const params = parameters[i] as Record<string, unknown>;
          if (params[name] === undefined) params[name] = value;
        }
      });
    } catch (e) {
      procedures[procedure] = errorCode(e);
    }
  }
  return {
    sequenceNumber: manifest.sequenceNumber,
    manifestDigest: manifest.digest,
    referenceUri: manifest.referenceUri,
    procedures,
    components: manifest.components.map((id, index) => {
      const p = parameters[index];
      return {
        index,
        id,
        vendorId: p.vendorId,
        classId: p.classId,
        imageDigest: p.imageDigest,
        imageSize: p.imageSize,
        uri: p.uri,
        securityEpoch: p.securityEpoch,
        componentSlot: p.componentSlot,
        sourceComponent: p.sourceComponent,
        ...seen[index],
      };
    }),
  };
}

function dryRunHost(seen: Seen[], slot: number): SuitHost {
  const holds = ({ imageDigest, imageSize }: SuitMeasureRequest): SuitImageMeasurement | undefined =>
    imageDigest === undefined ? undefined : { size: imageSize ?? 0, digest: imageDigest.bytes };
  return {
    installedSequenceNumber: -1,
    minimumSecurityEpoch: 0,
    hasComponent: () => true,
    matchesVendorId(component: SuitComponent) {
      seen[component.index].vendorIdChecked = true;
      return true;
    },
    matchesClassId(component: SuitComponent) {
      seen[component.index].classIdChecked = true;
      return true;
    },
    matchesDeviceId: () => true,
    componentSlot: () => slot,
    fetch(request: SuitFetchRequest) {
      seen[request.component.index].fetched = true;
    },
    copy(request: SuitCopyRequest) {
      seen[request.component.index].copied = true;
    },
    measure: holds,
    invoke(request: SuitInvokeRequest) {
      seen[request.component.index].invoked = true;
    },
  };
}
