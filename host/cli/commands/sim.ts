import { EXAMPLE_NAMES, EXAMPLES, isExampleName } from "../../sim/examples";
import { out, note, parseFlags, readKeyFile, required, usageError } from "../util";
import { parseOperator } from "./provision";

const EXAMPLE_WIDTH = Math.max(...EXAMPLE_NAMES.map((n) => n.length));

export const name = "sim";
export const summary = "Run simulated devices (the real device code on Node) against a broker";
export const usage = `Usage: gatehouse sim --broker URL --devices N --example NAME [--identities DIR] [--state DIR]
                     [--operator FILE.pub:ROLE]... [--firmware TEXT]

Runs N devices in this process until Ctrl-C. Each runs the same device code as the ESP32 (the SDK and
the example app) over Node ports: its own identity, state, simulated board and MQTT connection.

The examples (their doors and roles: examples/<name>/README.md):
${EXAMPLE_NAMES.map((n) => `  ${n.padEnd(EXAMPLE_WIDTH)}  ${EXAMPLES[n]}`).join("\n")}

Options:
  --broker URL              mqtt://host[:port] or mqtts://host[:port]
  --devices N               how many devices (1 to 10000)
  --example NAME            the app each device runs: ${EXAMPLE_NAMES.join(", ")}
  --identities DIR          use the identities 'gatehouse provision' wrote there (DIR/<id>/...);
                            devices beyond those get ephemeral identities for this run. A device
                            whose folder holds a broker identity logs in with it (docs/broker.md)
  --state DIR               keep each device's state (and its app's) in DIR/<id>/, so sequence
                            numbers and, say, a lock's codes survive restarts (default: in memory)
  --operator FILE.pub:ROLE  an operator the ephemeral identities trust (repeatable; default: the
                            operators of the first provisioned identity)
  --firmware TEXT           the firmware version the devices report (default "<example>-sim 0.1.0")
  -h, --help                show this help

Examples:
  gatehouse sim --broker mqtt://127.0.0.1:1883 --devices 3 --example thermostat --identities identities
  gatehouse sim --broker mqtt://127.0.0.1:1883 --devices 1 --example smart-lock --identities identities
`;

/** Up to this many devices, each one coming online gets its own line; above, a progress line per 10%. */
const EACH_LINE_UP_TO = 20;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags({
    args: argv,
    options: {
      broker: { type: "string" },
      devices: { type: "string" },
      example: { type: "string" },
      identities: { type: "string" },
      state: { type: "string" },
      operator: { type: "string", multiple: true },
      firmware: { type: "string" },
    },
  });
  const brokerUrl = required(values.broker, "--broker");
  const countText = required(values.devices, "--devices");
  const devices = Number(countText);
  if (!/^[0-9]+$/.test(countText) || devices < 1 || devices > 10_000) usageError(`--devices must be a whole number from 1 to 10000, not ${JSON.stringify(countText)}`);
  const example = required(values.example, "--example");
  if (!isExampleName(example)) usageError(`--example must be one of ${EXAMPLE_NAMES.join(", ")}, not ${JSON.stringify(example)}`);

  const { Simulator } = await import("../../sim/simulator");
  const { TrustList } = await import("../../../sdk/trust");
  const { listIdentities } = await import("../../identity-files");
  const { exists } = await import("../util");
  if (values.identities !== undefined && !exists(values.identities)) usageError(`--identities ${values.identities}: no such folder`);
  const operators = (values.operator ?? []).map(parseOperator).map((spec) => ({ key: readKeyFile(spec.path, "public"), role: spec.role }));
  const trust = operators.length > 0 ? new TrustList(operators) : undefined;
  const found = values.identities !== undefined ? listIdentities(values.identities).length : 0;

  out(`starting ${devices} simulated ${example} device${devices === 1 ? "" : "s"} against ${brokerUrl}`);
  if (values.identities !== undefined) out(`  identities: ${Math.min(found, devices)} provisioned from ${values.identities}${found < devices ? `, ${devices - found} ephemeral` : ""}`);
  out(`  state: ${values.state ?? "in memory (sequence numbers restart with the process)"}`);

  const started = performance.now();
  let everyone = false;
  let nextProgress = 0.1;
  // Assigned once start() returns; state changes start before that (every device is "connecting").
  let counter: { readonly onlineCount: number } | undefined;
  const sim = await Simulator.start({
    brokerUrl,
    devices,
    example,
    identitiesDir: values.identities,
    stateDir: values.state,
    trust,
    firmware: values.firmware,
    log: (line) => note(line),
    onStateChange: (d, state, detail) => {
      const online = counter?.onlineCount ?? 0;
      if (state === "online" && devices <= EACH_LINE_UP_TO) out(`online   ${d.id.padEnd(12)} (${online}/${devices})`);
      else if (state === "waiting" && everyone) out(`offline  ${d.id.padEnd(12)} ${detail}`);
      if (state === "online" && devices > EACH_LINE_UP_TO && online / devices >= nextProgress) {
        out(`online   ${online}/${devices}`);
        while (online / devices >= nextProgress) nextProgress += 0.1;
      }
      if (state === "online" && online === devices && !everyone) {
        everyone = true;
        out(`all ${devices} online after ${Math.round(performance.now() - started)} ms; press Ctrl-C to stop`);
      }
    },
  });
  counter = sim;

  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      // A second Ctrl-C while stopping ends the process at once.
      process.once("SIGINT", () => process.exit(130));
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  out("stopping (each device publishes its death and disconnects)...");
  await sim.stop(true);
  out(`stopped ${devices} device${devices === 1 ? "" : "s"}`);
  return 0;
}
