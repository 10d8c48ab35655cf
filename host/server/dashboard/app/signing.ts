// Commands signed where the person is: the private key file (a COSE_Key from `gatehouse keygen`) is read
// in the browser, imported into WebCrypto as a key that cannot be exported again, and used to sign the
// command's Sig_structure. The command itself is made by the SDK's own code (sdk/command/envelope.ts,
// sdk/cose/sign1.ts, sdk/cbor): the same bytes `gatehouse send` would sign. Only the signed message
// leaves the page; the key file's bytes are overwritten once imported.
//
// ES256: ECDSA P-256 with SHA-256 (WebCrypto's signature is raw r||s, as COSE wants). EdDSA: Ed25519,
// where the browser's WebCrypto has it (an import failure says so).

import { decodeKey, type CoseKey, type SignatureAlgorithm } from "../../../../sdk/cose/key";
import { prepareCommand } from "../../../../sdk/command/sender";
import { DEFAULT_COMMAND_EXPIRY_SECONDS, type Command } from "../../../../sdk/command/envelope";
import type { CborValue } from "../../../../sdk/cbor/types";
import { nextSequence } from "../../../client/sequence";

export interface BrowserKey {
  readonly alg: SignatureAlgorithm;
  readonly kid: Uint8Array;
  /** The kid as text when it is UTF-8 (keygen's --kid), else hex. */
  readonly name: string;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

function base64url(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function base64(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text);
}

function kidName(kid: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(kid);
  } catch {
    return Array.from(kid, (b) => b.toString(16).padStart(2, "0")).join("");
  }
}

/** Reads a private key file and imports it into WebCrypto (non-extractable). Throws with a message for people. */
export async function loadKeyFile(bytes: Uint8Array): Promise<BrowserKey> {
  let key: CoseKey;
  try {
    // The decoder's byte strings are views into the file's bytes: copied before those are overwritten.
    const decoded = decodeKey(bytes);
    key = { alg: decoded.alg, kid: decoded.kid.slice(), x: decoded.x.slice(), y: decoded.y?.slice(), d: decoded.d?.slice() };
  } catch (e) {
    throw new Error(`not a key file from gatehouse keygen: ${(e as Error).message}`);
  } finally {
    bytes.fill(0);
  }
  if (key.d === undefined) throw new Error("this is a public key (.pub): load the private key file (.key)");
  const es256 = key.alg === "ES256";
  const jwk: JsonWebKey = es256
    ? { kty: "EC", crv: "P-256", x: base64url(key.x), y: base64url(key.y as Uint8Array), d: base64url(key.d), ext: false }
    : { kty: "OKP", crv: "Ed25519", x: base64url(key.x), d: base64url(key.d), ext: false };
  let cryptoKey: CryptoKey;
  try {
    cryptoKey = await crypto.subtle.importKey("jwk", jwk, es256 ? { name: "ECDSA", namedCurve: "P-256" } : { name: "Ed25519" }, false, ["sign"]);
  } catch (e) {
    const why = `${(e as Error).name}${(e as Error).message ? `: ${(e as Error).message}` : ""}`;
    throw new Error(es256 ? `WebCrypto refused the P-256 key (${why})` : `this browser cannot sign with Ed25519 (${why}): use an ES256 key`);
  } finally {
    (key.d as Uint8Array).fill(0);
  }
  const params: AlgorithmIdentifier | EcdsaParams = es256 ? { name: "ECDSA", hash: "SHA-256" } : { name: "Ed25519" };
  return {
    alg: key.alg,
    kid: key.kid,
    name: kidName(key.kid),
    sign: async (data) => new Uint8Array(await crypto.subtle.sign(params, cryptoKey, data as BufferSource)),
  };
}

/** A signed command (COSE_Sign1), as signCommand makes it on Node: the SDK's envelope, WebCrypto's signature. */
export async function signCommandHere(key: BrowserKey, request: { device: string; door: string; op: string; args?: CborValue }): Promise<Uint8Array> {
  const issuedAt = Math.floor(Date.now() / 1000);
  const command: Command = { ...request, seq: nextSequence(), issuedAt, expiresAt: issuedAt + DEFAULT_COMMAND_EXPIRY_SECONDS };
  const unsigned = prepareCommand(key, command);
  return unsigned.complete(await key.sign(unsigned.toBeSigned));
}
