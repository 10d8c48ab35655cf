// Patch cases: signed JavaScript patches of door logic (sdk/patch), written once and run wherever a
// confined Compartment exists: on Node with ses after lockdown() (test/patch.test.ts) and inside XS 17
// on Moddable's lin (test/device/patch.test.ts). Not in all.ts: the plain Node run has no lockdown, and
// XS 13 in xsnap gives a Compartment whose function constructors reach the host (test/xs/patch.test.ts
// shows the port refusing it). Device-safe: no Node built-ins, no ava.

import { Device } from "../../sdk/device";
import { utf8 } from "../../sdk/cbor/encode";
import type { CborValue } from "../../sdk/cbor/types";
import { publicKey, type CoseKey } from "../../sdk/cose/key";
import { signCommand } from "../../sdk/command/sender";
import { defineDoor, t } from "../../sdk/index";
import { TrustList } from "../../sdk/trust";
import { buildEnvelope } from "../../sdk/suit/builder";
import type { UpdateTrust } from "../../sdk/suit/trust";
import type { StoragePort } from "../../sdk/ports/storage";
import type { TransportHandlers, TransportPort } from "../../sdk/ports/transport";
import { openPublication } from "../../sdk/session/publications";
import type { CompartmentHandle, CompartmentPort } from "../../sdk/patch/compartment";
import { isPatchManifest, MAX_PATCH_FAILURES, PATCH_COMPONENT } from "../../sdk/patch/format";
import { verifyEnvelope } from "../../sdk/suit/envelope";
import { parseManifest } from "../../sdk/suit/manifest";
import { Patches } from "../../sdk/patch/patches";
import type { ConformanceCase, ConformanceEnv } from "./case";
import { check, checkEqual, checkRefused } from "./check";
import { CLASS_ID, ED_KEYS, OTHER_ID, VENDOR_ID, trustOf } from "./suit-support";
import { FakeClock } from "./doors.cases";

// Update keys sign patches; operators sign commands: different keys, as on a real device.
const UPDATE_KEY = ED_KEYS[0];
const STRANGER_KEY = ED_KEYS[1];
const OPERATOR = ED_KEYS[2];
const VIEWER = ED_KEYS[3];
const DEVICE_KEY = ED_KEYS[4];
const DEVICE_ID = "patch-1";

const thermostat = defineDoor({
  name: "thermostat",
  properties: { target: { type: t.int({ min: 5, max: 30 }), read: "view", write: "operate" } },
  actions: {
    probe: { role: "view", input: t.none(), output: t.string({ maxLength: 512 }) },
    reset: { role: "administer", input: t.none(), output: t.none() },
  },
});

/** Storage in memory: a restart is a new Device over the same one. */
export class MapStorage implements StoragePort {
  readonly values = new Map<string, Uint8Array>();
  read(key: string): Uint8Array | undefined {
    return this.values.get(key);
  }
  write(key: string, value: Uint8Array): void {
    this.values.set(key, value.slice());
  }
  remove(key: string): void {
    this.values.delete(key);
  }
}

/** A transport the case plays the broker for: it keeps what the device publishes. */
class CaptureTransport implements TransportPort {
  handlers?: TransportHandlers;
  readonly sent: { topic: string; payload: Uint8Array }[] = [];
  open(_options: unknown, handlers: TransportHandlers): void {
    this.handlers = handlers;
  }
  publish(topic: string, payload: Uint8Array): void {
    this.sent.push({ topic, payload });
  }
  subscribe(): void {}
  close(): void {}
}

/** Counts the compartments a port makes: a refused patch must not get one. */
class CountingPort implements CompartmentPort {
  created = 0;
  constructor(private readonly inner: CompartmentPort) {}
  create(endowments: Readonly<Record<string, unknown>>): CompartmentHandle {
    this.created++;
    return this.inner.create(endowments);
  }
}

