// The publication codec on Node, beyond the conformance cases (test/conformance/publications.cases.ts,
// which also run in XS): the expected bytes read by an independent decoder (cbor-x), and the fleet
// server refusing exactly what the codec refuses, through the broker.
import test from "ava";
import { Decoder, type Options } from "cbor-x";
import { randomBytes } from "node:crypto";
import type { CborMap, CborObject, CborValue } from "../sdk/cbor/types";
import { publicKey } from "../sdk/cose/key";
import { PUBLICATIONS } from "../sdk/session/publications";
import { nodeCrypto } from "../ports/node/crypto";
import { connectMqtt, endMqtt } from "../host/client/mqtt";
import { FleetServer } from "../host/server/index";
import { canonical } from "./conformance/check";
import { GOLDEN, REFUSALS } from "./conformance/publications.cases";
import { signRawPublication } from "./conformance/raw-publications";
import { startMosquitto } from "./support/brokers";
import { until } from "./support/devices";
import { utf8 } from "../sdk/cbor/encode";
import { keyFromVector } from "./conformance/vectors";
import ecdsa01 from "./fixtures/cose/ecdsa-examples/ecdsa-sig-01.json" with { type: "json" };

const cborx = new Decoder({ useRecords: false, mapsAsObjects: true } as Options);

/** cbor-x's reading in the SDK's terms: 8-byte integers come back as bigint (int64AsNumber is off). */
function normalize(value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (Array.isArray(value)) return value.map(normalize);
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]));
  return value;
}

test("the expected bytes of every kind read, with cbor-x, as the body they stand for", (t) => {
  for (const g of GOLDEN) t.is(canonical(normalize(cborx.decode(Buffer.from(g.hex, "hex")))), canonical(g.body), g.name);
});

test("the fleet server refuses what the codec refuses, as publication-malformed naming the field, and stores what it accepts", async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", clientId: `codec-server-${randomBytes(4).toString("hex")}` });
  t.teardown(() => server.stop());
  const key = { ...keyFromVector(ecdsa01.input.sign0.key), kid: utf8("dev-1") };
  server.registerDevice("dev-1", publicKey(key));
  const client = await connectMqtt(broker.url, { clean: true, onMessage: () => {} });
  t.teardown(() => endMqtt(client));

  // Each with a seq of its own, so that every one passes the server's replay window and is judged.
  let seq = 1000;
  const withSeq = (payload: CborObject | CborMap): CborObject => {
    const map = payload instanceof Map ? new Map(payload) : new Map<string | number, CborValue>(Object.entries(payload));
    map.set("seq", seq++);
    return map as unknown as CborObject;
  };
  for (const r of REFUSALS) await client.publishAsync(`gh/dev-1/${PUBLICATIONS[r.kind].topic}`, Buffer.from(signRawPublication(nodeCrypto, key, r.kind, withSeq(r.payload))), { qos: 1 });
  const telemetry = GOLDEN.find((g) => g.kind === "telemetry")!;
  await client.publishAsync(`gh/dev-1/${PUBLICATIONS.telemetry.topic}`, Buffer.from(signRawPublication(nodeCrypto, key, "telemetry", withSeq(telemetry.body as unknown as CborObject))), { qos: 1 });

  const refused = await until("a server event for every refusal", () => {
    const events = server.events({ device: "dev-1", limit: 1000 }).filter((e) => e.code === "publication-malformed");
    return events.length >= REFUSALS.length && events;
  });
  t.is(refused.length, REFUSALS.length);
  for (const r of REFUSALS) t.true(refused.some((e) => e.detail?.includes(`${r.kind} seq `) && e.detail.includes(r.says)), `${r.kind}: ${r.name}`);
  const stored = await until("the valid telemetry stored", () => server.store.telemetry("dev-1").find((row) => row.event === "changed"));
  t.is(stored.data, 21.5);
});
