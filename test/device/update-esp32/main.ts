// Type-checked for -p esp32 in the device suite (typecheck.test.ts): the ESP32 update port as an app
// would use it, through the UpdatePort interface the update agent takes. Nothing flashes it.
import { Esp32UpdatePort } from "gatehouse/ports/moddable/update-esp32";
import type { UpdatePort } from "gatehouse/sdk";

declare function trace(...items: unknown[]): void;

const port: UpdatePort = new Esp32UpdatePort();
const boot = port.boot();
trace(`update port: ${port.capacity} bytes, resumable ${port.resumable}, boot ${boot.state} from slot ${boot.slot}\n`);
if (boot.state === "trial") port.confirm();
