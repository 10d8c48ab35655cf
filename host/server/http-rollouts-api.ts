// The rollout routes of the fleet API (rollouts.ts: waves, halt, abort, resume), over a FleetApi. They
// reach the whole fleet, so a token limited to some devices is refused them ("fleet"). Every call is in
// the audit log; an abort notes what it stopped.
//
//   GET    /api/rollouts                 view    {rollouts: [summary...]} newest first
//   POST   /api/rollouts                 manage  {update: base64 (the .suit file, image integrated),
//                                                 devices: [id...] | all: true, waveSize?, maxFailures?,
//                                                 blockSize?} -> 201 {rollout}
//   GET    /api/rollouts/:id             view    {rollout: {..., devices: [{device, wave, state, progress, code}]}}
//   POST   /api/rollouts/:id/abort       manage  {rollout}
//   GET    /api/rollouts/:id/stream      view    server-sent events: the rollout (as GET) at once and
//                                                 after every change, until it ended and no device is
//                                                 in flight

import type { Json } from "../client/json-view";
import type { FleetApi, Rollout } from "./api";
import { callerOf, noteForAudit } from "./auth/guard";
import { base64Field, HttpError, invalid, json, onlyFields, onlyParams, readJson, type HttpApp } from "./http-app";

/** The largest POST /api/rollouts body: a 16 MiB image in base64 with its envelope, and room to spare. */
export const MAX_ROLLOUT_BODY = 32 * 1024 * 1024;
/** Changes of a streamed rollout closer together than this are sent as one event. */
const STREAM_COALESCE_MS = 100;

function optionalInteger(body: Record<string, unknown>, name: string): number | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value)) invalid(`${name} must be an integer`);
  return value;
}

function found(fleet: FleetApi, id: string): Rollout {
  const rollout = fleet.rollout(id);
  if (rollout === undefined) throw new HttpError(404, "rollout-unknown", `no rollout ${id}`);
  return rollout;
}

/** Whether nothing more will change: the rollout ended and none of its devices is in flight. */
export function rolloutSettled(rollout: Rollout): boolean {
  return rollout.state !== "running" && rollout.counts.inFlight === 0;
}

function streamRollout(fleet: FleetApi, id: string): Response {
  const encoder = new TextEncoder();
  let unlisten: (() => void) | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      let sent = 0;
      const send = (): void => {
        timer = undefined;
        const rollout = fleet.rollout(id);
        if (rollout === undefined) return;
        controller.enqueue(encoder.encode(`id: ${++sent}\nevent: rollout\ndata: ${JSON.stringify(rollout)}\n\n`));
        if (rolloutSettled(rollout)) {
          unlisten?.();
          controller.close();
        }
      };
      unlisten = fleet.rolloutChanges.listen((changed) => {
        if (changed === id && timer === undefined) timer = setTimeout(send, STREAM_COALESCE_MS);
      });
      send();
    },
    cancel() {
      unlisten?.();
      clearTimeout(timer);
    },
  });
  return new Response(body, { status: 200, headers: { "content-type": "text/event-stream; charset=utf-8" } });
}

export function registerRolloutRoutes(app: HttpApp, fleet: FleetApi): void {
  app.get("/api/rollouts", { role: "view", devices: "fleet" }, (c) => {
    onlyParams(c.url.searchParams, []);
    return json({ rollouts: fleet.rollouts() as unknown as Json });
  });

  app.post("/api/rollouts", { role: "manage", devices: "fleet" }, async (c) => {
    const body = await readJson(c.request, MAX_ROLLOUT_BODY);
    onlyFields(body, ["update", "devices", "all", "waveSize", "maxFailures", "blockSize"]);
    const file = base64Field(body, "update", MAX_ROLLOUT_BODY);
    let devices: string[] | "all";
    if (body.all === true) {
      if (body.devices !== undefined) invalid("give devices or all: true, not both");
      devices = "all";
    } else {
      if (body.all !== undefined) invalid("all must be true when given");
      const list = body.devices;
      if (!Array.isArray(list) || list.length === 0 || !list.every((d) => typeof d === "string" && d.length > 0 && d.length <= 64)) invalid("devices must be a non-empty list of device ids (or give all: true)");
      devices = list as string[];
    }
    const caller = callerOf(c);
    const rollout = await fleet.createRollout({
      file,
      devices,
      waveSize: optionalInteger(body, "waveSize"),
      maxFailures: optionalInteger(body, "maxFailures"),
      blockSize: optionalInteger(body, "blockSize"),
      createdBy: caller?.name,
    });
    noteForAudit(c, `rollout ${rollout.id}: manifest ${rollout.manifestSeq} to ${rollout.devices.length} device(s) in ${rollout.waves} wave(s)`);
    return json({ rollout: rollout as unknown as Json }, 201);
  });

  app.get("/api/rollouts/:id", { role: "view", devices: "fleet" }, (c) => {
    onlyParams(c.url.searchParams, []);
    return json({ rollout: found(fleet, c.params.id) as unknown as Json });
  });

  app.post("/api/rollouts/:id/abort", { role: "manage", devices: "fleet" }, (c) => {
    onlyParams(c.url.searchParams, []);
    found(fleet, c.params.id);
    const caller = callerOf(c);
    const rollout = fleet.abortRollout(c.params.id, caller?.name);
    noteForAudit(c, `rollout ${rollout.id} aborted: ${rollout.counts.aborted} device(s) stopped`);
    return json({ rollout: rollout as unknown as Json });
  });

  app.get("/api/rollouts/:id/stream", { role: "view", devices: "fleet" }, (c) => {
    onlyParams(c.url.searchParams, []);
    found(fleet, c.params.id);
    return streamRollout(fleet, c.params.id);
  });
}
