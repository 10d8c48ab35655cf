// What the fleet server core offers its API layers: the narrow interface the HTTP API (http-api.ts) is
// built on. FleetServer implements it; an HTTP layer, a test or another transport takes any FleetApi and
// knows nothing of MQTT, SQLite or ingestion.

import type { CoseKey } from "../../sdk/cose/key";
import type { CommandReply } from "../client/results";
import type { DeviceRow, DeviceUpdateState, EventFilter, EventRow, KeyChange, ResultRow, TelemetryRow } from "./store";
import type { EventSignal } from "./export/event-signal";
import type { PreparedUpdate, UpdateSignal } from "./update-transfer";
import type { EventCountQuery, EventCounts } from "./event-counts";
import type { Rollout, RolloutRequest, RolloutSummary } from "./rollouts";

export type { CommandReply } from "../client/results";
export type { DeviceRow, DeviceUpdateState, EventFilter, EventRow, InstalledUpdateRow, KeyChange, ResultRow, TelemetryRow, UpdateStatusRow } from "./store";
export type { ImageSource, PreparedUpdate } from "./update-transfer";
export type { EventCountQuery, EventCounts } from "./event-counts";
export type { Rollout, RolloutCounts, RolloutDevice, RolloutDeviceState, RolloutRequest, RolloutState, RolloutSummary } from "./rollouts";

export interface UpdateOfferRequest {
  device: string;
  /** The server's name for the job (1 to 64 characters); the device's statuses carry it. */
  rollout: string;
  /** From prepareUpdate (update-transfer.ts): the envelope and its image. */
  update: PreparedUpdate;
  /** Block size offered (default 4096; a device may take smaller ones). */
  blockSize?: number;
}

export interface TrustUpdateRequest {
  device: string;
  rollout: string;
  /** A trust update as `gatehouse update trust` writes it. */
  trust: Uint8Array;
}

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
  /**
   * Offers an update to a registered device and serves its block requests from the update's image
   * until another offer to it or withdrawUpdate. Progress arrives as the device's signed statuses
   * (updateState, updateChanges). Fails with unknown-device, invalid-input, server-stopped.
   */
  offerUpdate(request: UpdateOfferRequest): Promise<void>;
  /** Stops serving a device's blocks (its rollout ended). */
  withdrawUpdate(device: string): void;
  /**
   * Stops a device's download of an aborted rollout: no more blocks, and a stop message that makes the
   * device cancel the download and report `aborted` (update-transfer.ts). Fails with unknown-device, server-stopped.
   */
  stopUpdate(device: string, rollout: string): Promise<void>;
  /** Sends a signed trust update to a registered device. */
  sendTrustUpdate(request: TrustUpdateRequest): Promise<void>;
  /** A device's update state: what its latest birth says is installed, and its latest status. */
  updateState(device: string): DeviceUpdateState | undefined;
  /** Every device's that has one. */
  updateStates(): DeviceUpdateState[];
  /** Raised (with the device's id) after a device's update state changed and was stored. */
  readonly updateChanges: UpdateSignal;
  /**
   * Starts a rollout (rollouts.ts): the update offered to devices in waves, state kept in the database.
   * Fails with invalid-input, unknown-device, the update file's suit-* codes, server-stopped.
   */
  createRollout(request: RolloutRequest): Promise<Rollout>;
  /** Every rollout, newest first, without their devices. */
  rollouts(): RolloutSummary[];
  /** One rollout with its devices' waves, states, progress and codes. */
  rollout(id: string): Rollout | undefined;
  /** Aborts a running or halted rollout (rollout-unknown, rollout-ended). */
  abortRollout(id: string, by?: string): Rollout;
  /** Raised (with the rollout's id) after a rollout or one of its devices changed and was stored. */
  readonly rolloutChanges: UpdateSignal;
}
