// The device e2e test app with an ESP32's XS creation settings (this folder's manifest.json: the 78,848-byte
// chunk heap, 4,928 slots and 512-slot stack of $MODDABLE/build/devices/esp32/targets/*/manifest.json, no
// growth), built instrumented so that it reports its peak memory. Same Device, same door as ../app/e2e.

import { describe, exit, report } from "../app/report";
import { runE2e } from "../app/e2e";

try {
  runE2e();
} catch (e) {
  report({ kind: "crash", error: describe(e) });
  exit(70);
}
