// Publications as an attacker or a broken device would make them: any fields, signed like the real thing
// (the kind's external AAD), WITHOUT the codec's checks (sdk/session/publications.ts signPublication
// refuses bodies that are not of their kind). For tests of what receivers do with them; device-safe, so
// the conformance cases use it on every platform.

import { encode } from "../../sdk/cbor/encode";
import type { CborObject } from "../../sdk/cbor/types";
import type { CoseKey } from "../../sdk/cose/key";
import { sign1 } from "../../sdk/cose/sign1";
import type { CryptoPort } from "../../sdk/ports/crypto";
import { utf8 } from "../../sdk/cbor/encode";
import { PUBLICATIONS, type PublicationKind } from "../../sdk/session/publications";

export function signRawPublication(crypto: CryptoPort, key: CoseKey, kind: PublicationKind, fields: CborObject): Uint8Array {
  return sign1(crypto, key, encode(fields), { externalAad: utf8(PUBLICATIONS[kind].aad) });
}
