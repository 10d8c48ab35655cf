import type { CoseKey } from "../../../sdk/cose/key";
import type { ServerAccess } from "../../client/http";
import { fail } from "../../../sdk/errors";
import { jsonTextToCbor } from "../json-exact";
import { SERVER_ACCESS_HELP, SERVER_ACCESS_OPTIONS, bold, green, out, parseFlags, red, readKeyFile, required, serverAccess, usageError, yellow } from "../util";
import { printable } from "./server";
import { DEFAULT_COMMAND_EXPIRY_SECONDS } from "../../../sdk/command/envelope";

export const name = "send";
export const summary = "Sign a command, send it to a device and print its result";
export const usage = `Usage: gatehouse send --device ID --door DOOR --op OP [--args JSON] --key FILE.key
                      (--broker URL [--broker-identity DIR] | --server URL [--token-file FILE] [--ca FILE])
                      [--device-key FILE.pub | --identities DIR] [--timeout MS] [--expires SECONDS|never]

Signs a command with your operator key (a fresh sequence number: Unix time in microseconds), sends it
and waits for the device's result:
  --broker  publishes it on gh/ID/cmd/DOOR and reads the result from gh/ID/result itself;
  --server  posts it to a fleet server (POST /api/commands), which relays it and verifies the result
            with the device key it has registered. The server needs a token with role operate
            (--token-file or GATEHOUSE_TOKEN); it never sees your key, only the signed command.
Prints one line: "✓" and the value as JSON, or "✗" and the device's refusal code and message.

The result is verified with the device's public key when you give one (--device-key, or --identities
where DIR/ID/device.pub is). Without one, a result read from the broker is UNVERIFIED (anyone able to
publish there could have written it), and a result from --server is as trustworthy as that server.

Options:
  --device ID          the device id
  --door DOOR          the door name
  --op OP              read.<property>, write.<property> or invoke.<action>
  --args JSON          the input as JSON (objects become CBOR maps with text keys); omit for none
  --key FILE.key       your operator private key (the device must trust it)
  --broker URL         mqtt://host[:port] or mqtts://host[:port]
  --server URL         fleet server, e.g. http://127.0.0.1:8080
  --broker-identity DIR  with --broker: log in as this broker identity (DIR/operator.NAME from
                       'gatehouse provision --role operator'); over mqtts its broker-ca.pem verifies the broker
${SERVER_ACCESS_HELP}
  --device-key FILE    the device's public key (device.pub)
  --identities DIR     find the device's public key as DIR/ID/device.pub
  --timeout MS         how long to wait for the result (default 10000)
  --expires SECONDS    the command expires this long after it is signed (default 60): held back and
                       delivered later (a full broker queue, a client that took over the device's
                       session), it is refused as expired. 'never' leaves the claim out; devices with
                       trusted time then refuse it (expiry-missing) unless configured otherwise.
  -h, --help           show this help

Exit status: 0 when the device ran the command, 1 when it refused it (or no result came), 2 usage.
`;

function positiveInt(text: string | undefined, flag: string, fallback: number | undefined, max: number): number | undefined {
  if (text === undefined) return fallback;
  if (!/^\d{1,9}$/.test(text) || Number(text) < 1 || Number(text) > max) usageError(`${flag} must be an integer from 1 to ${max}`);
  return Number(text);
}

interface Shown {
  ok: boolean;
  valueJson?: string;
  code?: string;
  message?: string;
  verification: string;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags({
    args: argv,
    options: {
      device: { type: "string" },
      door: { type: "string" },
      op: { type: "string" },
      args: { type: "string" },
      key: { type: "string" },
      broker: { type: "string" },
      "broker-identity": { type: "string" },
      server: { type: "string" },
      "device-key": { type: "string" },
      identities: { type: "string" },
      timeout: { type: "string" },
      expires: { type: "string" },
      ...SERVER_ACCESS_OPTIONS,
    },
  });
  const device = required(values.device, "--device");
  const door = required(values.door, "--door");
  const op = required(values.op, "--op");
  const keyPath = required(values.key, "--key");
  if ((values.broker === undefined) === (values.server === undefined)) usageError("give exactly one of --broker and --server");
  if (values["broker-identity"] !== undefined && values.broker === undefined) usageError("--broker-identity goes with --broker");
  if (values["device-key"] !== undefined && values.identities !== undefined) usageError("give at most one of --device-key and --identities");
  const timeoutMs = positiveInt(values.timeout, "--timeout", 10_000, 120_000) as number;
  const maxExpiry = 86_400 * 365;
  if (values.expires !== undefined && values.expires !== "never" && !(/^\d{1,9}$/.test(values.expires) && Number(values.expires) >= 1 && Number(values.expires) <= maxExpiry)) {
    usageError(`--expires must be a number of seconds from 1 to ${maxExpiry}, or never`);
  }
  const expiresInSeconds = values.expires === "never" ? null : values.expires === undefined ? DEFAULT_COMMAND_EXPIRY_SECONDS : Number(values.expires);
  const args = values.args === undefined ? undefined : jsonTextToCbor(values.args, "--args");

