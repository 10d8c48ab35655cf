// ava's configuration for the device suite (npm run test:device, scripts/test-device.js): the tests under
// test/device, which build apps with Moddable's mcconfig and run them in its lin simulator. One test file
// at a time: they share one build folder, and the machine has few cores.
import base from "./package.json" with { type: "json" };

export default {
  ...base.ava,
  files: ["test/device/**/*.test.ts"],
  concurrency: 1,
  timeout: "10m",
};
