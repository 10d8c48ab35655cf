// The SDK as the platform ports see it, one "../" away from every port file.
//
// Why this file exists: on the device, XS resolves a relative import against the importing module's
// name and handles a single leading "../" (Moddable xs/platforms/mc/xsHosts.c, fxFindModule): an import
// of "../../sdk/errors" from "gatehouse/ports/moddable/crypto" is not found. Port code therefore imports
// "../sdk" (this file), which reaches the SDK with one "../". Type-only imports are erased and may use
// any path. test/architecture.test.ts checks the rule.
export { fail, GatehouseError } from "../sdk/errors";
