// The fleet server: fleet-server.ts (the core: ingestion, registry, command relay; no HTTP), store.ts
// (SQLite), api.ts (the narrow interface the core offers), http-app.ts (a Request -> Response app),
// http-api.ts (the JSON API over any FleetApi) and http-serve.ts (serving an app on node:http).
export { FleetServer, DEFAULT_SERVER_CLIENT_ID, type Activity, type FleetServerOptions } from "./fleet-server";
export type { DeviceDetail, FleetApi, RelayRequest } from "./api";
export type { DeviceRow, EventFilter, EventRow, KeyChange, ResultRow, TelemetryRow } from "./store";
export { createFleetHttpApi } from "./http-api";
export { HttpApp, HttpError, MAX_BODY_BYTES, json, readJson, type Context, type Handler, type Middleware, type RouteInfo } from "./http-app";
export { serveHttp, type ServedHttp } from "./http-serve";
export type { DeviceUpdateState, InstalledUpdateRow, TrustUpdateRequest, UpdateOfferRequest, UpdateStatusRow } from "./api";
export { UpdateTransfer, UpdateSignal, prepareUpdate, bytesImage, fileImage, type ImageSource, type PreparedUpdate } from "./update-transfer";
export { readUpdatePackage, splitIntegratedPayloads, withIntegratedImage, INTEGRATED_IMAGE, type UpdatePackage } from "./update-package";
