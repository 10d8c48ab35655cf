// Turning the JSON vector files into the SDK's types. Device-safe (runs in XS too).

import { fromHex } from "../../sdk/bytes";
import { utf8 } from "../../sdk/cbor/encode";
import type { CoseKey, SignatureAlgorithm } from "../../sdk/cose/key";

const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

export function fromBase64Url(text: string): Uint8Array {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of text.replace(/=+$/, "")) {
    const index = BASE64URL.indexOf(ch);
    if (index < 0) throw new Error(`not base64url: ${ch}`);
    value = (value << 6) | index;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >> bits) & 0xff);
    }
  }
  return Uint8Array.from(out);
}

export function hex(text: string): Uint8Array {
  const bytes = fromHex(text);
  if (!bytes) throw new Error(`not hex: ${text}`);
  return bytes;
}

interface JwkLike {
  kty: string;
  kid?: string;
  crv: string;
  x?: string;
  y?: string;
  d?: string;
  x_hex?: string;
  y_hex?: string;
  d_hex?: string;
}

function part(jwk: JwkLike, name: "x" | "y" | "d"): Uint8Array | undefined {
  const b64 = jwk[name];
  if (b64 !== undefined) return fromBase64Url(b64);
  const h = jwk[`${name}_hex` as const];
  return h === undefined ? undefined : hex(h);
}

/** A CoseKey from a cose-wg/Examples JWK-like key; `kid` defaults when the vector has none. */
export function keyFromVector(jwk: JwkLike, fallbackKid = "vector-key"): CoseKey {
  const alg: SignatureAlgorithm = jwk.crv === "Ed25519" ? "EdDSA" : "ES256";
  return {
    alg,
    kid: utf8(jwk.kid ?? fallbackKid),
    x: part(jwk, "x") as Uint8Array,
    y: alg === "ES256" ? part(jwk, "y") : undefined,
    d: part(jwk, "d"),
  };
}
