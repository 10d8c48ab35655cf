// Security events, live: the latest 1000 from GET /api/events, then every new one over server-sent
// events (GET /api/events/stream; the browser resumes from the last id it saw after a reconnect).
// Filters by device, door, code and principal apply at once to the table and the chart of counts per
// code over the last hour (GET /api/events/counts, then counted on as events arrive).

import type { EventRow } from "../api";
import { seriesChart } from "../charts";
import type { AppContext, Page } from "../context";
import { h, when } from "../dom";

/** Rows kept in the page (the oldest drop out). */
const MAX_ROWS = 2000;
/** Rows shown in the table. */
const SHOWN_ROWS = 500;
const BUCKET_MS = 60_000;
const CHART_CODES = 8;
const CHART_EVERY_MS = 1000;

const FILTERS = ["device", "door", "code", "principal"] as const;
type FilterName = (typeof FILTERS)[number];

export function eventsPage(main: HTMLElement, ctx: AppContext): Page {
  const inputs = Object.fromEntries(FILTERS.map((name) => [name, h("input", { id: `filter-${name}`, type: "text", autocomplete: "off" })])) as Record<FilterName, HTMLInputElement>;
  const liveState = h("span", { id: "events-live", class: "muted" }, "connecting…");
  const chart = seriesChart("Events per minute by code (last hour)", { width: 720, height: 180, bars: false });
  const tbody = h("tbody");
  const count = h("p", { class: "muted" });
  main.replaceChildren(
    h("h1", { tabindex: -1 }, "Security events"),
    h("p", {}, "Every attempt devices and the server reported, allowed or refused. ", liveState),
    h("form", { class: "filters", role: "search", "aria-label": "Filter events" }, ...FILTERS.map((name) => h("label", { for: `filter-${name}` }, name[0].toUpperCase() + name.slice(1), inputs[name]))),
    chart.element,
    count,
    h("table", { id: "events" }, h("caption", {}, "Newest first"), h("thead", {}, h("tr", {}, ...["#", "Received", "Device", "Source", "Code", "Allowed", "Principal", "Door", "Operation", "Detail"].map((c) => h("th", { scope: "col" }, c)))), tbody),
  );

  let rows: EventRow[] = [];
  /** Counts from before the page's rows, per bucket start and code (GET /api/events/counts). */
  let baseline: { start: number; code: string; count: number }[] = [];
  let baselineUntilId = 0;
  let lastId = 0;

  const matches = (e: EventRow) =>
    FILTERS.every((name) => {
      const wanted = inputs[name].value.trim().toLowerCase();
      if (wanted === "") return true;
      const value = name === "device" ? e.device : name === "door" ? e.door : name === "code" ? e.code : e.principal;
      return (value ?? "").toLowerCase().includes(wanted);
    });

  const rowOf = (e: EventRow) =>
    h(
      "tr",
      { "data-event": e.id, "data-code": e.code },
      h("td", {}, e.id),
      h("td", {}, when(e.receivedAt)),
      h("td", {}, e.device),
      h("td", {}, e.source),
      h("td", { class: e.allowed ? "" : "refused" }, e.code),
      h("td", {}, e.allowed ? "yes" : "no"),
      h("td", { class: "mono" }, e.principal ?? ""),
      h("td", {}, e.door ?? ""),
      h("td", {}, e.op ?? ""),
      h("td", {}, e.suppressed > 0 ? `${e.detail ?? ""} (+${e.suppressed} suppressed)` : (e.detail ?? "")),
    );

  let matching = 0;
  const showCount = () => (count.textContent = `${matching} of ${rows.length} events in this page match`);

  /** The whole table again (the filters changed). */
  const renderTable = () => {
    const shown = rows.filter(matches);
    matching = shown.length;
    showCount();
    tbody.replaceChildren(...shown.slice(-SHOWN_ROWS).reverse().map(rowOf));
  };

  /** New events only: their rows go on top, the oldest shown drop off (a flood costs its own rows, not the table's). */
  const appendRows = (fresh: EventRow[]) => {
    const shown = fresh.filter(matches);
    showCount();
    if (shown.length === 0) return;
    const fragment = document.createDocumentFragment();
    for (const e of shown.slice(-SHOWN_ROWS).reverse()) fragment.append(rowOf(e));
    tbody.prepend(fragment);
    while (tbody.children.length > SHOWN_ROWS) tbody.lastElementChild?.remove();
  };

  const renderChart = () => {
    const now = Date.now();
    const first = Math.floor((now - 3600_000) / BUCKET_MS) * BUCKET_MS;
    const starts: number[] = [];
    for (let t = first; t <= now; t += BUCKET_MS) starts.push(t);
    const counts = new Map<string, Map<number, number>>();
    const add = (code: string, start: number, n: number) => {
      if (start < first) return;
      const perCode = counts.get(code) ?? new Map<number, number>();
      perCode.set(start, (perCode.get(start) ?? 0) + n);
      counts.set(code, perCode);
    };
    // Without filters the server's counts cover the hour; with filters, only the page's rows can.
    const filtered = FILTERS.some((name) => inputs[name].value.trim() !== "");
    if (!filtered) for (const b of baseline) add(b.code, b.start, b.count);
    for (const e of rows) if ((filtered || e.id > baselineUntilId) && matches(e)) add(e.code, Math.floor(e.receivedAt / BUCKET_MS) * BUCKET_MS, 1 + e.suppressed);
    const top = [...counts].map(([code, m]) => ({ code, total: [...m.values()].reduce((a, b) => a + b, 0), m })).sort((a, b) => b.total - a.total).slice(0, CHART_CODES);
    chart.update(starts, top.map(({ code, m }) => ({ label: code, values: starts.map((s) => m.get(s) ?? 0) })));
  };

  // Rows are added at the next frame, all that arrived since together; the chart (per minute) is drawn
  // again at most once a second.
  let fresh: EventRow[] = [];
  let framePending = false;
  let chartTimer: ReturnType<typeof setTimeout> | undefined;
  const scheduleChart = (delay = CHART_EVERY_MS) => {
    if (chartTimer === undefined) chartTimer = setTimeout(() => {
      chartTimer = undefined;
      renderChart();
    }, delay);
  };
  const arrived = (row: EventRow) => {
    rows.push(row);
    if (matches(row)) matching++;
    if (rows.length > MAX_ROWS) matching -= rows.splice(0, rows.length - MAX_ROWS).filter(matches).length;
    fresh.push(row);
    scheduleChart();
    if (framePending) return;
    framePending = true;
    requestAnimationFrame(() => {
      framePending = false;
      const batch = fresh;
      fresh = [];
      appendRows(batch);
    });
  };
  const refilter = () => {
    fresh = [];
    renderTable();
    clearTimeout(chartTimer);
    chartTimer = undefined;
    renderChart();
  };
  for (const input of Object.values(inputs)) input.addEventListener("input", refilter);

  let source: EventSource | undefined;
  let disposed = false;
  (async () => {
    const [{ events }, counts] = await Promise.all([
      ctx.api.get<{ events: EventRow[]; lastId: number | null }>("/api/events?limit=1000"),
      ctx.api.get<{ buckets: { start: number; code: string; count: number }[] }>(`/api/events/counts?hours=1&bucket=${BUCKET_MS / 1000}`),
    ]);
    if (disposed) return;
    rows = events;
    lastId = events.at(-1)?.id ?? 0;
    baseline = counts.buckets;
    baselineUntilId = lastId;
    refilter();
    source = new EventSource(`/api/events/stream?format=gatehouse&after=${lastId}`);
    source.onopen = () => (liveState.textContent = "Live.");
    source.onerror = () => (liveState.textContent = "Reconnecting…");
    source.onmessage = (e) => {
      const row = JSON.parse(e.data as string) as EventRow;
      if (row.id <= lastId) return;
      lastId = row.id;
      arrived(row);
    };
  })().catch((e: unknown) => {
    liveState.textContent = `Cannot load events: ${(e as Error).message}`;
  });
  return {
    dispose() {
      disposed = true;
      source?.close();
      clearTimeout(chartTimer);
      chart.dispose();
    },
  };
}
