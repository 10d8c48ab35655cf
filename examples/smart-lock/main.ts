// The smart lock on Moddable: the shared device entry (startDevice: broker and identity from the build's
// config, the Moddable ports) runs the lock app on the board the build selected (-p), with every attempt
// recorded (SMART_LOCK_DEVICE_OPTIONS). Device code. Build, flash and run it: README.md. App config besides
// the shared keys: actuatoractivelow=true for a driver stage that energises on a low level.
import board from "gatehouse/boards/board";
import { startDevice } from "gatehouse/ports/moddable";
import { installSmartLock, SMART_LOCK_DEVICE_OPTIONS } from "./app";

startDevice({
  name: "smart-lock",
  firmware: "smart-lock 0.1.0",
  provider: board,
  deviceOptions: SMART_LOCK_DEVICE_OPTIONS,
  install: (c) => installSmartLock({ ...c, actuatorActiveLow: c.option("actuatoractivelow") === "true" }),
});
