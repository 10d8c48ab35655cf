// Gatehouse security events as OCSF 1.6.0 events of class API Activity (class_uid 6003, category 6
// Application Activity): the one schema SIEM tools read (Amazon Security Lake, Splunk, Elastic, Sentinel,
// and pipelines such as Tenzir and Vector map it). docs/events.md gives the field mapping and why this
// class: every Gatehouse event is one attempt by a principal to perform an operation through an API — a
// door's read/write/invoke by a signed command, a device's publication or connection to the fleet server —
// that was allowed or refused with a stable code, which is API Activity's actor, api.operation,
// resources, status and status_code. The IAM classes describe logons and session privileges, and the
// Findings classes describe a security tool's conclusions; neither fits one attempt, allowed or not.
//
// The mapping is a pure function of the stored row: the same row always gives the same object, so the
// HTTP stream, `gatehouse events --format ocsf` and webhooks in the ocsf format agree.

import packageJson from "../../../package.json" with { type: "json" };
import type { EventRow } from "../store";

export const OCSF_VERSION = "1.6.0";
export const OCSF_CLASS_UID = 6003;
export const OCSF_CATEGORY_UID = 6;
/** Gatehouse's own version, for metadata.product. */
export const GATEHOUSE_VERSION: string = packageJson.version;

