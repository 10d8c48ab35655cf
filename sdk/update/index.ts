// The update agent and what a platform needs to run it, as one entry ("gatehouse/sdk-update"): apart from
// the SDK's index, which exports only the update types, so that an app without updates loads neither the
// agent nor SUIT (sdk/index.ts). On Moddable, ports/moddable/manifest_update.json maps it.
export { UpdateAgent } from "./agent";
export { FileUpdatePort, BOOT_RECORD_FILE, SLOT_FILES } from "./file-port";
export { classNameOf, DEFAULT_VENDOR_NAME, nameUuid, parseUuid } from "./ids";
export { decodeTrustDocument } from "./trust";
