// Signing commands: what the server and the CLI use. The same CBOR and COSE code the device verifies with.

import { sign1 } from "../cose/sign1";
import type { CoseKey } from "../cose/key";
import type { CryptoPort } from "../ports/crypto";
import { COMMAND_AAD, encodeCommand, type Command } from "./envelope";

export function signCommand(crypto: CryptoPort, key: CoseKey, command: Command): Uint8Array {
  return sign1(crypto, key, encodeCommand(command), { externalAad: COMMAND_AAD });
}
