// Patches: signed JavaScript that replaces door logic, run in a confined Compartment (docs/suit.md, "Patches").
export { Patches, type PatchSettings, type PatchInfo, type PatchLink } from "./patches";
export { confine, deepFreeze, STANDARD_GLOBALS, type CompartmentPort, type CompartmentHandle } from "./compartment";
export { isPatchManifest, checkPatchSource, readPatchTable, PATCH_COMPONENT, MAX_PATCH_SOURCE_BYTES, MAX_PATCH_OPERATIONS, MAX_PATCH_DOOR_CALLS, MAX_PATCH_DEPTH, MAX_PATCH_FAILURES } from "./format";
