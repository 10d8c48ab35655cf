// npm run test:device: the device suite on Moddable's XS 17 (test/device). It needs the Moddable SDK:
// MODDABLE must name it, with its lin tools and simulator built. Without it the suite fails (it never
// skips): a device test that did not run is not a pass. Output as npm test's: TAP, then the plain line
// `N passed, N failed`; the exit code is ava's.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

const sdk = process.env.MODDABLE;
const missing = !sdk
  ? "MODDABLE is not set"
  : ["mcconfig", "mcsim"].find((tool) => !existsSync(join(sdk, "build/bin/lin/release", tool))) && `MODDABLE=${sdk} has no lin tools and simulator (build/bin/lin/release/mcconfig, mcsim)`;
if (missing) {
  process.stderr.write(
    `test:device: error moddable-missing: ${missing}. The device suite builds and runs apps with the Moddable SDK: ` +
      "install it as Moddable's documentation describes (its Linux getting-started guide: the lin tools and the simulator) and set MODDABLE to its folder.\n",
  );
  process.stdout.write("0 passed, 1 failed\n");
  process.exit(1);
}
const child = spawn(process.execPath, ["scripts/test.js", "--config", "ava.device.config.mjs", ...process.argv.slice(2)], { stdio: "inherit" });
child.on("close", (code) => process.exit(code ?? 1));
