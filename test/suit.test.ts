// SUIT on Node: the fixtures against their sources, the asynchronous interpreter driver (a host that
// answers with promises, as the OTA transfer will), and a bounded fuzz run over envelopes and over signed
// manifests. The conformance cases (test/conformance/suit.cases.ts) cover the rest, on Node and in XS.
import test from "ava";
import { createHash, createPrivateKey, createPublicKey } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { nodeCrypto } from "../ports/node/crypto";
import { GatehouseError, errorCode, isGatehouseError } from "../sdk/errors";
import { bytesEqual, toHex } from "../sdk/bytes";
import { decode } from "../sdk/cbor/decode";
import { encode } from "../sdk/cbor/encode";
import type { CborMap, CborTag } from "../sdk/cbor/types";
import { buildEnvelope, signManifest } from "../sdk/suit/builder";
import { verifyEnvelope } from "../sdk/suit/envelope";
import { parseManifest } from "../sdk/suit/manifest";
import { processManifest, processManifestSync } from "../sdk/suit/processor";
import { summarizeManifest } from "../sdk/suit/inspect";
import type { SuitFetchRequest, SuitHost, SuitInvokeRequest, SuitMeasureRequest } from "../sdk/suit/host";
import { ImageReceiver } from "../sdk/suit/receiver";
import { CLASS_ID, ED_KEYS, MemoryHost, SUIT_EXAMPLE_KEY, VENDOR_ID, envelopeHex, trustOf, vectorEnvelope } from "./conformance/suit-support";
import fixtures from "./fixtures/suit/envelopes.json";
import { Prng } from "./fuzz/prng";
import { mutate } from "./fuzz/mutator";

const here = dirname(fileURLToPath(import.meta.url));
const fixtureDir = resolve(here, "fixtures", "suit");
const [ED1] = ED_KEYS;

test("fixtures: envelopes.json holds exactly the hex files beside it", (t) => {
  const files = readdirSync(fixtureDir)
    .filter((f) => f.endsWith(".hex"))
    .concat(readdirSync(join(fixtureDir, "variants")).map((f) => `variants/${f}`));
  t.deepEqual(Object.keys(envelopeHex).sort(), files.sort());
  for (const file of files) t.is(envelopeHex[file], readFileSync(join(fixtureDir, file), "utf8"), file);
});

test("fixtures: the key in envelopes.json is the published PEM key pair of keys.txt", (t) => {
  const text = readFileSync(join(fixtureDir, "keys.txt"), "utf8");
  const privatePem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(text)![0];
  const publicPem = /-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/.exec(text)![0];
  const priv = createPrivateKey(privatePem).export({ format: "jwk" });
  const pub = createPublicKey(publicPem).export({ format: "jwk" });
  const hex = (b64: string | undefined): string => Buffer.from(b64!, "base64url").toString("hex");
  t.is(hex(priv.d), fixtures.key.d);
  t.is(hex(pub.x), fixtures.key.x);
  t.is(hex(pub.y), fixtures.key.y);
  t.is(hex(priv.x), fixtures.key.x);
});

/** A host that answers every operation with a promise, a tick later, and streams a fetch piece by piece. */
class AsyncHost implements SuitHost {
  readonly inner: MemoryHost;
  constructor(inner: MemoryHost) {
    this.inner = inner;
  }
  get installedSequenceNumber(): number {
    return this.inner.installedSequenceNumber;
  }
  get minimumSecurityEpoch(): number {
    return this.inner.minimumSecurityEpoch;
  }
  hasComponent = (id: Parameters<SuitHost["hasComponent"]>[0]): boolean => this.inner.hasComponent(id);
  matchesVendorId: SuitHost["matchesVendorId"] = (c, id) => this.inner.matchesVendorId(c, id);
  matchesClassId: SuitHost["matchesClassId"] = (c, id) => this.inner.matchesClassId(c, id);
  matchesDeviceId: SuitHost["matchesDeviceId"] = (c, id) => this.inner.matchesDeviceId(c, id);
  componentSlot: SuitHost["componentSlot"] = () => this.inner.componentSlot();
  async fetch(request: SuitFetchRequest): Promise<void> {
    const payload = this.inner.payloads.get(request.uri ?? "")!;
    const hash = createHash("sha256");
    const receiver = new ImageReceiver(request, this.inner.capacity, { update: (d) => void hash.update(d), digest: () => new Uint8Array(hash.digest()) });
    for (let at = 0; at < payload.length; at += 700) {
      await tick();
      receiver.accept(payload.subarray(at, at + 700));
    }
    receiver.finish();
    this.inner.images.set(request.component.index, payload);
    this.inner.log.push(`fetch ${request.component.index}`);
  }
  copy(): Promise<void> {
    return Promise.reject(new GatehouseError("test-no-copy", "no copy here"));
  }
  async measure(request: SuitMeasureRequest) {
    await tick();
    return this.inner.measure(request);
  }
  async invoke(request: SuitInvokeRequest): Promise<void> {
    await tick();
    this.inner.invoke(request);
  }
}

function tick(): Promise<void> {
  return new Promise((done) => setImmediate(done));
}

function image(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 7 + 3) & 0xff);
}

