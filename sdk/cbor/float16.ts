// IEEE 754 half precision, which JavaScript lacks (Node 20 has no Float16Array), and the rule of
// preferred serialization: a float is encoded in the shortest width that keeps its exact value.

/** Made on first use: a DataView made at load time would be read-only in a preloaded Moddable module. */
let scratch: DataView | undefined;

export function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  // Zero by itself: XS 17 computes -1 * 0 as the integer 0 and loses the sign of -0.0 (found on lin).
  if (exponent === 0) return mantissa === 0 ? (sign < 0 ? -0 : 0) : sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mantissa) * 2 ** (exponent - 25);
}

/** The 16-bit pattern of `x` as a half, or -1 when a half cannot hold `x` exactly. NaN maps to 0x7e00. */
export function numberToHalf(x: number): number {
  if (x !== x) return 0x7e00;
  // Math.fround rounds to single precision as setFloat32 does, for less work.
  if (Math.fround(x) !== x) return -1;
  scratch ??= new DataView(new ArrayBuffer(4));
  scratch.setFloat32(0, x);
  const bits = scratch.getUint32(0);
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00; // infinity (NaN was handled above)
  if (exponent === 0) return mantissa === 0 ? sign : -1; // zero; float32 subnormals are below half's range
  const e = exponent - 127;
  if (e > 15) return -1;
  if (e >= -14) return mantissa & 0x1fff ? -1 : sign | ((e + 15) << 10) | (mantissa >>> 13);
  if (e < -24) return -1;
  // Half subnormal: value = m * 2^-24 with m < 1024.
  const full = 0x800000 | mantissa;
  const shift = -(e + 1);
  return full & ((1 << shift) - 1) ? -1 : sign | (full >>> shift);
}

/** The width (16, 32 or 64 bits) of the preferred serialization of `x`. */
export function floatWidth(x: number): 16 | 32 | 64 {
  if (numberToHalf(x) >= 0) return 16;
  return Math.fround(x) === x ? 32 : 64;
}
