export { decode } from "./decode";
export { encode, compareKeys } from "./encode";
export { CborFloat, CborSimple, CborTag, DEFAULT_DECODE_LIMITS } from "./types";
export type { CborKey, CborMap, CborObject, CborValue, DecodeLimits, DecodeOptions } from "./types";
