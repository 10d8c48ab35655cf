// Password hashing with scrypt (RFC 7914) from node:crypto: memory-hard, so guessing a stolen hash costs
// memory as well as time, which is what makes GPUs and ASICs expensive for the attacker.
//
// Parameters (SCRYPT_PARAMS): N = 2^16, r = 8, p = 2, a 16-byte random salt, a 32-byte hash. One hash
// needs 128·N·r = 64 MiB and takes about 0.4 s on one core of the machines the project runs on. This is
// one of OWASP's Password Storage Cheat Sheet settings for scrypt (N = 2^16, r = 8, p = 2; the cheat
// sheet's alternatives trade memory for time at the same cost). The parameters are stored with each hash
// in the PHC string format, "$scrypt$ln=16,r=8,p=2$<salt>$<hash>" (base64 without padding), so they can be
// raised later without invalidating stored hashes; a stored hash is read back only within the bounds
// below (a hand-edited database cannot ask for gigabytes).
//
// Hashing runs on libuv's thread pool (crypto.scrypt, not scryptSync): the event loop keeps serving. At
// most MAX_CONCURRENT_HASHES run at once (64 MiB each) and at most MAX_WAITING_HASHES wait; more is refused
// with server-busy, so a login flood cannot take the server's memory.
//
// Passwords are Unicode-normalised (NFKC, as NIST SP 800-63B advises), 12 to 1024 characters, without
// control characters (password-invalid).

import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { fail } from "../../../sdk/errors";

export const SCRYPT_PARAMS = { ln: 16, r: 8, p: 2, saltBytes: 16, hashBytes: 32 } as const;
export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 1024;
export const MAX_CONCURRENT_HASHES = 2;
export const MAX_WAITING_HASHES = 32;

/** Bounds on parameters read back from the database. */
const LIMITS = { ln: [14, 20], r: [1, 16], p: [1, 16] } as const;

interface Params {
  ln: number;
  r: number;
  p: number;
}

/** A password as typed, checked and normalised; refuses with password-invalid. */
export function checkPassword(password: unknown): string {
  if (typeof password !== "string") return fail("password-invalid", "the password must be a string");
  const normalised = password.normalize("NFKC");
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(normalised)) fail("password-invalid", "the password must not contain control characters (a line break, a tab)");
  const length = [...normalised].length;
  if (length < MIN_PASSWORD_LENGTH) fail("password-invalid", `the password must be at least ${MIN_PASSWORD_LENGTH} characters (it has ${length})`);
  if (length > MAX_PASSWORD_LENGTH) fail("password-invalid", `the password must be at most ${MAX_PASSWORD_LENGTH} characters`);
  return normalised;
}

let running = 0;
const waiting: (() => void)[] = [];

/** Runs scrypt within the concurrency limit. */
async function limitedScrypt(password: string, salt: Buffer, params: Params, bytes: number): Promise<Buffer> {
  if (running >= MAX_CONCURRENT_HASHES) {
    if (waiting.length >= MAX_WAITING_HASHES) fail("server-busy", "too many password checks are waiting; try again shortly");
    await new Promise<void>((resolve) => waiting.push(resolve));
  }
  running++;
  try {
    const N = 2 ** params.ln;
    return await new Promise<Buffer>((resolve, reject) => {
      // maxmem: what this N and r need (128·N·r) with room for p's blocks; Node's default (32 MiB) is less.
      scrypt(password, salt, bytes, { N, r: params.r, p: params.p, maxmem: 128 * N * params.r * 2 + 1024 * 1024 }, (e, key) => (e ? reject(e) : resolve(key)));
    });
  } finally {
    running--;
    waiting.shift()?.();
  }
}

const b64 = (bytes: Buffer) => bytes.toString("base64").replace(/=+$/, "");

/** The PHC string of a new hash of `password` (checked with checkPassword first). */
export async function hashPassword(password: string): Promise<string> {
  const normalised = checkPassword(password);
  const salt = randomBytes(SCRYPT_PARAMS.saltBytes);
  const { ln, r, p } = SCRYPT_PARAMS;
  const hash = await limitedScrypt(normalised, salt, { ln, r, p }, SCRYPT_PARAMS.hashBytes);
  return `$scrypt$ln=${ln},r=${r},p=${p}$${b64(salt)}$${b64(hash)}`;
}

function parse(stored: string): { params: Params; salt: Buffer; hash: Buffer } | undefined {
  const match = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{16,88})\$([A-Za-z0-9+/]{22,88})$/.exec(stored);
  if (!match) return undefined;
  const params = { ln: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
  for (const name of ["ln", "r", "p"] as const) {
    if (params[name] < LIMITS[name][0] || params[name] > LIMITS[name][1]) return undefined;
  }
  return { params, salt: Buffer.from(match[4], "base64"), hash: Buffer.from(match[5], "base64") };
}

/**
 * Whether `password` matches `stored`. An unreadable stored hash matches nothing. The comparison is
 * constant-time; a caller without a stored hash (an unknown name) should call verifyNothing to spend
 * the same time.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parse(stored);
  if (!parsed || typeof password !== "string" || password.length > MAX_PASSWORD_LENGTH * 4) return false;
  const hash = await limitedScrypt(password.normalize("NFKC"), parsed.salt, parsed.params, parsed.hash.length);
  return hash.length === parsed.hash.length && timingSafeEqual(hash, parsed.hash);
}

let dummy: Promise<string> | undefined;

/** Spends the time of one verification and matches nothing: an unknown name answers as slowly as a known one. */
export async function verifyNothing(password: string): Promise<false> {
  dummy ??= hashPassword(randomBytes(24).toString("base64"));
  await verifyPassword(password, await dummy);
  return false;
}
