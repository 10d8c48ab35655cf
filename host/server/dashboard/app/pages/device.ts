// One device: its state, its doors (schemas and roles from its latest birth), its telemetry as small
// charts (the points arrive while the page is open, from GET /api/devices/:id/stream), its latest
// results, and for operate and above a command form generated from the door schemas: the command is
// signed here, with the person's key file, and relayed by POST /api/commands.

import { atLeast, ApiError, type CommandReply, type DeviceDetail, type Role, type TelemetryRow } from "../api";
import { seriesChart, type SeriesChart } from "../charts";
import type { AppContext, Page } from "../context";
import { announce, h, show, when } from "../dom";
import { describeType, fieldFor, operationsOf, type Field, type ValueType } from "../schema-form";
import { base64, loadKeyFile, signCommandHere, type BrowserKey } from "../signing";

/** Points kept per telemetry chart. */
const MAX_POINTS = 120;

interface DoorDescription {
  name: string;
  description?: string;
  properties?: Record<string, { type?: ValueType; read?: Role; write?: Role }>;
  actions?: Record<string, { input?: ValueType; output?: ValueType; role?: Role }>;
  events?: Record<string, { data?: ValueType; role?: Role }>;
}

/** The numeric parts of a telemetry value: the value itself, or a record's number fields. */
function numbersOf(data: unknown): Record<string, number> | undefined {
  if (typeof data === "number") return { value: data };
  if (data !== null && typeof data === "object" && !Array.isArray(data)) {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(data)) if (typeof v === "number") out[k] = v;
    return Object.keys(out).length > 0 ? out : undefined;
  }
  return undefined;
}

function doorsSection(doors: DoorDescription[]): HTMLElement {
  if (doors.length === 0) return h("p", { class: "muted" }, "No doors: the device has not announced itself yet.");
  return h(
    "div",
    {},
    ...doors.map((door) => {
      const rows: HTMLElement[] = [];
      for (const [name, p] of Object.entries(door.properties ?? {})) {
        rows.push(h("tr", {}, h("td", {}, h("code", {}, `read.${name}`)), h("td", {}, "property"), h("td", {}, p.read ?? "view"), h("td", {}, describeType(p.type))));
        if (p.write) rows.push(h("tr", {}, h("td", {}, h("code", {}, `write.${name}`)), h("td", {}, "property"), h("td", {}, p.write), h("td", {}, describeType(p.type))));
      }
      for (const [name, a] of Object.entries(door.actions ?? {})) {
        rows.push(h("tr", {}, h("td", {}, h("code", {}, `invoke.${name}`)), h("td", {}, "action"), h("td", {}, a.role ?? "operate"), h("td", {}, `${describeType(a.input)} → ${describeType(a.output)}`)));
      }
      for (const [name, ev] of Object.entries(door.events ?? {})) {
        rows.push(h("tr", {}, h("td", {}, h("code", {}, name)), h("td", {}, "event"), h("td", {}, ev.role ?? "view"), h("td", {}, describeType(ev.data))));
      }
      return h(
        "section",
        { "data-door": door.name },
        h("h3", {}, door.name),
        door.description ? h("p", { class: "muted" }, door.description) : null,
        h("table", {}, h("thead", {}, h("tr", {}, ...["Operation", "Kind", "Role needed", "Schema"].map((c) => h("th", { scope: "col" }, c)))), h("tbody", {}, rows)),
      );
    }),
  );
}

