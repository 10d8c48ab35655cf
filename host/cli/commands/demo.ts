import { mkdirSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { GatehouseError } from "../../../sdk/errors";
import { bold, dim, exists, green, note, out, parseFlags, positionals, red, yellow } from "../util";

export const name = "demo";
export const summary = "See it work: a broker, a fleet server, 3 simulated thermostats and signed commands";
export const usage = `Usage: gatehouse demo [--broker URL] [--once]

Runs the whole system on this machine and walks through it:
  1. an MQTT broker (aedes, in this process) unless --broker names one;
  2. two operator keys in .gatehouse/demo/keys: admin (role administer) and operator (role operate);
  3. three thermostat devices provisioned in .gatehouse/demo/identities, each trusting both keys;
  4. the fleet server (SQLite in .gatehouse/demo/fleet.db, HTTP API on a free 127.0.0.1 port) and an
     API token with role view for the commands to try (.gatehouse/demo/viewer.token, replaced each run);
  5. the simulator running the three devices (the same device code as the ESP32);
  6. signed commands: an operator reads the temperature and sets the target (allowed), tries to change
     the limits (refused by the door's rule: not-allowed), then the admin changes them (allowed); the
     device's signed security event for the refusal, as the server stored it;
  7. a signed security patch (2 of 3 update keys in .gatehouse/demo/keys) rolled out to the devices, which
     restart into it and confirm, then a tampered copy that every device refuses (security events).
Then it prints commands to try yourself, the dashboard's address and a one-time login for it (a user
demo-admin with a new password each run, shown once), and keeps running until Ctrl-C (with --once it stops
and exits).
Keys, identities and device state stay in .gatehouse/demo between runs; delete the folder to start over.

Options:
  --broker URL  use this broker (mqtt://host[:port]) instead of starting one
  --once        stop after the walkthrough and exit 0
  -h, --help    show this help
`;

const WORKSPACE = join(".gatehouse", "demo");
const DEVICE_IDS = ["thermo-1", "thermo-2", "thermo-3"] as const;
/** The broker identities of the demo's server and operators (docs/broker.md), beside the devices'. */
const DEMO_SERVER_IDENTITY = "server.demo";
const DEMO_OPERATOR_IDENTITIES = { admin: "operator.admin", operator: "operator.operator" } as const;
/** The name of the demo's API token. */
const DEMO_TOKEN = "demo-viewer";
const START_TIMEOUT_MS = 20_000;

/** A path as the user would type it from the current folder. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === "" ? "." : rel.startsWith("..") ? path : rel;
}

function format(value: unknown): string {
  if (value === undefined) return "(no value)";
  if (value instanceof Map) return `{${[...value].map(([k, v]) => `${String(k)}: ${format(v)}`).join(", ")}}`;
  if (value instanceof Uint8Array) return `h'${Buffer.from(value).toString("hex")}'`;
  if (typeof value === "object" && value !== null) return JSON.stringify(value);
  return String(value);
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals: rest } = parseFlags({
    args: argv,
    allowPositionals: true,
    options: { broker: { type: "string" }, once: { type: "boolean" } },
  });
  positionals(rest, []);
  const once = values.once === true;

  // Heavy modules load only now (the CLI's help must stay quick).
  const { utf8 } = await import("../../../sdk/cbor/encode");
  const { toHex } = await import("../../../sdk/bytes");
  const { decodeKey, encodeKey, publicKey } = await import("../../../sdk/cose/key");
  const { TrustList } = await import("../../../sdk/trust");
  const { nodeCrypto } = await import("../../../ports/node/crypto");
  const { readInput, writeOutput } = await import("../util");
  const { generateDeviceKey, readIdentity, writeIdentity } = await import("../../identity-files");
  const { startEmbeddedBroker } = await import("../../sim/broker");
  const { brokerAccess } = await import("../../broker/access");
  const { ensurePasswordIdentities, listBrokerIdentities, readBrokerCredentials } = await import("../../broker/identities");
  const { Simulator } = await import("../../sim/simulator");
  const { FleetServer, createFleetHttpApi, serveHttp, ApiGuard, buildDashboard, withDashboard } = await import("../../server/index");
  const { CommandClient } = await import("../../client/command-client");
  type Client = Awaited<ReturnType<typeof CommandClient.connect>>;

  const workspace = resolve(WORKSPACE);
  const keysDir = join(workspace, "keys");
  const identitiesDir = join(workspace, "identities");
  const stateDir = join(workspace, "state");
  const dbPath = join(workspace, "fleet.db");
  mkdirSync(workspace, { recursive: true });

  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const step of cleanups.splice(0).reverse()) {
      try {
        await step();
      } catch (e) {
        note(`demo: while stopping: ${(e as Error)?.message ?? e}`);
      }
    }
  };

  try {
    out(bold("Gatehouse demo: three simulated thermostats, a fleet server and signed commands"));
    out("");

    // 1. The broker.
    // The embedded broker enforces the fleet's broker rules (docs/broker.md): every device, the server and
    // each operator logs in with its own identity, kept in the identities folder between runs.
    let brokerUrl = values.broker;
    const embedded = brokerUrl === undefined;
    const identityOf = (username: string) => (embedded ? readBrokerCredentials(join(identitiesDir, username)) : undefined);
    if (brokerUrl === undefined) {
      ensurePasswordIdentities(identitiesDir, [...DEVICE_IDS, DEMO_SERVER_IDENTITY, DEMO_OPERATOR_IDENTITIES.admin, DEMO_OPERATOR_IDENTITIES.operator]);
      const broker = await startEmbeddedBroker({ access: brokerAccess(listBrokerIdentities(identitiesDir)), log: (line) => note(dim(`      ${line}`, process.stderr)) });
      cleanups.push(() => broker.stop());
      brokerUrl = broker.url;
      out(`[1/6] broker     aedes in this process on ${brokerUrl} (broker identities and topic rules on)`);
    } else {
      out(`[1/6] broker     ${brokerUrl} (yours)`);
    }

    // 2. Operator keys: kept between runs, so the commands printed at the end keep working.
    const operatorKeys: Record<"admin" | "operator", { key: ReturnType<typeof decodeKey>; path: string }> = {} as never;
    for (const who of ["admin", "operator"] as const) {
      const keyPath = join(keysDir, `${who}.key`);
      const pubPath = join(keysDir, `${who}.pub`);
      let key;
      if (exists(keyPath) && exists(pubPath)) {
        key = decodeKey(readInput(keyPath, "key-file"));
      } else {
        key = nodeCrypto.generateKey("ES256", utf8(who));
        writeOutput(keyPath, encodeKey(key, true), { force: true, mode: 0o600 });
        writeOutput(pubPath, encodeKey(publicKey(key), false), { force: true, mode: 0o644 });
      }
      operatorKeys[who] = { key, path: keyPath };
    }
    const trust = new TrustList([
      { key: operatorKeys.admin.key, role: "administer" },
      { key: operatorKeys.operator.key, role: "operate" },
    ]);
    out(`[2/6] operators  ${shown(operatorKeys.admin.path)} (administer), ${shown(operatorKeys.operator.path)} (operate)`);

    // 3. Device identities: reused when they still trust exactly these operators.
    const deviceKeys = new Map<string, ReturnType<typeof publicKey>>();
    const trustKids = trust.entries().map((e) => `${toHex(e.key.kid)}:${toHex(e.key.x)}:${e.role}`).sort().join(",");
    let provisioned = 0;
    for (const id of DEVICE_IDS) {
      let identity;
      try {
        identity = readIdentity(join(identitiesDir, id));
        const kids = identity.trust.entries().map((e) => `${toHex(e.key.kid)}:${toHex(e.key.x)}:${e.role}`).sort().join(",");
        if (kids !== trustKids) identity = undefined;
      } catch {
        identity = undefined;
      }
      if (!identity) {
        writeIdentity(identitiesDir, { id, key: generateDeviceKey(id), trust }, { force: true });
        identity = readIdentity(join(identitiesDir, id));
        provisioned++;
      }
      deviceKeys.set(id, identity.publicKey);
    }
    out(`[3/6] devices    ${DEVICE_IDS.join(", ")} in ${shown(identitiesDir)} (${provisioned ? `${provisioned} provisioned now` : "from an earlier run"}; each trusts admin and operator)`);

    await provisionUpdateTrust(keysDir, identitiesDir, DEVICE_IDS);

    // 4. The fleet server.
    const onlineAtServer = new Set<string>();
    let serverSawAll: () => void = () => {};
    const allAtServer = new Promise<void>((done) => (serverSawAll = done));
    const server = await FleetServer.start({
      brokerUrl,
      dbPath,
      identitiesDir,
      clientId: "gatehouse-demo-server",
      brokerCredentials: identityOf(DEMO_SERVER_IDENTITY),
      onActivity: (activity) => {
        if (activity.type === "online") onlineAtServer.add(activity.device);
        if (activity.type === "offline") onlineAtServer.delete(activity.device);
        if (DEVICE_IDS.every((id) => onlineAtServer.has(id))) serverSawAll();
      },
    });
    cleanups.push(() => server.stop());
    const guard = ApiGuard.open(server.store.db);
    const served = await serveHttp(withDashboard(createFleetHttpApi(server, { guard }), await buildDashboard()), { host: "127.0.0.1", port: 0 });
    cleanups.push(() => served.close());
    const serverUrl = served.url;
    // A token for the commands printed at the end: role view is all they need. The previous run's is
    // revoked, so only the file written now works.
    for (const token of guard.accounts.tokens()) if (token.name === DEMO_TOKEN) guard.accounts.revokeToken(token.id);
    const { secret } = guard.accounts.createToken({ name: DEMO_TOKEN, role: "view", createdBy: "demo" });
    const tokenPath = join(workspace, "viewer.token");
    const headerPath = join(workspace, "viewer.header");
    writeOutput(tokenPath, new TextEncoder().encode(`${secret}\n`), { force: true, mode: 0o600 });
    writeOutput(headerPath, new TextEncoder().encode(`Authorization: Bearer ${secret}\n`), { force: true, mode: 0o600 });
    out(`[4/6] server     ${serverUrl}, database ${shown(dbPath)}, API token (role view) in ${shown(tokenPath)}`);

    // 5. The simulator.
    out(`[5/6] simulator  starting ${DEVICE_IDS.length} thermostats (device state in ${shown(stateDir)})`);
    const sim = await Simulator.start({
      brokerUrl,
      devices: DEVICE_IDS.length,
      example: "thermostat",
      identitiesDir,
      stateDir,
      log: (line) => note(`      ${line}`),
      onStateChange: (d, state) => {
        if (state === "online") out(`      ${green("online", process.stdout)}  ${d.id} (kid ${JSON.stringify(d.id)}, ${d.publicKey.alg})`);
      },
    });
    cleanups.push(() => sim.stop(true));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new GatehouseError("demo-timeout", `the devices did not all come online within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
    });
    try {
      await Promise.race([Promise.all([sim.waitOnline(DEVICE_IDS.length, START_TIMEOUT_MS), allAtServer]), timeout]);
    } finally {
      clearTimeout(timer);
    }
    out(`      the server sees all ${DEVICE_IDS.length} online (verified births)`);
    // Let the control loop take its first readings.
    await sleep(300);

    // 6. Commands.
    out("");
    out(`[6/6] commands   signed by the sender, verified by the device; results signed by the device, verified with its key`);
    const clients: Record<"admin" | "operator", Client> = {
      admin: await CommandClient.connect({ brokerUrl, key: operatorKeys.admin.key, clientId: `gatehouse-demo-admin-${process.pid}`, brokerCredentials: identityOf(DEMO_OPERATOR_IDENTITIES.admin) }),
      operator: await CommandClient.connect({ brokerUrl, key: operatorKeys.operator.key, clientId: `gatehouse-demo-operator-${process.pid}`, brokerCredentials: identityOf(DEMO_OPERATOR_IDENTITIES.operator) }),
    };
    cleanups.push(async () => {
      await clients.admin.close();
      await clients.operator.close();
    });
    const device = DEVICE_IDS[0];
    const step = async (who: "admin" | "operator", door: string, op: string, args?: unknown) => {
      const reply = await clients[who].send({ device, door, op, args: args as never, deviceKey: deviceKeys.get(device) });
      const what = `${who.padEnd(8)} ${`${door} ${op}${args === undefined ? "" : ` ${format(args)}`}`.padEnd(44)}`;
      const check = reply.verified ? "verified" : yellow("NOT verified", process.stdout);
      if (reply.ok) out(`  ${what} -> ${green("ok", process.stdout)}${reply.value === undefined ? "" : `: ${format(reply.value)}`}  (${check})`);
      else out(`  ${what} -> ${red("refused", process.stdout)} ${reply.code}: ${reply.message}  (${check})`);
      return reply;
    };
    // Events from earlier runs stay in the database: only the ones after this point are this run's.
    const eventsBefore = server.events({ device }).at(-1)?.id ?? 0;
    out(`  on ${device}:`);
    await step("operator", "temperature", "read.celsius");
    await step("operator", "setpoint", "write.target", 22.5);
    const refused = await step("operator", "setpoint", "write.limits", { min: 12, max: 28 });
    await step("admin", "setpoint", "write.limits", { min: 12, max: 28 });
    await step("operator", "setpoint", "read.limits");

    // The refusal as a security event: signed by the device, verified and stored by the server.
    out("");
    out("Security event for the refusal (signed by the device, stored by the fleet server):");
    const operatorKid = toHex(operatorKeys.operator.key.kid);
    let event;
    for (let waited = 0; waited < 5000 && !event; waited += 50) {
      event = server.events({ device, afterId: eventsBefore }).find((e) => e.code === refused.code && e.op === "write.limits" && e.source === "device");
      if (!event) await sleep(50);
    }
    if (event) {
      const who = event.principal === operatorKid ? `${event.principal} ("operator")` : event.principal;
      out(`  #${event.id} ${event.device}: ${red(event.code, process.stdout)}, allowed ${event.allowed}, principal ${who}, door ${event.door}, op ${event.op}`);
      out(`  ${dim(`device time ${event.deviceTime === null ? "unknown" : new Date(event.deviceTime).toISOString()}, uptime ${event.uptime === null ? "unknown" : Math.round(event.uptime)} ms, seq ${event.seq}`, process.stdout)}`);
    } else {
      out(`  ${yellow("(not received within 5 s)", process.stdout)}`);
    }

    await demoSecurityPatch(server, keysDir, DEVICE_IDS);

    // Try it yourself.
    const identities = shown(identitiesDir);
    out("");
    out(bold("Try it yourself:"));
    const login = (who: "admin" | "operator") => (embedded ? ` --broker-identity ${shown(join(identitiesDir, DEMO_OPERATOR_IDENTITIES[who]))}` : "");
    out(`  npx gatehouse send --broker ${brokerUrl} --key ${shown(operatorKeys.operator.path)} --identities ${identities} --device ${device} --door setpoint --op write.target --args 21${login("operator")}`);
    out(`  npx gatehouse send --broker ${brokerUrl} --key ${shown(operatorKeys.admin.path)} --identities ${identities} --device ${DEVICE_IDS[1]} --door relay --op read.on${login("admin")}`);
    out(`  npx gatehouse events --server ${serverUrl} --token-file ${shown(tokenPath)} --device ${device}`);
    out(`  curl -H @${shown(headerPath)} ${serverUrl}/api/devices/${device}`);
    await printDashboardLogin(guard.accounts, serverUrl, operatorKeys.operator.path);

    if (once) {
      out("");
      out("Stopping (--once).");
      await cleanup();
      return 0;
    }
    if (values.broker === undefined) out(dim("(The broker runs inside this process: the commands above work while the demo runs.)", process.stdout));
    out("");
    out("Running. Press Ctrl-C to stop.");
    await new Promise<void>((done) => {
      const stop = () => {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        process.once("SIGINT", () => process.exit(130));
        done();
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
    out("Stopping: devices publish their deaths, the server and the broker close.");
    await cleanup();
    out("Stopped.");
    return 0;
  } catch (e) {
    await cleanup();
    throw e;
  }
}

// ---- the signed security patch (issue 7) ----

/** Update keys: the devices need 2 of these 3 signatures on every update. */
const UPDATE_KEY_NAMES = ["update-1", "update-2", "update-3"] as const;
const UPDATE_THRESHOLD = 2;
const PATCH_TIMEOUT_MS = 60_000;

/**
 * Update keys in keysDir (kept between runs) and each device's update trust (update-trust.cbor beside its
 * key, as `gatehouse provision --update-key ... --update-threshold 2` writes it), before the devices start.
 */
async function provisionUpdateTrust(keysDir: string, identitiesDir: string, ids: readonly string[]): Promise<void> {
  const { utf8 } = await import("../../../sdk/cbor/encode");
  const { decodeKey, encodeKey, publicKey } = await import("../../../sdk/cose/key");
  const { nodeCrypto } = await import("../../../ports/node/crypto");
  const { encodeTrustDocument } = await import("../../../sdk/update/trust");
  const { UPDATE_TRUST_FILE } = await import("../../identity-files");
  const { readInput, writeOutput } = await import("../util");
  const keys = UPDATE_KEY_NAMES.map((name) => {
    const keyPath = join(keysDir, `${name}.key`);
    if (exists(keyPath)) return decodeKey(readInput(keyPath, "key-file"));
    const key = nodeCrypto.generateKey("ES256", utf8(name));
    writeOutput(keyPath, encodeKey(key, true), { force: true, mode: 0o600 });
    writeOutput(join(keysDir, `${name}.pub`), encodeKey(publicKey(key), false), { force: true, mode: 0o644 });
    return key;
  });
  const document = encodeTrustDocument({ seq: 0, threshold: UPDATE_THRESHOLD, keys: keys.map((k) => publicKey(k)), minEpoch: 0 });
  for (const id of ids) writeOutput(join(identitiesDir, id, UPDATE_TRUST_FILE), document, { force: true, mode: 0o644 });
  out(`      update trust: ${UPDATE_THRESHOLD} of ${UPDATE_KEY_NAMES.map((n) => shown(join(keysDir, `${n}.key`))).join(", ")} must sign every update`);
}

/**
 * Rolls a signed security patch out to the devices (a new build with a higher security epoch, signed by 2
 * of the 3 update keys), then a tampered copy (the image changed and the manifest's digest with it, the
 * signatures left as they were) that every device refuses; shows the fleet's new builds and the refusals
 * as the devices' signed security events.
 */
async function demoSecurityPatch(server: import("../../server/fleet-server").FleetServer, keysDir: string, ids: readonly string[]): Promise<void> {
  const { decodeKey } = await import("../../../sdk/cose/key");
  const { nodeCrypto } = await import("../../../ports/node/crypto");
  const { buildEnvelope } = await import("../../../sdk/suit/builder");
  const { decodeEnvelope } = await import("../../../sdk/suit/envelope");
  const { encode } = await import("../../../sdk/cbor/encode");
  const { classNameOf, DEFAULT_VENDOR_NAME, nameUuid } = await import("../../../sdk/update/ids");
  const { simBuild } = await import("../../sim/build");
  const { INTEGRATED_IMAGE, withIntegratedImage } = await import("../../server/update-package");
  const { readInput } = await import("../util");
  const { deviceLine, summaryLines } = await import("../rollout-view");
  const { rolloutSettled } = await import("../../server/http-rollouts-api");

  out("");
  out(bold("Security patch: a signed update rolled out to the fleet, then a tampered copy"));
  const signers = UPDATE_KEY_NAMES.slice(0, UPDATE_THRESHOLD).map((name) => decodeKey(readInput(join(keysDir, `${name}.key`), "key-file")));
  // A UTC time as the sequence number: newer than whatever an earlier run installed.
  const seq = Math.floor(Date.now() / 1000);
  const epoch = 1;
  const payload = new Uint8Array(64 * 1024).map((_, i) => (i * 7 + seq) & 0xff);
  const image = simBuild(`thermostat-sim 0.1.1 (security patch ${seq})`, payload);
  const envelope = buildEnvelope(
    nodeCrypto,
    {
      sequenceNumber: seq,
      vendorId: nameUuid(nodeCrypto, DEFAULT_VENDOR_NAME),
      classId: nameUuid(nodeCrypto, classNameOf("thermostat")),
      imageDigest: nodeCrypto.sha256(image),
      imageSize: image.length,
      securityEpoch: epoch,
      uri: INTEGRATED_IMAGE,
    },
    signers,
  );
  const eventsBefore = server.events({}).at(-1)?.id ?? 0;

  const rollOut = async (file: Uint8Array, what: string) => {
    const created = await server.createRollout({ file, devices: [...ids], maxFailures: ids.length });
    out(`  ${what}: rollout ${created.id} to ${ids.join(", ")}`);
    const deadline = Date.now() + PATCH_TIMEOUT_MS;
    let rollout = created;
    while (!rolloutSettled(rollout)) {
      if (Date.now() > deadline) throw new GatehouseError("demo-timeout", `rollout ${created.id} did not end within ${PATCH_TIMEOUT_MS / 1000} s`);
      await sleep(200);
      rollout = server.rollout(created.id)!;
    }
    const width = Math.max(...ids.map((id) => id.length));
    for (const d of rollout.devices) out(`    ${deviceLine(d, width)}`);
    for (const line of summaryLines(rollout).slice(1)) out(`  ${line}`);
    return rollout;
  };

  await rollOut(withIntegratedImage(envelope, image), `signed patch (manifest ${seq}, security epoch ${epoch}, ${image.length} bytes, 2 of 3 update keys)`);
  out("  the fleet now runs (verified births):");
  for (const id of ids) {
    const row = server.devices().find((d) => d.id === id);
    const installed = server.updateState(id)?.installed;
    out(`    ${id}  ${row?.firmware ?? "?"}  manifest ${installed?.seq ?? "?"}  security epoch ${installed?.epoch ?? "?"}`);
  }

  // The attacker's copy: a changed image, the manifest's image digest changed to match it, and the
  // manifest digest in the authentication wrapper too (so the file looks consistent to anyone who does
  // not check signatures, the fleet server included). The signatures cover that digest: every device
  // refuses the copy before it fetches a byte.
  const evil = image.slice();
  evil.set(new TextEncoder().encode("backdoor"), evil.length - 8);
  const original = decodeEnvelope(nodeCrypto, envelope);
  const manifest = replaceBytes(original.manifest, nodeCrypto.sha256(image), nodeCrypto.sha256(evil));
  const tampered = replaceBytes(replaceBytes(envelope, original.manifest, manifest), original.manifestDigest.bytes, nodeCrypto.sha256(encode(manifest)));
  out("");
  await rollOut(withIntegratedImage(tampered, evil), "tampered patch (image and manifest digest changed, signatures kept)");
  out("  the devices' refusals as security events (signed by each device, stored by the server):");
  let events: import("../../server/store").EventRow[] = [];
  for (let waited = 0; waited < 5000 && events.length < ids.length; waited += 100) {
    events = server.events({ afterId: eventsBefore }).filter((e) => e.source === "device" && ids.includes(e.device));
    if (events.length < ids.length) await sleep(100);
  }
  for (const e of events) out(`    #${e.id} ${e.device}: ${red(e.code, process.stdout)}, allowed ${e.allowed}${e.door ? `, door ${e.door}` : ""}${e.op ? `, op ${e.op}` : ""}`);
  if (events.length === 0) out(`    ${yellow("(none received within 5 s)", process.stdout)}`);
}

/** `bytes` with the one occurrence of `from` replaced by `to` (of the same length). */
function replaceBytes(bytes: Uint8Array, from: Uint8Array, to: Uint8Array): Uint8Array {
  const at = Buffer.from(bytes).indexOf(Buffer.from(from));
  if (at < 0 || Buffer.from(bytes).indexOf(Buffer.from(from), at + 1) >= 0) throw new GatehouseError("internal", "the digest is not in the envelope exactly once");
  const out = bytes.slice();
  out.set(to, at);
  return out;
}

/** The person the demo's dashboard login is for. */
export const DEMO_ADMIN = "demo-admin";

/**
 * Prints the dashboard's address and a login for it: the user demo-admin (role administer) gets a new
 * random password (Accounts.issueLogin), shown here once and stored only as its hash; the previous run's
 * password and sessions end.
 */
async function printDashboardLogin(accounts: import("../../server/index").Accounts, serverUrl: string, keyPath: string): Promise<void> {
  const password = await accounts.issueLogin(DEMO_ADMIN, "administer");
  out("");
  out(bold("Dashboard:"));
  out(`  ${serverUrl}/`);
  out(`  log in as ${DEMO_ADMIN} with password ${password}  ${dim("(this run's only; shown once)", process.stdout)}`);
  out(`  ${dim(`to sign commands there, load ${shown(keyPath)} on a device's page`, process.stdout)}`);
}
