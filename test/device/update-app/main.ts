// The device suite's update app (test/device/update.test.ts): the shared device entry with the update
// agent (its manifest includes ports/moddable/manifest_update.json; the build's config gives updatetrust),
// on an ESP32's memory, with its peak memory watched. Its firmware text comes from the build's config
// (firmware=...), so two builds of it are two firmware versions. One door, "build", reads the firmware
// text; config health=fail makes a build whose read of it fails, so that its health check (the doors'
// self-tests) fails and the update agent rolls it back. Memory: the ESP32 settings
// (manifest_esp32_memory.json) except the stack, 1024 slots instead of 512: with 512 the app ended in
// "JavaScript stack overflow" once the fleet server talked to it; the test logs the peak (about 650). Device code.
import config from "mc/config";
import { defineDoor, fail, t } from "gatehouse/sdk";
import { startDevice } from "gatehouse/ports/moddable";
import { watchMemory } from "gatehouse/test/device/app/memory";

const settings = config as unknown as Record<string, string | undefined>;
const firmware = settings.firmware ?? "update-app 0.0";

const buildDoor = defineDoor({
  name: "build",
  description: "the build this device runs",
  properties: { firmware: { type: t.string({ maxLength: 64 }), read: "view", description: "its firmware text" } },
});

startDevice({
  name: "update-app",
  firmware,
  provider: {},
  install(c) {
    const healthy = c.option("health") !== "fail";
    c.device.register(buildDoor, { read: { firmware: () => (healthy ? firmware : fail("internal", "this build cannot read its own firmware text")) } });
  },
});
watchMemory();
