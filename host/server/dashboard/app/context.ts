// What every page gets: the API client, who is logged in, and the fleet's live feed (one EventSource
// for the whole session: the fleet page and the navigation read it).

import type { Api, Caller, DeviceSummary } from "./api";

export interface Page {
  dispose(): void;
}

export interface AppContext {
  readonly api: Api;
  readonly caller: Caller;
  readonly fleet: FleetFeed;
}

/** The fleet, live: GET /api/fleet/stream (server-sent events named "fleet", each the whole list). */
export class FleetFeed {
  devices: DeviceSummary[] | undefined;
  private readonly listeners = new Set<(devices: DeviceSummary[]) => void>();
  private readonly source: EventSource;
  connected = false;

  constructor(onState: (connected: boolean) => void) {
    this.source = new EventSource("/api/fleet/stream");
    this.source.addEventListener("fleet", (e) => {
      this.devices = (JSON.parse((e as MessageEvent<string>).data) as { devices: DeviceSummary[] }).devices;
      for (const listener of this.listeners) listener(this.devices);
    });
    this.source.onopen = () => {
      this.connected = true;
      onState(true);
    };
    this.source.onerror = () => {
      this.connected = false;
      onState(false);
    };
  }

  /** Calls `listener` with every new list (and at once with the current one). */
  listen(listener: (devices: DeviceSummary[]) => void): () => void {
    this.listeners.add(listener);
    if (this.devices) listener(this.devices);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.source.close();
    this.listeners.clear();
  }
}
