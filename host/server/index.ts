// The fleet server: see fleet-server.ts (ingestion, registry, command relay), store.ts (SQLite) and
// http.ts (the JSON API).
export { FleetServer, DEFAULT_SERVER_CLIENT_ID, type Activity, type DeviceDetail, type FleetServerOptions, type RelayRequest } from "./fleet-server";
export type { DeviceRow, EventFilter, EventRow, KeyChange, ResultRow, TelemetryRow } from "./store";
export { MAX_BODY_BYTES } from "./http";
