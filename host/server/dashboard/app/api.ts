// The dashboard's calls to the fleet API: same origin, the session cookie (HttpOnly: this code never
// sees it) and, on calls other than GET, the session's CSRF token (kept in memory only). Errors are the
// API's {"error": {"code", "message"}}.

export type Role = "view" | "operate" | "manage" | "administer";
const ROLES: Role[] = ["view", "operate", "manage", "administer"];

export function atLeast(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

export interface Caller {
  kind: "user" | "token";
  name: string;
  role: Role;
  devicePattern: string | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class Api {
  csrfToken: string | undefined;

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (method !== "GET" && this.csrfToken !== undefined) headers["x-csrf-token"] = this.csrfToken;
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
    const text = await response.text();
    let data: unknown = null;
    try {
      data = text === "" ? null : JSON.parse(text);
    } catch {
      data = null;
    }
    if (!response.ok) {
      const error = (data as { error?: { code?: string; message?: string } } | null)?.error;
      throw new ApiError(response.status, error?.code ?? `http-${response.status}`, error?.message ?? response.statusText);
    }
    return data as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("POST", path, body);
  }

  /** Who is calling; undefined when not logged in (401). */
  async session(): Promise<Caller | undefined> {
    try {
      const answer = await this.get<{ caller: Caller; csrfToken?: string }>("/api/session");
      this.csrfToken = answer.csrfToken;
      return answer.caller;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return undefined;
      throw e;
    }
  }

  async login(name: string, password: string): Promise<Caller> {
    const answer = await this.post<{ caller: Caller; csrfToken: string }>("/api/session", { name, password });
    this.csrfToken = answer.csrfToken;
    return answer.caller;
  }

  async logout(): Promise<void> {
    await this.request("DELETE", "/api/session");
    this.csrfToken = undefined;
  }
}

/** Rows the pages show (the API's JSON). */
export interface DeviceSummary {
  id: string;
  alg: string;
  online: boolean;
  firmware: string | null;
  patch: number | null;
  epoch: number | null;
  lastSeen: number | null;
  doorNames: string[];
  refusals24h?: number;
}

export interface TelemetryRow {
  door: string;
  event: string;
  data: unknown;
  time: number | null;
  receivedAt: number;
  seq: number;
}

export interface ResultRow {
  id: number;
  receivedAt: number;
  sender: string | null;
  door: string | null;
  op: string | null;
  ok: boolean;
  value: unknown;
  code: string | null;
  message: string | null;
}

export interface DeviceDetail extends Omit<DeviceSummary, "doorNames"> {
  doors: unknown[];
  telemetry: TelemetryRow[];
  results: ResultRow[];
}

export interface EventRow {
  id: number;
  receivedAt: number;
  device: string;
  source: "device" | "server";
  code: string;
  allowed: boolean;
  principal: string | null;
  door: string | null;
  op: string | null;
  suppressed: number;
  detail: string | null;
}

export interface CommandReply {
  ok: boolean;
  verified: boolean;
  device: string;
  seq: number;
  value?: unknown;
  code?: string;
  message?: string;
}
