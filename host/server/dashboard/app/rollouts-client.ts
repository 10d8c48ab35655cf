// The rollouts API (issue 7) as the dashboard reads it, in one place: the routes land with the OTA work
// (GET /api/rollouts, GET /api/rollouts/:id, POST /api/rollouts/:id/abort). Until then the server answers
// 404 not-found and the page says there are no rollouts. When the routes' shape settles, only this file
// changes.

import { ApiError, type Api } from "./api";

export interface RolloutDevice {
  device: string;
  /** e.g. pending, downloading, installed, failed, refused */
  state: string;
  /** 0..1, when known */
  progress?: number;
  /** Why the device refused or failed (an error code and message). */
  reason?: string;
}

export interface RolloutWave {
  index: number;
  state: string;
  devices: RolloutDevice[];
}

export interface Rollout {
  id: string;
  state: string;
  firmware?: string;
  createdAt?: number;
  waves: RolloutWave[];
}

/** Answers of a server without the rollout routes: no rollouts (not an error). */
function absent(e: unknown): boolean {
  return e instanceof ApiError && e.status === 404 && e.code === "not-found";
}

export async function listRollouts(api: Api): Promise<{ available: boolean; rollouts: Rollout[] }> {
  try {
    const answer = await api.get<{ rollouts: Rollout[] }>("/api/rollouts");
    return { available: true, rollouts: Array.isArray(answer.rollouts) ? answer.rollouts.map(normalise) : [] };
  } catch (e) {
    if (absent(e)) return { available: false, rollouts: [] };
    throw e;
  }
}

export async function abortRollout(api: Api, id: string): Promise<void> {
  await api.post(`/api/rollouts/${encodeURIComponent(id)}/abort`, {});
}

function normalise(r: Rollout): Rollout {
  return { ...r, waves: Array.isArray(r.waves) ? r.waves.map((w) => ({ ...w, devices: Array.isArray(w.devices) ? w.devices : [] })) : [] };
}
