// The ESP32's "gatehouse/ports/moddable/update-port" (see ../updates.ts): its OTA partitions need no config.
import { Esp32UpdatePort } from "gatehouse/ports/moddable/update-esp32";
import type { UpdatePort } from "gatehouse/sdk";

export function createUpdatePort(_option: (name: string, fallback?: string) => string | undefined): UpdatePort {
  return new Esp32UpdatePort();
}
