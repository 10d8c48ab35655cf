// The sensor node on Moddable: the shared device entry (startDevice: broker and identity from the build's
// config, the Moddable ports) runs the sensor node app on the board the build selected (-p). Device code.
// Build, flash and run it: README.md. App config besides the shared keys: batchsize=N readings per signed
// batch (1-32, default 6), samplems=MS between samples (default 10000); other values are refused.
import board from "gatehouse/boards/board";
import { startDevice } from "gatehouse/ports/moddable";
import { installSensorNode } from "./app";

startDevice({
  name: "sensor-node",
  firmware: "sensor-node 0.1.0",
  provider: board,
  install: (c) => installSensorNode({ ...c, batchSize: Number(c.option("batchsize", "6")), sampleEveryMs: Number(c.option("samplems", "10000")) }),
});
