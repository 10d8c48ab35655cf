// Signed updates on Moddable: the update agent (sdk/update/agent.ts) on the platform's update port, made
// from the build's config. Loaded by app.ts only when the build gives update trust, and present only in
// builds that include manifest_update.json: an app without updates carries neither the agent nor SUIT.
//
// The platform's port comes from the manifest, not from code: "gatehouse/ports/moddable/update-port" is
// update-lin/port.ts on lin (slot files) and update-esp32/create.ts on an ESP32 (OTA partitions). Device code.

import { fail, type ClockPort, type CryptoPort, type Device, type StoragePort, type TimerPort } from "gatehouse/sdk";
import { classNameOf, decodeTrustDocument, DEFAULT_VENDOR_NAME, nameUuid, parseUuid, UpdateAgent } from "gatehouse/sdk-update";
import { createUpdatePort } from "gatehouse/ports/moddable/update-port";

export interface UpdateContext {
  readonly name: string;
  readonly device: Device;
  /** update-trust.cbor as given or stored (app.ts keeps it in Preference, as the identity). */
  readonly trust: Uint8Array;
  readonly crypto: CryptoPort;
  readonly clock: ClockPort;
  readonly timers: TimerPort;
  readonly storage: StoragePort;
  option(name: string, fallback?: string): string | undefined;
  log(line: string): void;
}

function uuidOption(context: UpdateContext, name: string, fallbackName: string): Uint8Array {
  const text = context.option(name);
  if (text === undefined) return nameUuid(context.crypto, fallbackName);
  return parseUuid(text) ?? fail("config-invalid", `config ${name} ${text} is not a UUID`);
}

/** config healthdeadline=SECONDS: how long a trial build has to pass its health check (default 60). */
function healthDeadlineMs(context: UpdateContext): number | undefined {
  const text = context.option("healthdeadline");
  if (text === undefined) return undefined;
  const seconds = Number(text);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600) fail("config-invalid", `config healthdeadline ${text} is not 1 to 3600 seconds`);
  return seconds * 1000;
}

/** Attaches the update agent to `device` (before it starts): the ids default as in the host simulator. */
export function startUpdates(context: UpdateContext): UpdateAgent {
  return new UpdateAgent({
    device: context.device,
    port: createUpdatePort(context.option),
    storage: context.storage,
    crypto: context.crypto,
    clock: context.clock,
    timers: context.timers,
    vendorId: uuidOption(context, "vendorid", DEFAULT_VENDOR_NAME),
    classId: uuidOption(context, "classid", classNameOf(context.name)),
    trust: decodeTrustDocument(context.trust),
    healthDeadlineMs: healthDeadlineMs(context),
    log: (line) => context.log(`${context.name}: update: ${line}`),
  });
}