interface Bench {
  device: Device;
  storage: MapStorage;
  transport: CaptureTransport;
  port: CountingPort;
  target: { value: number };
  /** A command signed by the operator (role operate) or the viewer (role view), run through the receiver. */
  command(op: string, args?: CborValue, who?: CoseKey): { ok: boolean; code?: string; value?: unknown };
  patch(seq: number, source: string, options?: { keys?: CoseKey[]; classId?: Uint8Array; epoch?: number }): { envelope: Uint8Array; source: Uint8Array };
}

function bench(env: ConformanceEnv, compartments: CompartmentPort, options: { storage?: MapStorage; trust?: UpdateTrust; minimumEpoch?: number; commandSeq?: number } = {}): Bench {
  const storage = options.storage ?? new MapStorage();
  const transport = new CaptureTransport();
  const port = new CountingPort(compartments);
  const clock = new FakeClock();
  const device = new Device({
    id: DEVICE_ID,
    key: DEVICE_KEY,
    trust: new TrustList([
      { key: publicKey(OPERATOR), role: "operate" },
      { key: publicKey(VIEWER), role: "view" },
    ]),
    ports: { crypto: env.crypto, clock, timers: { set: () => 0, clear: () => undefined }, storage, transport },
    firmware: { version: "patch-bench 1" },
    events: { recordAllowed: false },
    patches: (link) =>
      new Patches({ compartment: port, trust: options.trust ?? trustOf([UPDATE_KEY], 1), vendorId: VENDOR_ID, classId: CLASS_ID, minimumSecurityEpoch: () => options.minimumEpoch ?? 0 }, link),
  });
  const target = { value: 20 };
  device.register(thermostat, {
    read: { target: () => target.value },
    write: { target: (v) => void (target.value = v) },
    invoke: { probe: () => "original", reset: () => void (target.value = 20) },
  });
  // A restarted device keeps its replay window: a bench over its storage goes on from `commandSeq`.
  let seq = options.commandSeq ?? 0;
  return {
    device,
    storage,
    transport,
    port,
    target,
    command(op, args, who = OPERATOR) {
      const now = Math.floor((clock.wallTime() as number) / 1000);
      const message = signCommand(env.crypto, who, { device: DEVICE_ID, door: "thermostat", op, args, seq: ++seq, issuedAt: now, expiresAt: now + 60 });
      const { outcome } = device.handleCommand("thermostat", message);
      return outcome.ok ? { ok: true, value: outcome.value } : { ok: false, code: outcome.code };
    },
    patch(sequenceNumber, text, o = {}) {
      const source = utf8(text);
      const envelope = buildEnvelope(
        env.crypto,
        { sequenceNumber, vendorId: VENDOR_ID, classId: o.classId ?? CLASS_ID, imageDigest: env.crypto.sha256(source), imageSize: source.length, securityEpoch: o.epoch, componentId: PATCH_COMPONENT },
        o.keys ?? [UPDATE_KEY],
      );
      return { envelope, source };
    },
  };
}

/** The birth the device publishes on connect, opened with its key. */
function birthPatch(env: ConformanceEnv, b: Bench): number {
  b.device.start();
  b.transport.handlers?.onConnected(false);
  const births = b.transport.sent.filter((s) => s.topic.endsWith("/birth"));
  check(births.length > 0, "the device published no birth");
  const birth = openPublication(env.crypto, births[births.length - 1].payload, publicKey(DEVICE_KEY), "birth", DEVICE_ID);
  b.device.stop(false);
  return birth.patch;
}

const CLAMP = `export default {
  thermostat: {
    // A security fix: never above 25, whatever the operator asks; the original logic does the rest.
    write: { target(value, ctx) { return ctx.original(value > 25 ? 25 : value); } },
  },
};`;

