// Vendor and class ids: 16-byte UUIDs, as SUIT manifests name them (docs/suit.md). A device is built
// with its own (Moddable config vendorid= and classid=, `gatehouse sim --vendor-id --class-id`); without
// them it takes ids derived from names, the same on every platform, so that a simulated thermostat and a
// thermostat on Moddable's lin take the same manifests: UUID version 8 (RFC 9562 section 5.8, a custom
// layout) over the first bytes of SHA-256 of the name.

import { fromHex } from "../bytes";
import type { CryptoPort } from "../ports/crypto";

/** The ids Gatehouse's examples take by default: the vendor "gatehouse", one class per app name. */
export const DEFAULT_VENDOR_NAME = "gatehouse vendor";
export const classNameOf = (app: string): string => `gatehouse class ${app}`;

/** A version 8 UUID from SHA-256 of `name`. */
export function nameUuid(crypto: CryptoPort, name: string): Uint8Array {
  const bytes = crypto.sha256(new TextEncoder().encode(name)).slice(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x80;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  return bytes;
}

/** 8-4-4-4-12 hex digits (or 32 without dashes) as 16 bytes; undefined for anything else. */
export function parseUuid(text: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/.test(text)) return undefined;
  return fromHex(text.replace(/-/g, ""));
}