export function devicePage(main: HTMLElement, ctx: AppContext, id: string): Page {
  const title = h("h1", { tabindex: -1 }, `Device ${id}`);
  const state = h("p", { id: "device-state" }, "Loading…");
  const doorsBox = h("div", { id: "doors" });
  const charts = h("div", { class: "charts", id: "telemetry" });
  const results = h("tbody");
  const commandBox = h("section", { id: "command", "aria-labelledby": "command-title" });
  main.replaceChildren(
    h("p", {}, h("a", { href: "#/fleet" }, "← Fleet")),
    title,
    state,
    h("h2", {}, "Doors"),
    doorsBox,
    h("h2", {}, "Telemetry"),
    charts,
    ...(atLeast(ctx.caller.role, "operate") ? [commandBox] : []),
    h("h2", {}, "Latest results"),
    h("table", {}, h("thead", {}, h("tr", {}, ...["Time", "Door", "Operation", "Outcome", "Sender"].map((c) => h("th", { scope: "col" }, c)))), results),
  );

  const series = new Map<string, { chart: SeriesChart; x: number[]; values: Map<string, (number | null)[]>; lastSeq: number }>();
  let doorsKey = "";
  let formBuilt = false;

  const addTelemetry = (row: TelemetryRow) => {
    const numbers = numbersOf(row.data);
    if (!numbers) return;
    const key = `${row.door} ${row.event}`;
    let s = series.get(key);
    if (!s) {
      s = { chart: seriesChart(`${row.door}: ${row.event}`), x: [], values: new Map(), lastSeq: -1 };
      series.set(key, s);
      s.chart.element.dataset.telemetry = key;
      charts.append(s.chart.element);
    }
    if (row.seq <= s.lastSeq) return;
    s.lastSeq = row.seq;
    s.x.push(row.time ?? row.receivedAt);
    for (const name of Object.keys(numbers)) if (!s.values.has(name)) s.values.set(name, s.x.slice(1).map(() => null));
    for (const [name, list] of s.values) list.push(numbers[name] ?? null);
    if (s.x.length > MAX_POINTS) {
      s.x.shift();
      for (const list of s.values.values()) list.shift();
    }
    s.chart.update(s.x, [...s.values].map(([label, values]) => ({ label, values })));
  };

  const render = (device: DeviceDetail) => {
    state.textContent = `${device.online ? "● online" : "○ offline"} · firmware ${device.firmware ?? "—"} · patch ${device.patch ?? "—"} · security epoch ${device.epoch ?? "—"} · last seen ${when(device.lastSeen)} · ${device.alg}`;
    state.className = device.online ? "online" : "offline";
    const doors = device.doors as DoorDescription[];
    const key = JSON.stringify(doors);
    if (key !== doorsKey) {
      doorsKey = key;
      doorsBox.replaceChildren(doorsSection(doors));
    }
    for (const row of device.telemetry) addTelemetry(row);
    if (series.size === 0) charts.replaceChildren(h("p", { class: "muted" }, "No numeric telemetry yet."));
    else charts.querySelector(":scope > p")?.remove();
    results.replaceChildren(
      ...device.results.map((r) =>
        h("tr", {}, h("td", {}, when(r.receivedAt)), h("td", {}, r.door ?? ""), h("td", {}, r.op ?? ""), h("td", { class: r.ok ? "ok" : "refused" }, r.ok ? `ok ${show(r.value)}` : `refused: ${r.code}`), h("td", { class: "mono" }, r.sender ?? "")),
      ),
    );
    if (!formBuilt && atLeast(ctx.caller.role, "operate")) {
      formBuilt = true;
      commandBox.replaceChildren(...commandForm(ctx, id, doors));
    }
  };

  const source = new EventSource(`/api/devices/${encodeURIComponent(id)}/stream`);
  source.addEventListener("device", (e) => {
    const { device } = JSON.parse((e as MessageEvent<string>).data) as { device: DeviceDetail | null };
    if (device) render(device);
  });
  source.onerror = () => {
    // A device that is not registered (404) or not allowed (403) ends the stream: say so once.
    ctx.api.get(`/api/devices/${encodeURIComponent(id)}`).catch((e: unknown) => {
      source.close();
      state.textContent = e instanceof ApiError ? `${e.message} (${e.code})` : String(e);
      state.className = "error";
    });
  };
  return {
    dispose() {
      source.close();
      for (const s of series.values()) s.chart.dispose();
    },
  };
}

