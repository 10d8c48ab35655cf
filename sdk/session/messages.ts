// Device publications (docs/protocol.md section 4): signed by the device key, with the message kind
// bound into the signature through the external AAD.

import { fail } from "../errors";
import { decode } from "../cbor/decode";
import { encode, utf8 } from "../cbor/encode";
import type { CborMap, CborObject } from "../cbor/types";
import { sign1, verifySign1 } from "../cose/sign1";
import type { CoseKey } from "../cose/key";
import type { CryptoPort } from "../ports/crypto";

export type PublicationKind = "birth" | "death" | "result" | "telemetry" | "event";
export const PUBLICATION_KINDS: readonly PublicationKind[] = ["birth", "death", "result", "telemetry", "event"];

const AAD: Record<PublicationKind, Uint8Array> = {
  birth: utf8("gatehouse birth v1"),
  death: utf8("gatehouse death v1"),
  result: utf8("gatehouse result v1"),
  telemetry: utf8("gatehouse telemetry v1"),
  event: utf8("gatehouse event v1"),
};

/** Topic suffix of each kind, under `<prefix>/<device>/`. */
export const TOPIC_OF_KIND: Record<PublicationKind, string> = {
  birth: "birth",
  death: "death",
  result: "result",
  telemetry: "telemetry",
  event: "events",
};

export const PUBLICATION_LIMITS = { maxDepth: 16, maxItems: 4096, maxStringLength: 8192, maxLength: 32768 };

export interface PublicationBody extends CborObject {
  device: string;
  seq: number;
}

export function signPublication(crypto: CryptoPort, deviceKey: CoseKey, kind: PublicationKind, body: PublicationBody): Uint8Array {
  return sign1(crypto, deviceKey, encode(body), { externalAad: AAD[kind] });
}

/** Verifies a device publication and checks it names `deviceId`; returns its body as a Map. */
export function verifyPublication(crypto: CryptoPort, message: Uint8Array, deviceKey: CoseKey, kind: PublicationKind, deviceId: string): CborMap {
  const verified = verifySign1(crypto, message, deviceKey, { tag: "required", externalAad: AAD[kind], limits: PUBLICATION_LIMITS });
  const body = decode(verified.payload, PUBLICATION_LIMITS);
  if (!(body instanceof Map)) return fail("publication-malformed", `${kind} payload is not a map`);
  if (body.get("device") !== deviceId) fail("wrong-device", `${kind} names device ${String(body.get("device"))}, not ${deviceId}`);
  const seq = body.get("seq");
  if (typeof seq !== "number" || !Number.isInteger(seq) || seq < 0) fail("publication-malformed", `${kind} has no valid seq`);
  return body;
}
