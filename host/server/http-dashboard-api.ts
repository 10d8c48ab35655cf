// The API routes the dashboard's pages need besides the fleet API (http-api.ts): live views as
// server-sent events and event counts for the charts. Behind the same guard, documented in the OpenAPI
// document (http-openapi.ts) like every route.
//
//                                              role   devices
//   GET /api/fleet/stream?follow=              view   filtered  SSE "fleet": {devices: [summary rows with
//                                                               refusals24h], at} whenever anything changes
//   GET /api/devices/:id/stream?follow=        view   one       SSE "device": {device: detail} on change
//   GET /api/events/counts?hours=&bucket=&device=
//                                              view   filtered  events per (bucket, code) and refusals per
//                                                               device in the last `hours` (default 24)
// The streams follow unless follow=false (one snapshot, then the end).

import type { Json } from "../client/json-view";
import type { FleetApi } from "./api";
import { allowDevice, devicePatternOf } from "./auth/guard";
import { matchesDevicePattern } from "./auth/accounts";
import { MAX_COUNT_BUCKETS } from "./event-counts";
import { HttpError, invalid, json, onlyParams, queryUint, type Context, type HttpApp } from "./http-app";
import { liveStream } from "./dashboard/live";
import type { DeviceRow } from "./store";

const HOUR_MS = 3600_000;
/** The fleet's refusal counts cover this window, and are counted again at least this often ... */
const REFUSAL_WINDOW_MS = 24 * HOUR_MS;
const REFUSAL_RECOUNT_MS = 60_000;
/** ... and at most this often. */
const REFUSAL_COUNT_MIN_MS = 1000;

/** A device as lists show it: its door names instead of their descriptions (as GET /api/devices). */
function summary(row: DeviceRow): Record<string, unknown> {
  const { doors, ...rest } = row;
  return { ...rest, doorNames: doors.map((d) => (d !== null && typeof d === "object" && !Array.isArray(d) && typeof d.name === "string" ? d.name : "?")) };
}

/** `follow`: true (default) keeps the stream open; false sends one snapshot and ends. */
function followParam(c: Context): boolean {
  onlyParams(c.url.searchParams, ["follow"]);
  const text = c.url.searchParams.get("follow") ?? "true";
  if (!["true", "false", "1", "0"].includes(text)) invalid("follow must be true or false");
  return text === "true" || text === "1";
}

function visibleDevices(fleet: FleetApi, c: Context): DeviceRow[] {
  const pattern = devicePatternOf(c);
  return fleet.devices().filter((d) => pattern === null || matchesDevicePattern(pattern, d.id));
}

export function registerDashboardRoutes(app: HttpApp, fleet: FleetApi): void {
  app.get("/api/fleet/stream", { role: "view", devices: "filtered" }, (c) => {
    const follow = followParam(c);
    const pattern = devicePatternOf(c) ?? undefined;
    let refusals: Record<string, number> = {};
    let countedAt = -Infinity;
    let stale = true;
    return liveStream(fleet.newEvents, "fleet", (signaled) => {
      // Counting scans a day of events: at most once a second however fast events come (a flood would
      // otherwise count once per stored batch), and at least once a minute (the window moves on).
      const now = Date.now();
      stale ||= signaled;
      if ((stale && now - countedAt >= REFUSAL_COUNT_MIN_MS) || now - countedAt >= REFUSAL_RECOUNT_MS) {
        refusals = fleet.eventCounts({ since: now - REFUSAL_WINDOW_MS, bucketMs: REFUSAL_WINDOW_MS, devicePattern: pattern }).refusals;
        countedAt = now;
        stale = false;
      }
      const devices = visibleDevices(fleet, c).map((d) => ({ ...summary(d), refusals24h: refusals[d.id] ?? 0 }));
      return JSON.stringify({ devices });
    }, { follow });
  });

  app.get("/api/devices/:id/stream", { role: "view", devices: "one" }, (c) => {
    const follow = followParam(c);
    const id = c.params.id;
    allowDevice(c, id);
    if (!fleet.device(id)) throw new HttpError(404, "unknown-device", `device ${id} is not registered`);
    return liveStream(fleet.newEvents, "device", () => JSON.stringify({ device: (fleet.device(id) ?? null) as unknown as Json }), { follow });
  });

  app.get("/api/events/counts", { role: "view", devices: "filtered" }, (c) => {
    const query = c.url.searchParams;
    onlyParams(query, ["hours", "bucket", "device"]);
    const hours = queryUint(query, "hours", 1, 168) ?? 24;
    const windowMs = hours * HOUR_MS;
    const bucketSeconds = queryUint(query, "bucket", 10, 86_400) ?? Math.max(60, Math.ceil(windowMs / 1000 / 48));
    if (windowMs / (bucketSeconds * 1000) > MAX_COUNT_BUCKETS) invalid(`at most ${MAX_COUNT_BUCKETS} buckets: make bucket at least ${Math.ceil(windowMs / 1000 / MAX_COUNT_BUCKETS)} s for ${hours} h`);
    const device = query.get("device") ?? undefined;
    if (device !== undefined) {
      if (device.length === 0 || device.length > 64) invalid("device must be 1 to 64 characters");
      allowDevice(c, device);
    }
    const counts = fleet.eventCounts({ since: Date.now() - windowMs, bucketMs: bucketSeconds * 1000, device, devicePattern: devicePatternOf(c) ?? undefined });
    return json(counts as unknown as Json);
  });
}
