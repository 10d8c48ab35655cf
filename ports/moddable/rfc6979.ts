// Deterministic ECDSA nonces, RFC 6979 section 3.2, for P-256 with SHA-256, on Moddable's native HMAC-SHA256
// (`hmac` over the `crypt` Digest). Written from the RFC's text.
//
// Why: an ECDSA nonce that repeats, or that an attacker can guess, gives the private key away. Moddable's
// own ECDSA signer draws its nonce from `rng`, an RC4 keystream seeded from 16 bytes of the C library's
// rand(); RFC 6979 derives k from the private key and the message hash instead, so the device needs no
// random source at all, and equal inputs give equal signatures (testable against the RFC's vectors).
//
// With qlen = hlen = 256 bits every conversion of the RFC is simple here: bits2int of a 32-byte string is
// its big-endian integer, int2octets(x) is x in 32 bytes, and bits2octets(h1) is (h1 mod q) in 32 bytes.

import { Digest } from "crypt";
import HMAC from "hmac";

const LENGTH = 32;

export function bytesToBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (let i = 0; i < bytes.length; i++) value = (value << 8n) | BigInt(bytes[i]);
  return value;
}

export function bigIntToBytes(value: bigint, length: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    bytes[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return bytes;
}

const ZERO = Uint8Array.of(0x00).buffer;
const ONE = Uint8Array.of(0x01).buffer;

/**
 * The candidate nonces k for one signature (private key x, message hash h1, group order q), in the RFC's
 * order. The signer takes next() and, should that k give r = 0 or s = 0, takes next() again (step h.3).
 */
export class Rfc6979Nonces {
  private readonly digest = new Digest("SHA256");
  private V: ArrayBuffer;
  private mac: HMAC;
  private started = false;

  constructor(
    x: Uint8Array,
    h1: Uint8Array,
    private readonly q: bigint,
  ) {
    if (x.length !== LENGTH || h1.length !== LENGTH) throw new RangeError("RFC 6979: x and h1 must be 32 bytes");
    let z = bytesToBigInt(h1);
    if (z >= q) z -= q; // bits2octets: one subtraction suffices, since 2^256 < 2q
    const key = x.slice().buffer;
    const hash = bigIntToBytes(z, LENGTH).buffer;
    // Step b and c: V = 0x01 0x01 ... 0x01, K = 0x00 0x00 ... 0x00.
    this.V = new Uint8Array(LENGTH).fill(0x01).buffer;
    this.mac = new HMAC(this.digest, new Uint8Array(LENGTH).buffer);
    // Steps d to g.
    this.rekey(this.mac.process(this.V, ZERO, key, hash));
    this.V = this.mac.process(this.V);
    this.rekey(this.mac.process(this.V, ONE, key, hash));
    this.V = this.mac.process(this.V);
  }

  /** The next candidate k, always in [1, q-1]. */
  next(): bigint {
    if (this.started) this.retry();
    this.started = true;
    for (;;) {
      // Step h.2: tlen = qlen = hlen, so T is one block.
      this.V = this.mac.process(this.V);
      const k = bytesToBigInt(new Uint8Array(this.V));
      if (k >= 1n && k < this.q) return k;
      this.retry();
    }
  }

  /** Step h.3: K = HMAC_K(V || 0x00), V = HMAC_K(V). */
  private retry(): void {
    this.rekey(this.mac.process(this.V, ZERO));
    this.V = this.mac.process(this.V);
  }

  private rekey(K: ArrayBuffer): void {
    this.mac = new HMAC(this.digest, K);
  }
}
