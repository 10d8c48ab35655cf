// XS-side entry of test/xs/agent.test.ts: the update agent inside XS 13.3 (xsnap) with the noble crypto
// port, a Device whose transport this file plays the broker for (block requests answered from the patch
// source, on the promise queue, as a broker answers after the request returned), slots in memory and
// timers that never fire (xsnap has none; nothing here needs a retry). One scenario per call:
//
//   evaluate("gatehouseAgent.run('patch')")   -> the offer is delivered; promise jobs run after the evaluate
//   evaluate("gatehouseAgent.report()")       -> issueCommand {kind: "agent", statuses, events, requests, ...}
//
// Scenarios: "patch" (a device with patches: XS 13.3's Compartment is refused, so the downloaded patch ends
// patch-unavailable), "no-patches", "tampered", "too-big", "image" (a full image: offered, downloading,
// verified, installed, then the restart).

import { Device } from "../../sdk/device";
import { utf8 } from "../../sdk/cbor/encode";
import { publicKey } from "../../sdk/cose/key";
import { defineDoor, t } from "../../sdk/index";
import { TrustList } from "../../sdk/trust";
import { buildEnvelope } from "../../sdk/suit/builder";
import type { TransportHandlers, TransportPort } from "../../sdk/ports/transport";
import { openPublication } from "../../sdk/session/publications";
import { Patches } from "../../sdk/patch/patches";
import { MAX_PATCH_SOURCE_BYTES, PATCH_COMPONENT } from "../../sdk/patch/format";
import { UpdateAgent } from "../../sdk/update/agent";
import { FileUpdatePort, SLOT_FILES } from "../../sdk/update/file-port";
import { decodeBlockRequest, encodeBlock, encodeOffer } from "../../sdk/update/messages";
import { trustOf as updateTrustOf, type UpdateTrustDocument } from "../../sdk/update/trust";
import { MemorySlotFiles } from "../../host/sim/memory-slots";
import { xsCompartments } from "../../ports/moddable/compartment";
import { nobleCrypto } from "../../ports/noble/crypto";
import { CLASS_ID, ED_KEYS, VENDOR_ID } from "../conformance/suit-support";
import { FakeClock } from "../conformance/doors.cases";
import { MapStorage } from "../conformance/patch.cases";

const DEVICE_ID = "xs-agent-1";
const DEVICE_KEY = ED_KEYS[4];
const UPDATE_KEY = ED_KEYS[0];
const TRUST: UpdateTrustDocument = { seq: 0, threshold: 1, keys: [publicKey(UPDATE_KEY)], minEpoch: 0 };
const CLAMP = "export default { thermostat: { write: { target(value, ctx) { return ctx.original(value > 25 ? 25 : value); } } } };\n";

const thermostat = defineDoor({
  name: "thermostat",
  properties: { target: { type: t.int({ min: 5, max: 30 }), read: "view", write: "operate" } },
});

function send(message: unknown): void {
  issueCommand(new TextEncoder().encode(JSON.stringify(message)).buffer as ArrayBuffer);
}

interface Scene {
  payload: Uint8Array;
  statuses: string[];
  events: string[];
  requests: number;
  restarts: number;
  device: Device;
  error?: string;
}

let scene: Scene | undefined;

