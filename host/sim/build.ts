// A simulated device's "build": the bytes of its image slot. The host simulator cannot run a new
// firmware, so an image starts with a small header naming the firmware (what the birth reports after the
// restart) and saying how the simulated build behaves; the rest is payload. The running build's digest
// (its slot's bytes) tells which build runs, and a half-written slot never boots: the update port only
// boots a slot the agent marked after checking its signed digest.
//
//   "GHSB" | version 1 | flags | firmware length (1 to 64) | firmware (UTF-8) | payload
//
// Flags make builds that fail their trial on purpose (tests and the demo): CRASH restarts the device as
// soon as the build boots (a crash before it can confirm: the next boot rolls back), UNHEALTHY fails its
// health check (the agent gives it up at the deadline and rolls back).

import { fail } from "../../sdk/errors";
import { concatBytes } from "../../sdk/bytes";
import { utf8 } from "../../sdk/cbor/encode";

const MAGIC = [0x47, 0x48, 0x53, 0x42]; // "GHSB"
const VERSION = 1;
const HEADER = 7;

export const BUILD_FLAGS = { crash: 1, unhealthy: 2 } as const;

export interface SimBuild {
  readonly firmware: string;
  readonly flags: number;
}

/** An image for simulated devices: the header, then `payload`. */
export function simBuild(firmware: string, payload: Uint8Array = new Uint8Array(0), flags = 0): Uint8Array {
  const name = utf8(firmware);
  if (name.length === 0 || name.length > 64 || firmware.length > 64) fail("usage", "a build's firmware text must be 1 to 64 characters");
  if (!Number.isInteger(flags) || flags < 0 || flags > 255) fail("usage", "build flags are 0 to 255");
  return concatBytes(Uint8Array.of(...MAGIC, VERSION, flags, name.length), name, payload);
}

/** The header of a slot's first bytes; undefined when they are not a build. */
export function readSimBuild(bytes: Uint8Array): SimBuild | undefined {
  if (bytes.length < HEADER + 1 || MAGIC.some((b, i) => bytes[i] !== b) || bytes[4] !== VERSION) return undefined;
  const length = bytes[6];
  if (length === 0 || length > 64 || bytes.length < HEADER + length) return undefined;
  let firmware: string;
  try {
    firmware = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(HEADER, HEADER + length));
  } catch {
    return undefined;
  }
  return { firmware, flags: bytes[5] };
}

/** Bytes of the header to read to know a build (the longest one). */
export const SIM_BUILD_HEADER_BYTES = HEADER + 64;
