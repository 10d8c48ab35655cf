// What bench/size.ts measures: the device SDK core as application code would bundle it — CBOR, COSE
// (Sign1 and keys), doors, command receiver and sender, replay window, security events, trust list —
// WITHOUT any crypto primitives (no ports/: the platform's crypto port is not part of the core).
export * from "../sdk/index";
export * from "../sdk/cbor/index";
export * from "../sdk/cose/sign1";
export * from "../sdk/command/envelope";
export * from "../sdk/command/receiver";
export * from "../sdk/command/replay";
export * from "../sdk/command/sender";
