// The fleet: every device the caller may see, updated in place as the live feed changes (rows keep
// their place and focus; nothing reloads).

import type { DeviceSummary } from "../api";
import type { AppContext, Page } from "../context";
import { h, when } from "../dom";

const COLUMNS = ["Device", "State", "Firmware", "Patch", "Security epoch", "Last seen", "Refusals (24 h)"];

export function fleetPage(main: HTMLElement, ctx: AppContext): Page {
  const tbody = h("tbody");
  const count = h("p", { class: "muted", id: "fleet-count" }, "Waiting for the fleet…");
  const table = h("table", { id: "fleet" }, h("caption", {}, "Devices, live"), h("thead", {}, h("tr", {}, ...COLUMNS.map((c) => h("th", { scope: "col" }, c)))), tbody);
  main.replaceChildren(h("h1", { tabindex: -1 }, "Fleet"), count, table);
  const rows = new Map<string, HTMLTableRowElement>();

  const render = (devices: DeviceSummary[]) => {
    const online = devices.filter((d) => d.online).length;
    count.textContent = devices.length === 0 ? "No devices registered yet." : `${devices.length} device${devices.length === 1 ? "" : "s"}, ${online} online`;
    const seen = new Set<string>();
    devices.forEach((d, i) => {
      seen.add(d.id);
      let row = rows.get(d.id);
      if (!row) {
        row = h("tr", { "data-device": d.id }, h("th", { scope: "row" }, h("a", { href: `#/device/${encodeURIComponent(d.id)}` }, d.id)), ...COLUMNS.slice(1).map(() => h("td")));
        rows.set(d.id, row);
      }
      if (tbody.children[i] !== row) tbody.insertBefore(row, tbody.children[i] ?? null);
      const cells = row.cells;
      const state = cells[1];
      state.textContent = d.online ? "● online" : "○ offline";
      state.className = d.online ? "online" : "offline";
      row.dataset.online = String(d.online);
      cells[2].textContent = d.firmware ?? "—";
      cells[3].textContent = d.patch === null ? "—" : String(d.patch);
      cells[4].textContent = d.epoch === null ? "—" : String(d.epoch);
      cells[5].textContent = when(d.lastSeen);
      const refusals = d.refusals24h ?? 0;
      cells[6].textContent = String(refusals);
      cells[6].className = refusals > 0 ? "count-nonzero" : "";
    });
    for (const [id, row] of rows) {
      if (!seen.has(id)) {
        row.remove();
        rows.delete(id);
      }
    }
  };
  const unlisten = ctx.fleet.listen(render);
  return { dispose: unlisten };
}
