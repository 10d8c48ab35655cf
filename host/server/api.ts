// What the fleet server core offers its API layers: the narrow interface the HTTP API (http-api.ts) is
// built on. FleetServer implements it; an HTTP layer, a test or another transport takes any FleetApi and
// knows nothing of MQTT, SQLite or ingestion.

import type { CoseKey } from "../../sdk/cose/key";
import type { CommandReply } from "../client/results";
import type { DeviceRow, EventFilter, EventRow, KeyChange, ResultRow, TelemetryRow } from "./store";
import type { EventSignal } from "./export/event-signal";
import type { EventCountQuery, EventCounts } from "./event-counts";

export type { CommandReply } from "../client/results";
export type { DeviceRow, EventFilter, EventRow, KeyChange, ResultRow, TelemetryRow } from "./store";
export type { EventCountQuery, EventCounts } from "./event-counts";

export interface DeviceDetail extends DeviceRow {
  telemetry: TelemetryRow[];
  /** The latest results received from the device, newest first (at most 10). */
  results: ResultRow[];
}

export interface RelayRequest {
  /** A signed command (COSE_Sign1, as `gatehouse sign` or signCommand makes it). */
  message: Uint8Array;
  device: string;
  door: string;
  timeoutMs?: number;
}

export interface FleetApi {
  /** Every registered device. */
  devices(): DeviceRow[];
  /** One device with its latest telemetry and results; undefined when it is not registered. */
  device(id: string): DeviceDetail | undefined;
  /**
   * Registers a device's public key (kid = UTF-8 of `id`). Another key for a registered id is refused
   * (device-conflict): an API never replaces a key.
   */
  registerDevice(id: string, publicKey: CoseKey): KeyChange;
  /** Security events, device and server, by filter. */
  events(filter?: EventFilter): EventRow[];
  /** Security events counted per time bucket and code, and refusals per device, in a window (the dashboard's charts). */
  eventCounts(query: EventCountQuery): EventCounts;
  /** Raised after new security events were stored (listeners read them with events()). */
  readonly newEvents: EventSignal;
  /**
   * Relays a command signed by its sender and waits for the device's result, verified with its key.
   * Fails with no-result (timeout), unknown-device, command-mismatch, server-busy, server-stopped.
   */
  relayCommand(request: RelayRequest): Promise<CommandReply>;
}