test("processManifest awaits a host that answers with promises: streamed install, validate, invoke", async (t) => {
  const payload = image(5000);
  const envelope = buildEnvelope(nodeCrypto, { sequenceNumber: 3, vendorId: VENDOR_ID, classId: CLASS_ID, imageDigest: nodeCrypto.sha256(payload), imageSize: payload.length, securityEpoch: 1 }, [ED1]);
  const manifest = parseManifest(nodeCrypto, verifyEnvelope(nodeCrypto, envelope, trustOf([ED1], 1)));
  const inner = new MemoryHost(nodeCrypto);
  inner.payloads.set("", payload);
  const host = new AsyncHost(inner);
  const update = await processManifest(manifest, host, "update");
  t.deepEqual(update.sequences, ["shared", "install", "validate"]);
  t.true(bytesEqual(inner.images.get(0)!, payload));
  const boot = await processManifest(manifest, host, "invoke");
  t.deepEqual(boot.sequences, ["shared", "validate", "invoke"]);
  t.deepEqual(inner.log, ["fetch 0", "measure 0", "measure 0", "measure 0", "invoke 0"]);
  // The synchronous driver refuses the same host instead of treating a promise as an answer.
  const error = t.throws(() => processManifestSync(manifest, new AsyncHost(inner), "invoke"));
  t.is(errorCode(error), "suit-host-async");
});

test("processManifest: a rejected host operation stops the procedure with its code and the sequence", async (t) => {
  const payload = image(3000);
  const spec = { sequenceNumber: 3, vendorId: VENDOR_ID, classId: CLASS_ID, imageDigest: nodeCrypto.sha256(payload), imageSize: payload.length };
  const manifest = parseManifest(nodeCrypto, verifyEnvelope(nodeCrypto, buildEnvelope(nodeCrypto, spec, [ED1]), trustOf([ED1], 1)));
  const inner = new MemoryHost(nodeCrypto);
  inner.payloads.set("", image(3001)); // one byte too many: the receiver refuses it mid-stream
  const error = await t.throwsAsync(processManifest(manifest, new AsyncHost(inner), "update"));
  t.is(errorCode(error), "suit-image-too-long");
  t.regex(error!.message, /^suit-install: /);
  t.is(((error as GatehouseError).detail as { sequence: string }).sequence, "install");
  t.is(inner.images.size, 0, "nothing stored");
});

/** The outcome of verify + parse + dry run + a real run: "ok" or the refusal's code; throws on an untyped error. */
function outcome(bytes: Uint8Array, trust = trustOf([SUIT_EXAMPLE_KEY, ED1], 1)): string {
  try {
    const manifest = parseManifest(nodeCrypto, verifyEnvelope(nodeCrypto, bytes, trust));
    summarizeManifest(manifest);
    const host = new MemoryHost(nodeCrypto);
    host.slot = 0;
    for (const procedure of ["update", "invoke"] as const) {
      try {
        processManifestSync(manifest, host, procedure);
      } catch (e) {
        if (!isGatehouseError(e) || errorCode(e) === "internal") throw e;
      }
    }
    return "ok";
  } catch (e) {
    if (!isGatehouseError(e) || errorCode(e) === "internal") throw new Error(`untyped refusal: ${(e as Error).stack}`);
    return errorCode(e);
  }
}

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) >>> 0 : 0x5017;

test("fuzz: mutated envelopes end in a typed refusal, and none is accepted with a changed manifest", (t) => {
  const rng = new Prng(SEED);
  const seeds = Object.keys(envelopeHex).filter((f) => !f.includes("without-cose")).map(vectorEnvelope);
  const manifests = seeds.map((s) => toHex((decode(s) as CborTag & { value: CborMap }).value.get(3) as Uint8Array));
  const codes = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const input = mutate(rng, rng.pick(seeds), seeds);
    const code = outcome(input);
    codes.set(code, (codes.get(code) ?? 0) + 1);
    if (code === "ok") {
      // Only a mutation that left the signed manifest as it was may pass (e.g. one that changed nothing).
      const manifest = (decode(input) as CborTag & { value: CborMap }).value.get(3) as Uint8Array;
      t.true(manifests.includes(toHex(manifest)), `accepted a changed manifest: ${toHex(input)}`);
    }
  }
  t.log(`seed ${SEED}: ${[...codes].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(", ")}`);
  t.true(codes.size >= 8, "the mutations reach many different refusals");
});

test("fuzz: mutated manifests, signed and run, end in ok or a typed refusal", (t) => {
  const rng = new Prng(SEED ^ 0x9e37);
  const gatehouse = decode(buildEnvelope(nodeCrypto, { sequenceNumber: 1, vendorId: VENDOR_ID, classId: CLASS_ID, imageDigest: new Uint8Array(32), imageSize: 10, securityEpoch: 1, uri: "x" }, [ED1])) as CborTag & { value: CborMap };
  const seeds = Object.keys(envelopeHex)
    .filter((f) => !f.includes("without-cose"))
    .map((f) => (decode(vectorEnvelope(f)) as CborTag & { value: CborMap }).value.get(3) as Uint8Array)
    .concat([gatehouse.value.get(3) as Uint8Array]);
  const codes = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const manifest = mutate(rng, rng.pick(seeds), seeds);
    const code = outcome(signManifest(nodeCrypto, manifest, [ED1]));
    codes.set(code, (codes.get(code) ?? 0) + 1);
  }
  t.log(`seed ${SEED ^ 0x9e37}: ${[...codes].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(", ")}`);
  t.true((codes.get("ok") ?? 0) > 0, "some mutants still run");
  t.true(codes.size >= 10, "the mutations reach many different refusals");
});

test("the envelope's manifest is the bytes the builder signed: encode(decode) is the identity on Gatehouse envelopes", (t) => {
  const bytes = buildEnvelope(nodeCrypto, { sequenceNumber: 9, vendorId: VENDOR_ID, classId: CLASS_ID, imageDigest: new Uint8Array(32).fill(7), imageSize: 1 }, [ED1, SUIT_EXAMPLE_KEY]);
  t.true(bytesEqual(encode(decode(bytes)), bytes));
});