  const { checkTopicLevel } = await import("../../client/mqtt");
  checkTopicLevel(device, "--device");
  checkTopicLevel(door, "--door");
  const server = await serverAccess(values);
  const key = readKeyFile(keyPath, "private");
  let deviceKey: CoseKey | undefined;
  if (values["device-key"] !== undefined) {
    const { checkDeviceKey } = await import("../../client/device-keys");
    deviceKey = checkDeviceKey(device, readKeyFile(values["device-key"], "public"));
  } else if (values.identities !== undefined) {
    const { deviceKeyIn } = await import("../../client/device-keys");
    deviceKey = deviceKeyIn(values.identities, device);
  }

  const shown =
    values.broker !== undefined
      ? await viaBroker(values.broker, values["broker-identity"], { key, device, door, op, args, deviceKey, timeoutMs, expiresInSeconds })
      : await viaServer(server as ServerAccess, { key, device, door, op, args, deviceKey, timeoutMs, expiresInSeconds });

  const what = `${printable(device)} ${printable(door)} ${printable(op)}`;
  if (shown.ok) {
    out(`${green("✓")} ${what} → ${shown.valueJson ?? "(no value)"}  ${shown.verification}`);
    return 0;
  }
  out(`${red("✗")} ${what} refused: ${bold(printable(shown.code))}${shown.message ? `: ${printable(shown.message)}` : ""}  ${shown.verification}`);
  return 1;
}

interface SendRequest {
  key: CoseKey;
  device: string;
  door: string;
  op: string;
  args: ReturnType<typeof jsonTextToCbor> | undefined;
  deviceKey?: CoseKey;
  timeoutMs: number;
  /** null: no expiry claim. */
  expiresInSeconds: number | null;
}

const UNVERIFIED = yellow("(UNVERIFIED: no device key given; anyone who can publish on the broker could have written this result)");

async function viaBroker(brokerUrl: string, identity: string | undefined, r: SendRequest): Promise<Shown> {
  const { CommandClient } = await import("../../client/command-client");
  const { jsonText } = await import("../../client/json-view");
  const { readBrokerCredentials } = await import("../../broker/identities");
  const brokerCredentials = identity !== undefined ? readBrokerCredentials(identity) : undefined;
  const client = await CommandClient.connect({ brokerUrl, key: r.key, brokerCredentials });
  try {
    const reply = await client.send({ device: r.device, door: r.door, op: r.op, args: r.args, deviceKey: r.deviceKey, timeoutMs: r.timeoutMs, expiresInSeconds: r.expiresInSeconds });
    return {
      ok: reply.ok,
      valueJson: reply.ok && reply.value !== undefined ? jsonText(reply.value) : undefined,
      code: reply.code,
      message: reply.message,
      verification: reply.verified ? "(verified)" : UNVERIFIED,
    };
  } finally {
    await client.close();
  }
}

async function viaServer(server: ServerAccess, r: SendRequest): Promise<Shown> {
  const { signCommand } = await import("../../../sdk/command/sender");
  const { nodeCrypto } = await import("../../../ports/node/crypto");
  const { nextSequence } = await import("../../client/sequence");
  const { apiRequest } = await import("../../client/api");
  const { openResult, commandRef } = await import("../../client/results");
  const { fromHex, toHex } = await import("../../../sdk/bytes");
  const { jsonText } = await import("../../client/json-view");

  const issuedAt = Math.floor(Date.now() / 1000);
  const message = signCommand(nodeCrypto, r.key, {
    device: r.device,
    door: r.door,
    op: r.op,
    args: r.args,
    seq: nextSequence(),
    issuedAt,
    expiresAt: r.expiresInSeconds === null ? undefined : issuedAt + r.expiresInSeconds,
  });
  const body = { message: Buffer.from(message).toString("base64"), device: r.device, door: r.door, timeoutMs: r.timeoutMs };
  const reply = (await apiRequest(server, "POST", "/api/commands", body, { timeoutMs: r.timeoutMs + 10_000 })) as Record<string, unknown>;
  if (typeof reply !== "object" || reply === null || typeof reply.ok !== "boolean") fail("server-error", "the server's reply has no ok field");

  if (r.deviceKey) {
    // Check the device's own signature on the result instead of taking the server's word for it.
    const raw = typeof reply.result === "string" ? fromHex(reply.result) : undefined;
    if (!raw) fail("server-error", "the server's reply carries no result message to verify");
    const { body: result } = openResult(raw, r.device, r.deviceKey, nodeCrypto);
    if (toHex(result.ref) !== toHex(commandRef(message))) fail("result-mismatch", "the verified result answers another command");
    return {
      ok: result.ok,
      valueJson: result.ok && result.value !== undefined ? jsonText(result.value) : undefined,
      code: result.code,
      message: result.message,
      verification: "(verified)",
    };
  }
  return {
    ok: reply.ok,
    valueJson: reply.ok && reply.value !== undefined ? JSON.stringify(reply.value) : undefined,
    code: typeof reply.code === "string" ? reply.code : reply.ok ? undefined : "unknown",
    message: typeof reply.message === "string" ? reply.message : undefined,
    verification: reply.verified === true ? "(verified by the server)" : UNVERIFIED,
  };
}
