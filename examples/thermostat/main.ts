// The thermostat on Moddable: the shared device entry (startDevice: broker and identity from the build's
// config, the Moddable ports) runs the thermostat app on the board the build selected (-p). Device code.
// Build, flash and run it: README.md. App config besides the shared keys: sensor=tmp36|ntc (default tmp36),
// relayactivelow=true for a relay module that switches on a low level.
import board from "gatehouse/boards/board";
import { fail } from "gatehouse/sdk";
import { startDevice } from "gatehouse/ports/moddable";
import { installThermostat } from "./app";

startDevice({
  name: "thermostat",
  firmware: "thermostat 0.1.0",
  provider: board,
  install(c) {
    const sensor = c.option("sensor", "tmp36");
    if (sensor !== "tmp36" && sensor !== "ntc") fail("config-invalid", `config sensor=${sensor}: tmp36 or ntc`);
    installThermostat({ ...c, thermometer: { sensor: { kind: sensor } }, heater: { activeLow: c.option("relayactivelow") === "true" } });
  },
});
