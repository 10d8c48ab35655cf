// The fleet server's side of the transfer through mosquitto, played by a raw MQTT client in the device's
// place: an offer goes out at QoS 1 without the integrated image; a block request is served only for the
// rollout offered last to that device, within the image and the block size (anything else is a server
// event); requests beyond a device's rate wait (up to a window's worth), more are dropped; withdrawUpdate
// stops serving; a stop goes on the offer topic, and requests for the stopped rollout are counted (not
// events) and bring the stop again.
import test from "ava";
import { connectAsync } from "mqtt";
import { decode } from "../sdk/cbor/decode";
import { encode } from "../sdk/cbor/encode";
import type { CborMap } from "../sdk/cbor/types";
import { decodeOffer, decodeStop, encodeBlockRequest } from "../sdk/update/messages";
import { MAX_WINDOW } from "../sdk/update/transfer";
import { FleetServer } from "../host/server/fleet-server";
import { startMosquitto } from "./support/brokers";
import { sleep, until } from "./support/devices";
import { provisionFleet, simUpdate, updateKeys } from "./support/updates";

test("offers, serves only what was offered, refuses stray requests as server events, limits the rate, withdraws", async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const fleet = provisionFleet(["dev-a", "dev-b"], undefined);
  t.teardown(() => fleet.cleanup());
  const server = await FleetServer.start({
    brokerUrl: broker.url,
    dbPath: ":memory:",
    identitiesDir: fleet.identitiesDir,
    clientId: "upd-server",
    // A bucket of 10 that refills one request per 100 s: what the test sends is served or dropped by count, not by timing.
    updates: { requestsPerSecond: 0.01, requestBurst: 10 },
  });
  t.teardown(() => server.stop());
  const device = await connectAsync(broker.url, { protocolVersion: 4, clean: true, reconnectPeriod: 0 });
  t.teardown(() => device.endAsync());
  const offers: Uint8Array[] = [];
  const blocks: CborMap[] = [];
  device.on("message", (topic, payload) => {
    if (topic.endsWith("/update/offer")) offers.push(new Uint8Array(payload));
    if (topic.endsWith("/update/block")) blocks.push(decode(new Uint8Array(payload)) as CborMap);
  });
  await device.subscribeAsync("gh/dev-a/update/#", { qos: 1 });
  const update = simUpdate({ app: "thermostat", firmware: "x 1", seq: 1, keys: updateKeys(1), payloadBytes: 10_000 });
  await server.offerUpdate({ device: "dev-a", rollout: "r1", update: update.prepared, blockSize: 1024 });
  await until("offer", () => offers.length === 1);
  const offer = decodeOffer(offers[0], 4000);
  t.deepEqual([offer.rollout, offer.blockSize], ["r1", 1024]);
  t.deepEqual(offer.envelope, update.prepared.envelope, "the envelope without the integrated image");
  t.true(update.file.length > 10_000 && offer.envelope.length < 1000);

  const get = (rollout: string, offset: number, length: number, who = "dev-a") => device.publishAsync(`gh/${who}/update/get`, Buffer.from(encodeBlockRequest({ rollout, offset, length })), { qos: 0 });
  await get("r1", 2048, 1024);
  await until("a block", () => blocks.length === 1);
  t.is(blocks[0].get("offset"), 2048);
  t.deepEqual(blocks[0].get("data"), update.image.slice(2048, 3072));

  // Stray requests: another rollout, past the image, longer than a block, another device's, garbage.
  await get("r0", 0, 1024);
  await get("r1", update.image.length - 10, 100);
  await get("r1", 0, 2048);
  await get("r1", 0, 1024, "dev-b");
  await device.publishAsync("gh/dev-a/update/get", Buffer.from(encode({ rollout: "r1" })), { qos: 0 });
  await until("five server events", () => server.events({}).filter((e) => e.source === "server").length >= 5);
  const codes = server.events({}).filter((e) => e.source === "server").map((e) => `${e.device}:${e.code}`).sort();
  t.deepEqual(codes, ["dev-a:update-block-unexpected", "dev-a:update-block-unexpected", "dev-a:update-block-unexpected", "dev-a:update-offer-malformed", "dev-b:update-block-unexpected"]);
  await sleep(200);
  t.is(blocks.length, 1, "none of them was served");

  // Rate: the bucket held 10 and one request was served; of a burst of 30, 9 are served, 8 wait for a
  // token (as many as the largest window: MAX_WINDOW) and 13 are dropped.
  blocks.length = 0;
  const before = server.transfer.offered("dev-a")!;
  for (let i = 0; i < 30; i++) await get("r1", (i % 9) * 1024, 1024);
  const counted = () => {
    const o = server.transfer.offered("dev-a")!;
    return o.served + o.limited + o.waiting - before.served - before.limited - before.waiting;
  };
  await until("the burst served", () => counted() >= 30);
  const after = server.transfer.offered("dev-a")!;
  t.is(after.served - before.served, 9);
  t.is(after.waiting, MAX_WINDOW);
  t.is(after.limited - before.limited, 30 - 9 - MAX_WINDOW);

  server.withdrawUpdate("dev-a");
  blocks.length = 0;
  await get("r1", 0, 1024);
  await until("refused after withdraw", () => server.events({}).filter((e) => e.code === "update-block-unexpected").length >= 5);
  t.is(blocks.length, 0);
  t.is(server.transfer.offered("dev-a"), undefined);
});