/** What a patch can see of its world, as one line of text. */
const PROBE = `export default {
  thermostat: { invoke: { probe() {
    const kinds = ["process", "require", "trace", "print", "Native", "native", "global", "Compartment", "harden", "lockdown", "setTimeout", "fetch", "console", "ModuleSource"]
      .map((name) => name + "=" + typeof globalThis[name]);
    const tries = (f) => { try { f(); return "open"; } catch (e) { return "closed"; } };
    kinds.push("Date.now=" + tries(() => Date.now()));
    kinds.push("Math.random=" + tries(() => Math.random()));
    kinds.push("ctor=" + tries(() => (function () {}).constructor("return 1")));
    kinds.push("Function=" + typeof Function + ",eval=" + typeof eval);
    kinds.push("doorsFrozen=" + Object.isFrozen(doors) + "/" + Object.isFrozen(doors.read));
    kinds.push("setDoors=" + tries(() => { doors.read = null; }));
    kinds.push("arrayProto=" + tries(() => { Array.prototype.map = null; }));
    kinds.push("objectProto=" + tries(() => { Object.prototype.polluted = 1; }));
    return kinds.join(",");
  } } },
};`;

const EXPECTED_PROBE = [
  "process=undefined", "require=undefined", "trace=undefined", "print=undefined", "Native=undefined", "native=undefined", "global=undefined",
  "Compartment=undefined", "harden=undefined", "lockdown=undefined", "setTimeout=undefined", "fetch=undefined", "console=undefined", "ModuleSource=undefined",
  "Date.now=closed", "Math.random=closed", "ctor=closed", "Function=undefined", "eval=undefined", "doorsFrozen=true/true", "setDoors=closed", "arrayProto=closed", "objectProto=closed",
].join(",");

