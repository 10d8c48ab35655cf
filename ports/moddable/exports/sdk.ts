// `gatehouse/sdk` on Moddable: the SDK's index under its package name (the root manifest.json maps it here).
//
// Why a module of its own and not a manifest entry for sdk/index.ts: XS resolves a relative import against
// the importing module's NAME. Named "gatehouse/sdk", sdk/index.ts's `./errors` would be looked up as
// "gatehouse/errors" (checked on lin: "module ./errors not found"). So every SDK module keeps the name of
// its path ("gatehouse/sdk/index", "gatehouse/sdk/errors", ...), where relative imports work at any depth,
// and the package's entry point is an alias, as Moddable's own mcpack writes one for a package's exports.
export * from "gatehouse/sdk/index";
