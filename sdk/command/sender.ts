// Signing commands: what the server and the CLI use. The same CBOR and COSE code the device verifies with.

import { prepareSign1, sign1, type UnsignedSign1 } from "../cose/sign1";
import type { CoseKey } from "../cose/key";
import type { CryptoPort } from "../ports/crypto";
import { COMMAND_AAD, encodeCommand, type Command } from "./envelope";

export function signCommand(crypto: CryptoPort, key: CoseKey, command: Command): Uint8Array {
  return sign1(crypto, key, encodeCommand(command), { externalAad: COMMAND_AAD });
}

/**
 * A command ready for a signer that answers later (the dashboard signs with WebCrypto in the browser):
 * the same claims, headers and AAD as signCommand, the signature given to complete().
 */
export function prepareCommand(key: Pick<CoseKey, "alg" | "kid">, command: Command): UnsignedSign1 {
  return prepareSign1(key, encodeCommand(command), { externalAad: COMMAND_AAD });
}