test("a stop goes on the offer topic behind the offer; requests for the stopped rollout are counted, not events, and bring the stop again", async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const fleet = provisionFleet(["dev-a"], undefined);
  t.teardown(() => fleet.cleanup());
  const server = await FleetServer.start({ brokerUrl: broker.url, dbPath: ":memory:", identitiesDir: fleet.identitiesDir, clientId: "stop-server", updates: { stopResendMs: 200 } });
  t.teardown(() => server.stop());
  const device = await connectAsync(broker.url, { protocolVersion: 4, clean: true, reconnectPeriod: 0 });
  t.teardown(() => device.endAsync());
  const onOfferTopic: Uint8Array[] = [];
  let blocks = 0;
  device.on("message", (topic, payload) => {
    if (topic.endsWith("/update/offer")) onOfferTopic.push(new Uint8Array(payload));
    if (topic.endsWith("/update/block")) blocks++;
  });
  await device.subscribeAsync("gh/dev-a/update/#", { qos: 1 });
  const update = simUpdate({ app: "thermostat", firmware: "x 1", seq: 1, keys: updateKeys(1), payloadBytes: 10_000 });
  await server.offerUpdate({ device: "dev-a", rollout: "r1", update: update.prepared, blockSize: 1024 });
  await server.stopUpdate("dev-a", "r1");
  await until("the offer and the stop", () => onOfferTopic.length === 2);
  t.is(decodeStop(onOfferTopic[0]), undefined, "the offer first");
  t.deepEqual(decodeStop(onOfferTopic[1]), { rollout: "r1" });
  t.is(server.transfer.offered("dev-a"), undefined, "no longer served");

  const get = (rollout: string) => device.publishAsync("gh/dev-a/update/get", Buffer.from(encodeBlockRequest({ rollout, offset: 0, length: 1024 })), { qos: 0 });
  await get("r1");
  await until("counted", () => server.transfer.stopped("dev-a")?.refused === 1);
  // Requests that keep coming (the stop was lost) bring it again, no more often than stopResendMs.
  await until("the stop sent again", () => {
    void get("r1");
    return onOfferTopic.length >= 3;
  });
  t.deepEqual(decodeStop(onOfferTopic[2]), { rollout: "r1" });
  t.true(server.transfer.stopped("dev-a")!.refused >= 2);
  await get("r0");
  await until("another rollout's request is still an event", () => server.events({}).some((e) => e.code === "update-block-unexpected"));
  t.deepEqual(server.events({}).map((e) => e.code), ["update-block-unexpected"], "none for the stopped rollout");
  t.is(blocks, 0);
});
