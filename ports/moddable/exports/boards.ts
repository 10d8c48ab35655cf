// `gatehouse/boards` on Moddable: the boards' index under its package name (boards/manifest.json maps it
// here; see ./sdk.ts for why an alias module rather than a name for boards/index.ts itself).
export * from "gatehouse/boards/index";
