// The rollouts API (issue 7, host/server/http-rollouts-api.ts) as the dashboard shows it, in one place:
// GET /api/rollouts lists summaries, GET /api/rollouts/:id has each device's wave, state, progress and
// code, POST /api/rollouts/:id/abort ends one. The page groups a rollout's devices by wave.

import type { Api } from "./api";

export interface RolloutDevice {
  device: string;
  /** pending, offered, downloading, verified, installed, confirmed, refused, rolled-back, failed, aborted */
  state: string;
  /** 0..1 */
  progress: number;
  /** Why the device refused, rolled back or failed: a stable code. */
  reason?: string;
}

export interface RolloutWave {
  /** 0-based. */
  index: number;
  /** waiting (not started yet), running or ended. */
  state: string;
  devices: RolloutDevice[];
}

export interface Rollout {
  id: string;
  /** running, halted, aborted or done, and why it halted or ended. */
  state: string;
  /** What it installs: the manifest's sequence number and the image's size. */
  firmware: string;
  createdAt: number;
  waves: RolloutWave[];
}

/** The server's shapes (host/server/rollouts.ts), only the fields read here. */
interface RolloutSummaryAnswer {
  id: string;
  state: string;
  reason: string | null;
  manifestSeq: number;
  imageSize: number;
  wave: number;
  waves: number;
  createdAt: number;
}
interface RolloutAnswer extends RolloutSummaryAnswer {
  devices: { device: string; wave: number; state: string; progress: number; code: string | null }[];
}

/** The newest this many rollouts are shown with their devices (one request each, every refresh). */
const SHOWN_ROLLOUTS = 10;

export async function listRollouts(api: Api): Promise<Rollout[]> {
  const { rollouts } = await api.get<{ rollouts: RolloutSummaryAnswer[] }>("/api/rollouts");
  const newest = rollouts.slice().sort((a, b) => b.createdAt - a.createdAt).slice(0, SHOWN_ROLLOUTS);
  const details = await Promise.all(newest.map((r) => api.get<{ rollout: RolloutAnswer }>(`/api/rollouts/${encodeURIComponent(r.id)}`)));
  return details.map(({ rollout }) => shown(rollout));
}

export async function abortRollout(api: Api, id: string): Promise<void> {
  await api.post(`/api/rollouts/${encodeURIComponent(id)}/abort`, {});
}

function shown(r: RolloutAnswer): Rollout {
  const waves: RolloutWave[] = [];
  for (let n = 1; n <= r.waves; n++) {
    const state = n > r.wave ? "waiting" : n === r.wave && r.state === "running" ? "running" : "ended";
    const devices = r.devices
      .filter((d) => d.wave === n)
      .map((d) => ({ device: d.device, state: d.state, progress: d.progress / 100, ...(d.code ? { reason: d.code } : {}) }));
    waves.push({ index: n - 1, state, devices });
  }
  return {
    id: r.id,
    state: r.reason ? `${r.state} (${r.reason})` : r.state,
    firmware: `manifest ${r.manifestSeq}, ${r.imageSize.toLocaleString("en-US")} bytes`,
    createdAt: r.createdAt,
    waves,
  };
}
