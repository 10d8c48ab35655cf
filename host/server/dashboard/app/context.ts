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

  /**
   * `onState` hears of the connection; `onEnded` when the browser gave the stream up (an answer that is
   * not a stream: 401 when the session ended, 403), which EventSource never retries.
   */
  constructor(onState: (connected: boolean) => void, onEnded: () => void) {
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
      if (this.source.readyState === EventSource.CLOSED) onEnded();
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