/** The command form: door, operation (with the role it needs), its argument, the key file, send. */
function commandForm(ctx: AppContext, device: string, doors: DoorDescription[]): HTMLElement[] {
  const doorSelect = h("select", { id: "command-door" }, ...doors.map((d) => h("option", { value: d.name }, d.name)));
  const opSelect = h("select", { id: "command-op" });
  const argsBox = h("div", { id: "command-args" });
  const keyInput = h("input", { id: "command-key", type: "file", accept: ".key" });
  const keyState = h("p", { id: "command-key-state", class: "muted" }, "No key loaded. The key stays in this page: only the signed command is sent.");
  const send = h("button", { type: "submit", class: "primary", id: "command-send" }, "Sign and send");
  const result = h("div", { id: "command-result", class: "result", role: "status", "aria-live": "polite" });
  let key: BrowserKey | undefined;
  let field: Field | undefined;

  const fillOps = () => {
    const door = doors.find((d) => d.name === doorSelect.value);
    const ops = operationsOf(door);
    opSelect.replaceChildren(...ops.map((o) => h("option", { value: o.op }, `${o.op} (role ${o.role})`)));
    fillArgs();
  };
  const fillArgs = () => {
    const door = doors.find((d) => d.name === doorSelect.value);
    const op = operationsOf(door).find((o) => o.op === opSelect.value);
    field = op?.input ? fieldFor(op.input, "Argument") : undefined;
    argsBox.replaceChildren(field ? field.element : h("p", { class: "muted" }, "This operation takes no argument."));
  };
  doorSelect.addEventListener("change", fillOps);
  opSelect.addEventListener("change", fillArgs);
  keyInput.addEventListener("change", async () => {
    const file = keyInput.files?.[0];
    key = undefined;
    if (!file) return;
    try {
      key = await loadKeyFile(new Uint8Array(await file.arrayBuffer()));
      keyState.textContent = `Key "${key.name}" (${key.alg}) loaded in this page.`;
      keyState.className = "ok";
    } catch (e) {
      keyState.textContent = (e as Error).message;
      keyState.className = "error";
    } finally {
      // The file input keeps no copy around once imported.
      keyInput.value = "";
    }
  });

  const form = h(
    "form",
    { class: "stack", id: "command-form" },
    h("label", { for: "command-door" }, "Door"),
    doorSelect,
    h("label", { for: "command-op" }, "Operation"),
    opSelect,
    argsBox,
    h("label", { for: "command-key" }, "Your private key file (.key from gatehouse keygen)"),
    keyInput,
    keyState,
    h("p", {}, send),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    result.className = "result";
    if (!key) {
      result.textContent = "Load your key file first.";
      result.className = "result bad";
      keyInput.focus();
      return;
    }
    let args;
    try {
      args = field?.read();
    } catch (e) {
      result.textContent = (e as Error).message;
      result.className = "result bad";
      return;
    }
    send.disabled = true;
    result.textContent = "Signing and sending…";
    try {
      const message = await signCommandHere(key, { device, door: doorSelect.value, op: opSelect.value, args });
      const reply = await ctx.api.post<CommandReply>("/api/commands", { message: base64(message), device, door: doorSelect.value });
      const check = reply.verified ? "verified with the device's key" : "NOT verified";
      result.dataset.outcome = reply.ok ? "ok" : "refused";
      result.dataset.verified = String(reply.verified);
      result.textContent = reply.ok ? `ok${reply.value === undefined ? "" : `: ${show(reply.value)}`} (${check})` : `refused by the device: ${reply.code}: ${reply.message} (${check})`;
      result.className = `result ${reply.ok ? "ok" : "bad"}`;
      announce(reply.ok ? "Command done" : "Command refused");
    } catch (e) {
      result.dataset.outcome = "error";
      result.textContent = e instanceof ApiError ? `${e.code}: ${e.message}` : (e as Error).message;
      result.className = "result bad";
    } finally {
      send.disabled = false;
    }
  });
  fillOps();
  return [h("h2", { id: "command-title" }, "Send a command"), form, result];
}
