// `gatehouse/ports/moddable` on Moddable: the port's index under its package name (see ./sdk.ts for why an
// alias module rather than a name for ports/moddable/index.ts itself).
export * from "gatehouse/ports/moddable/index";