const ACTIVITY = { unknown: 0, create: 1, read: 2, update: 3, delete: 4, other: 99 } as const;
const ACTIVITY_CAPTION: Record<number, string> = { 0: "Unknown", 1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other" };
const SEVERITY_CAPTION: Record<number, string> = { 1: "Informational", 2: "Low", 3: "Medium", 4: "High" };
/** OCSF device and endpoint type_id 7: an IOT (Internet of Things) device. */
const IOT = { type_id: 7, type: "IOT" } as const;

/**
 * severity_id by code for refusals (allowed attempts are 1, Informational; a refusal not listed is 2,
 * Low: a misconfigured sender or a stale command). 3, Medium: forged, replayed or malformed signed data,
 * an operator acting beyond their role, lost publications. 4, High: someone else is using a device's
 * MQTT identity or deleted its retained state.
 */
const SEVERITY_OF_CODE: Record<string, number> = {
  "bad-signature": 3,
  "unknown-kid": 3,
  replayed: 3,
  "wrong-device": 3,
  "not-allowed": 3,
  "unknown-device": 3,
  "message-too-large": 3,
  "publication-malformed": 3,
  "publications-missing": 3,
  "ingest-dropped": 3,
  "ingest-failed": 3,
  "session-takeover": 4,
  "retained-cleared": 4,
};
const SEVERE_PREFIXES = ["cose-", "cbor-", "alg-"];

export function severityOf(row: Pick<EventRow, "allowed" | "code">): number {
  if (row.allowed) return 1;
  return SEVERITY_OF_CODE[row.code] ?? (SEVERE_PREFIXES.some((p) => row.code.startsWith(p)) ? 3 : 2);
}

/** Server events carry no operation: what the server was doing when it recorded them. */
function serverOperation(code: string): string {
  if (code === "session-takeover") return "connect";
  if (code === "command-unanswered") return "relay-command";
  return "publish";
}

/** The operation attempted, and its OCSF activity. */
function operationOf(row: EventRow): { operation: string; activityId: number; activityName: string } {
  if (row.op !== null) {
    const verb = row.op.slice(0, row.op.indexOf("."));
    if (verb === "read") return { operation: row.op, activityId: ACTIVITY.read, activityName: "Read" };
    if (verb === "write") return { operation: row.op, activityId: ACTIVITY.update, activityName: "Update" };
    return { operation: row.op, activityId: ACTIVITY.other, activityName: verb === "invoke" ? "Invoke" : "Other" };
  }
  // A command refused before its operation was read (a bad signature, say), or a server event.
  const operation = row.source === "server" ? serverOperation(row.code) : "command";
  return { operation, activityId: ACTIVITY.other, activityName: operation === "relay-command" ? "Relay command" : operation[0].toUpperCase() + operation.slice(1) };
}

const KID = /^[0-9a-f]{1,128}$/;

/** Who attempted it: an operator key (its kid), the device's own code ("local"), or nobody known. */
function actorOf(row: EventRow): Record<string, unknown> {
  if (row.principal === "local") return { app_name: "local application code", app_uid: row.device };
  if (row.principal !== null && KID.test(row.principal)) return { user: { uid: row.principal, credential_uid: row.principal, type_id: 99, type: "Operator key" } };
  return { user: { name: "unknown", type_id: 0, type: "Unknown" } };
}

function deviceEndpoint(device: string): Record<string, unknown> {
  return { uid: device, name: device, ...IOT };
}

function sentence(row: EventRow, operation: string): string {
  const what = row.door !== null ? `${operation} on door ${row.door} of ${row.device}` : `${operation} (${row.device})`;
  const who = row.principal === null ? "" : ` by ${row.principal}`;
  const outcome = row.allowed ? "allowed" : `refused: ${row.code}`;
  return `${what}${who}: ${outcome}${row.detail ? ` (${row.detail})` : ""}`;
}

export type OcsfEvent = Record<string, unknown>;

/** One stored security event as an OCSF API Activity event. */
export function toOcsf(row: EventRow): OcsfEvent {
  const { operation, activityId, activityName } = operationOf(row);
  const severityId = severityOf(row);
  const local = row.principal === "local";
  const event: OcsfEvent = {
    class_uid: OCSF_CLASS_UID,
    class_name: "API Activity",
    category_uid: OCSF_CATEGORY_UID,
    category_name: "Application Activity",
    activity_id: activityId,
    activity_name: activityName,
    type_uid: OCSF_CLASS_UID * 100 + activityId,
    type_name: `API Activity: ${ACTIVITY_CAPTION[activityId]}`,
    severity_id: severityId,
    severity: SEVERITY_CAPTION[severityId],
    // The device's own clock when it has trusted time; the server's arrival time otherwise.
    time: row.deviceTime ?? row.receivedAt,
    timezone_offset: 0,
    status_id: row.allowed ? 1 : 2,
    status: row.allowed ? "Success" : "Failure",
    status_code: row.code,
    message: sentence(row, operation),
    metadata: {
      uid: String(row.id),
      event_code: row.code,
      version: OCSF_VERSION,
      profiles: ["host"],
      product: { name: "Gatehouse", vendor_name: "Gatehouse", version: GATEHOUSE_VERSION, feature: { name: row.source === "device" ? "device" : "fleet server" } },
      log_name: "security_events",
      log_provider: "gatehouse fleet server",
      logged_time: row.receivedAt,
      ...(row.seq !== null ? { sequence: row.seq } : {}),
    },
    actor: actorOf(row),
    api: { operation, ...(row.door !== null ? { service: { name: row.door } } : {}) },
    // Commands travel through the MQTT broker, so the sender has no network address here: the source is
    // the device itself for its own code and for what the server received from it.
    src_endpoint: local || row.source === "server" ? { ...deviceEndpoint(row.device), svc_name: "mqtt" } : { svc_name: "mqtt" },
    dst_endpoint: row.source === "device" ? deviceEndpoint(row.device) : { name: "gatehouse fleet server", svc_name: "gatehouse" },
    device: deviceEndpoint(row.device),
    // Gatehouse fields OCSF has no place for (OCSF omits absent values rather than writing null).
    unmapped: {
      source: row.source,
      suppressed: row.suppressed,
      received_at: row.receivedAt,
      ...(row.deviceTime !== null ? { device_time: row.deviceTime } : {}),
      ...(row.uptime !== null ? { uptime_ms: row.uptime } : {}),
    },
  };
  if (row.detail !== null) event.status_detail = row.detail;
  if (row.door !== null) event.resources = [{ uid: `${row.device}/${row.door}`, name: row.door, type: "door" }];
  return event;
}
