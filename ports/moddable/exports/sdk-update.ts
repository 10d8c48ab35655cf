// `gatehouse/sdk-update` on Moddable: sdk/update/index.ts under its package name (ports/moddable/
// manifest_update.json maps it here; see ./sdk.ts for why an alias module).
export * from "gatehouse/sdk/update/index";