/** The broker: QoS 1 acknowledged and block requests answered on the promise queue. */
class PlayedTransport implements TransportPort {
  handlers?: TransportHandlers;
  open(_options: unknown, handlers: TransportHandlers): void {
    this.handlers = handlers;
  }
  publish(topic: string, payload: Uint8Array, qos: number, _retain: boolean, packetId: number): void {
    const s = scene as Scene;
    const level = topic.slice(`gh/${DEVICE_ID}/`.length);
    if (qos === 1) Promise.resolve().then(() => this.handlers?.onAcknowledged(packetId));
    if (level === "update/get") {
      const r = decodeBlockRequest(payload);
      s.requests++;
      const data = s.payload.slice(r.offset, r.offset + r.length);
      Promise.resolve().then(() => this.handlers?.onMessage(`gh/${DEVICE_ID}/update/block`, encodeBlock({ rollout: r.rollout, offset: r.offset, data }), 0, false));
    } else if (level === "update/status") {
      const body = openPublication(nobleCrypto, payload, publicKey(DEVICE_KEY), "update", DEVICE_ID);
      s.statuses.push(body.code === undefined ? body.state : `${body.state}:${body.code}`);
    } else if (level === "events") {
      s.events.push(openPublication(nobleCrypto, payload, publicKey(DEVICE_KEY), "event", DEVICE_ID).code);
    }
  }
  subscribe(): void {}
  close(): void {}
  deliver(level: string, payload: Uint8Array): void {
    this.handlers?.onMessage(`gh/${DEVICE_ID}/${level}`, payload, 1, false);
  }
}

function run(name: string): void {
  try {
    const withPatches = name !== "no-patches";
    const storage = new MapStorage();
    const transport = new PlayedTransport();
    const timers = { set: () => 0, clear: () => undefined };
    const clock = new FakeClock();
    const device = new Device({
      id: DEVICE_ID,
      key: DEVICE_KEY,
      trust: new TrustList([]),
      ports: { crypto: nobleCrypto, clock, timers, storage, transport },
      firmware: { version: "xs-agent 1" },
      events: { recordAllowed: false },
      patches: withPatches ? (link) => new Patches({ compartment: xsCompartments, trust: updateTrustOf(TRUST), vendorId: VENDOR_ID, classId: CLASS_ID }, link) : undefined,
    });
    device.register(thermostat, { read: { target: () => 20 }, write: { target: () => undefined } });
    const slots = new MemorySlotFiles();
    slots.write(SLOT_FILES[0], 0, utf8("factory build"));
    const s: Scene = { payload: new Uint8Array(0), statuses: [], events: [], requests: 0, restarts: 0, device };
    scene = s;
    const port = new FileUpdatePort({ files: slots, capacity: 1 << 16, restart: () => void s.restarts++ });
    new UpdateAgent({ device, port, storage, crypto: nobleCrypto, clock, timers, vendorId: VENDOR_ID, classId: CLASS_ID, trust: TRUST, restartGraceMs: 0 });
    device.start();
    transport.handlers?.onConnected(false);
    let payload = utf8(CLAMP);
    let component = PATCH_COMPONENT;
    if (name === "too-big") payload = new Uint8Array(MAX_PATCH_SOURCE_BYTES + 1).fill(32);
    if (name === "image") {
      payload = new Uint8Array(5000);
      for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
      component = [Uint8Array.of(0)];
    }
    s.payload = payload;
    let envelope = buildEnvelope(nobleCrypto, { sequenceNumber: 2, vendorId: VENDOR_ID, classId: CLASS_ID, imageDigest: nobleCrypto.sha256(payload), imageSize: payload.length, componentId: component }, [UPDATE_KEY]);
    if (name === "tampered") {
      envelope = envelope.slice();
      envelope[envelope.length - 3] ^= 1;
    }
    transport.deliver("update/offer", encodeOffer({ rollout: `xs-${name}`, envelope, blockSize: 1024 }));
  } catch (e) {
    if (scene) scene.error = String((e as Error)?.message ?? e);
    else scene = { payload: new Uint8Array(0), statuses: [], events: [], requests: 0, restarts: 0, device: undefined as unknown as Device, error: String((e as Error)?.message ?? e) };
  }
}

function report(): void {
  const s = scene as Scene;
  send({ kind: "agent", statuses: s.statuses, events: s.events, requests: s.requests, restarts: s.restarts, patch: s.device?.patches?.active?.sequenceNumber ?? null, error: s.error ?? null });
}

(globalThis as { gatehouseAgent?: unknown }).gatehouseAgent = { run, report };