export function patchCases(compartments: CompartmentPort): ConformanceCase[] {
  return [
    {
      name: "patch: a signed patch replaces a door's logic, the command runs it, and the birth names it",
      run(env) {
        const b = bench(env, compartments);
        checkEqual(b.command("write.target", 28).ok, true, "before: the write");
        checkEqual(b.target.value, 28, "before: the original logic takes 28");
        const { envelope, source } = b.patch(3, CLAMP);
        const info = b.device.patches!.apply(envelope, source);
        checkEqual(info.sequenceNumber, 3, "the active patch's sequence number");
        checkEqual(info.operations.join(), "thermostat:write.target", "the operations it replaces");
        checkEqual(b.command("write.target", 28).ok, true, "after: the write");
        checkEqual(b.target.value, 25, "after: the patch clamped 28 to 25 through the original logic");
        checkEqual(b.command("write.target", 22).ok, true, "after: a write below the clamp");
        checkEqual(b.target.value, 22, "after: 22 passes");
        checkEqual(birthPatch(env, b), 3, "the birth's patch");
      },
    },
    {
      name: "patch: reaches no host global, no clock, no randomness, and cannot change the door API or the intrinsics",
      run(env) {
        const b = bench(env, compartments);
        const { envelope, source } = b.patch(1, PROBE);
        b.device.patches!.apply(envelope, source);
        const result = b.command("invoke.probe");
        checkEqual(result.ok, true, "the probe ran");
        checkEqual(result.value, EXPECTED_PROBE, "what the patch sees");
        check(!("polluted" in {}), "Object.prototype is unchanged");
      },
    },
    {
      name: "patch: the door's schema and role checks still apply, and the patch calls doors as its own principal",
      run(env) {
        const b = bench(env, compartments);
        const counted = `export default (() => {
          let calls = 0;
          return { thermostat: {
            write: { target(value, ctx) { calls += 1; return ctx.original(value); } },
            invoke: { probe() { return "calls " + calls; } },
          } };
        })();`;
        const p = b.patch(1, counted);
        b.device.patches!.apply(p.envelope, p.source);
        checkEqual(b.command("write.target", 99).code, "invalid-args", "a value outside the schema");
        checkEqual(b.command("write.target", 10, VIEWER).code, "not-allowed", "a viewer's write");
        checkEqual(b.command("invoke.probe").value, "calls 0", "the patch never ran for those");
        // The patch's own door calls: operate may write, may not reset (administer), and the original
        // logic gets its input checked too.
        const escalate = `export default { thermostat: {
          invoke: { probe() { doors.invoke("thermostat", "reset"); return "reset"; } },
          write: { target(value, ctx) { return ctx.original(value * 10); } },
        } };`;
        const q = b.patch(2, escalate);
        b.device.patches!.apply(q.envelope, q.source);
        const before = b.device.securityEvents.delivered;
        checkEqual(b.command("invoke.probe").code, "patch-failed", "a patch calling an administer action");
        check(b.device.securityEvents.delivered > before, "the refusals are security events");
        checkEqual(b.command("write.target", 20).code, "patch-failed", "the original logic refuses 200 through the schema");
        checkEqual(b.target.value, 20, "nothing was written");
      },
    },
    {
      name: "patch: a patch that throws, returns a wrong shape or calls doors without end fails with patch-failed, and can be removed",
      run(env) {
        const b = bench(env, compartments);
        const bad = `export default { thermostat: {
          read: { target() { return "hot"; } },
          write: { target() { throw new Error("boom"); } },
          invoke: { probe() { return doors.invoke("thermostat", "probe"); } },
        } };`;
        const p = b.patch(1, bad);
        b.device.patches!.apply(p.envelope, p.source);
        const before = b.device.securityEvents.delivered;
        checkEqual(b.command("read.target").code, "patch-failed", "a string where an int belongs");
        checkEqual(b.command("write.target", 10).code, "patch-failed", "a throw");
        checkEqual(b.command("invoke.probe").code, "patch-failed", "a patch calling itself, deeper and deeper");
        check(b.device.securityEvents.delivered - before >= 3, "a security event for each");
        b.device.patches!.remove();
        checkEqual(b.device.patches!.active, undefined, "no active patch");
        checkEqual(b.command("read.target").value, 20, "the original logic is back");
        checkEqual(b.command("invoke.probe").value, "original", "the original probe");
      },
    },
    {
      name: "patch: a tampered, unsigned-by-trust, older, wrong-class, wrong-epoch or image manifest is refused before any evaluation",
      run(env) {
        const b = bench(env, compartments, { minimumEpoch: 2 });
        const good = b.patch(5, CLAMP, { epoch: 2 });
        const tampered = good.envelope.slice();
        tampered[tampered.length - 3] ^= 1;
        checkRefused(() => b.device.patches!.apply(tampered, good.source), "suit-manifest-digest-mismatch", "one changed byte of the manifest");
        checkRefused(() => b.device.patches!.apply(b.patch(5, CLAMP, { keys: [STRANGER_KEY], epoch: 2 }).envelope, good.source), "suit-threshold-not-met", "signed by a key the device does not trust");
        checkRefused(() => b.device.patches!.apply(good.envelope, utf8(CLAMP.replace("> 25 ? 25", "> 29 ? 29"))), "suit-image-digest-mismatch", "another source of the signed size");
        checkRefused(() => b.device.patches!.apply(good.envelope, utf8(PROBE)), "suit-image-too-long", "a longer source than the signed size");
        checkRefused(() => b.device.patches!.apply(b.patch(5, CLAMP, { classId: OTHER_ID, epoch: 2 }).envelope, good.source), "suit-class-mismatch", "another class of device");
        checkRefused(() => b.device.patches!.apply(b.patch(5, CLAMP, { epoch: 1 }).envelope, good.source), "suit-below-epoch", "below the security epoch");
        const image = buildEnvelope(env.crypto, { sequenceNumber: 9, vendorId: VENDOR_ID, classId: CLASS_ID, imageDigest: env.crypto.sha256(good.source), imageSize: good.source.length }, [UPDATE_KEY]);
        checkRefused(() => b.device.patches!.apply(image, good.source), "suit-unknown-component", "an image manifest");
        const trust = trustOf([UPDATE_KEY], 1);
        checkEqual(isPatchManifest(parseManifest(env.crypto, verifyEnvelope(env.crypto, good.envelope, trust))), true, "the agent tells a patch");
        checkEqual(isPatchManifest(parseManifest(env.crypto, verifyEnvelope(env.crypto, image, trust))), false, "from an image");
        checkEqual(b.port.created, 0, "no compartment was made for any of them");
        b.device.patches!.apply(good.envelope, good.source);
        checkEqual(b.port.created, 1, "the good patch was evaluated");
        checkRefused(() => b.device.patches!.apply(good.envelope, good.source), "suit-rollback", "the same patch again");
        checkRefused(() => b.device.patches!.apply(b.patch(4, CLAMP, { epoch: 2 }).envelope, good.source), "suit-rollback", "an older patch");
        checkEqual(b.port.created, 1, "still one compartment");
        checkEqual(b.device.patches!.active?.sequenceNumber, 5, "the good patch stays active");
      },
    },
    {
      name: "patch: source that loops, imports, has the wrong form or names what the device lacks is refused",
      run(env) {
        const b = bench(env, compartments);
        let seq = 1;
        const refuse = (text: string, code: string, what: string) => {
          const p = b.patch(seq++, text);
          checkRefused(() => b.device.patches!.apply(p.envelope, p.source), code, what);
        };
        refuse(`export default { thermostat: { invoke: { probe() { while (true) {} } } } };`, "patch-source-invalid", "a while loop");
        refuse(`export default { thermostat: { invoke: { probe() { for (;;) {} } } } };`, "patch-source-invalid", "a for loop");
        refuse(`export default { thermostat: { invoke: { async probe() { return ""; } } } };`, "patch-source-invalid", "an async function");
        refuse(`import x from "y"; export default {};`, "patch-source-invalid", "an import");
        refuse(`export default { thermostat: { invoke: { *probe() { return ""; } } } };`, "patch-source-invalid", "a generator method");
        refuse(`export default { thermostat: { invoke: { probe() { return Object.getPrototypeOf(function* () {}).constructor("return 1")(); } } } };`, "patch-source-invalid", "a generator function");
        refuse(`module.exports = {};`, "patch-source-invalid", "not a module with export default");
        refuse(`export default { thermostat: { invoke: { probe: 1 } } };`, "patch-shape-invalid", "a number where a function belongs");
        refuse(`export default { boiler: { invoke: { probe() { return ""; } } } };`, "patch-shape-invalid", "a door the device lacks");
        refuse(`export default { thermostat: { erase: { all() {} } } };`, "patch-shape-invalid", "a verb that is not one");
        refuse(`export default { thermostat: { invoke: { probe() { return ""; } } }, x: doors.read("thermostat", "target") };`, "patch-source-invalid", "a door call while evaluating");
        refuse(`export default { thermostat: { get invoke() { return {}; } } };`, "patch-shape-invalid", "an accessor");
        refuse(`export default { thermostat: ( };`, "patch-source-invalid", "a syntax error");
        checkEqual(b.device.patches!.active, undefined, "nothing became active");
        const built = b.patch(seq++, `export default { thermostat: { invoke: { probe() { return String(Function("whi" + "le (true) {}")()); } } } };`);
        b.device.patches!.apply(built.envelope, built.source);
        checkEqual(b.command("invoke.probe").code, "patch-failed", "a loop built from strings finds no evaluator");
      },
    },
    {
      name: "patch: the crash-loop limit: failures in a row, across a restart, revoke the patch (patch-revoked, stored); a success resets the count",
      run(env) {
        const first = bench(env, compartments);
        const p = first.patch(1, `export default { thermostat: { write: { target(value) { throw new Error("broken, given " + value); } } } };`);
        first.device.patches!.apply(p.envelope, p.source);
        for (let i = 1; i < MAX_PATCH_FAILURES; i++) checkEqual(first.command("write.target", 10).code, "patch-failed", `failure ${i}`);
        // A restart: the count is stored with the patch.
        const second = bench(env, compartments, { storage: first.storage, commandSeq: 100 });
        second.device.start();
        second.transport.handlers?.onConnected(false);
        checkEqual(second.device.patches!.active?.sequenceNumber, 1, "still active after the restart");
        checkEqual(second.command("write.target", 10).code, "patch-failed", `failure ${MAX_PATCH_FAILURES}`);
        checkEqual(second.device.patches!.active, undefined, "revoked");
        const codes = second.transport.sent
          .filter((s) => s.topic.endsWith("/events"))
          .map((s) => openPublication(env.crypto, s.payload, publicKey(DEVICE_KEY), "event", DEVICE_ID).code);
        // The revocation happens inside the call; the runtime reports the refused call when it returns.
        checkEqual(codes.join(), "patch-revoked,patch-failed", "the revocation's event and the failure's");
        checkEqual(second.command("write.target", 10).ok, true, "the original logic takes the write");
        checkEqual(second.target.value, 10, "and stores it");
        second.device.stop(false);
        const third = bench(env, compartments, { storage: first.storage, commandSeq: 200 });
        checkEqual(birthPatch(env, third), 0, "after another restart: no patch");
        checkEqual(third.command("write.target", 29).ok, true, "the write");
        checkEqual(third.target.value, 29, "the original logic");
        checkRefused(() => third.device.patches!.apply(p.envelope, p.source), "suit-rollback", "the revoked patch again");
        // Failures with successes between them never trip it.
        const picky = third.patch(2, `export default { thermostat: { write: { target(value, ctx) { if (value > 25) throw new Error("too hot"); return ctx.original(value); } } } };`);
        third.device.patches!.apply(picky.envelope, picky.source);
        for (let round = 0; round < 3; round++) {
          for (let i = 1; i < MAX_PATCH_FAILURES; i++) checkEqual(third.command("write.target", 28).code, "patch-failed", `round ${round}, failure ${i}`);
          checkEqual(third.command("write.target", 15).ok, true, `round ${round}, a success`);
        }
        checkEqual(third.device.patches!.active?.sequenceNumber, 2, "never revoked");
      },
    },
    {
      name: "patch: the active patch and its sequence survive a restart; a removal too; an empty patch removes it remotely",
      run(env) {
        const first = bench(env, compartments);
        const p = first.patch(7, CLAMP);
        first.device.patches!.apply(p.envelope, p.source);
        const second = bench(env, compartments, { storage: first.storage });
        checkEqual(birthPatch(env, second), 7, "the birth after a restart");
        checkEqual(second.command("write.target", 29).ok, true, "the write");
        checkEqual(second.target.value, 25, "the restored patch clamps");
        second.device.patches!.remove();
        const third = bench(env, compartments, { storage: first.storage });
        checkEqual(birthPatch(env, third), 0, "removed before the restart: no patch");
        checkRefused(() => third.device.patches!.apply(p.envelope, p.source), "suit-rollback", "the removed patch again");
        const q = third.patch(8, CLAMP);
        third.device.patches!.apply(q.envelope, q.source);
        const empty = third.patch(9, "export default {};");
        third.device.patches!.apply(empty.envelope, empty.source);
        checkEqual(third.device.patches!.active, undefined, "an empty patch leaves no patch active");
        checkEqual(third.device.patches!.sequenceNumber, 9, "its sequence number is kept");
        // Under a rotated update trust the stored patch's signer no longer counts: it does not come back.
        const fourth = bench(env, compartments, { storage: first.storage });
        const r = fourth.patch(10, CLAMP);
        fourth.device.patches!.apply(r.envelope, r.source);
        const rotated = bench(env, compartments, { storage: first.storage, trust: trustOf([STRANGER_KEY], 1) });
        checkEqual(birthPatch(env, rotated), 0, "a patch whose signer left the trust is not restored");
      },
    },
  ];
}

