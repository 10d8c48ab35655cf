// The audit log (administer): every API call, allowed or refused, newest first, paged back with
// "Older".

import type { AppContext, Page } from "../context";
import { h, when } from "../dom";

interface AuditEntry {
  id: number;
  time: number;
  principalKind: string | null;
  principal: string | null;
  role: string | null;
  method: string;
  path: string;
  device: string | null;
  status: number;
  code: string | null;
  address: string;
  detail: string | null;
}

const PAGE = 100;

export function auditPage(main: HTMLElement, ctx: AppContext): Page {
  const tbody = h("tbody");
  const older = h("button", { type: "button" }, "Older");
  const refresh = h("button", { type: "button" }, "Refresh");
  const state = h("p", { class: "muted" });
  main.replaceChildren(
    h("h1", { tabindex: -1 }, "Audit log"),
    h("p", {}, "Every call to the fleet API, allowed or refused. The log is append-only."),
    h("p", {}, refresh, " ", older),
    state,
    h("table", { id: "audit" }, h("caption", {}, "Newest first"), h("thead", {}, h("tr", {}, ...["#", "Time", "Who", "Role", "Call", "Device", "Status", "Address", "Detail"].map((c) => h("th", { scope: "col" }, c)))), tbody),
  );
  let oldest: number | undefined;
  const rowOf = (e: AuditEntry) =>
    h(
      "tr",
      { "data-audit": e.id },
      h("td", {}, e.id),
      h("td", {}, when(e.time)),
      h("td", {}, e.principal ? `${e.principalKind} ${e.principal}` : "nobody"),
      h("td", {}, e.role ?? ""),
      h("td", { class: "mono" }, `${e.method} ${e.path}`),
      h("td", {}, e.device ?? ""),
      h("td", { class: e.status >= 400 ? "refused" : "" }, `${e.status}${e.code ? ` ${e.code}` : ""}`),
      h("td", {}, e.address),
      h("td", {}, e.detail ?? ""),
    );
  const load = async (before?: number) => {
    const { entries } = await ctx.api.get<{ entries: AuditEntry[] }>(`/api/audit?limit=${PAGE}${before ? `&before=${before}` : ""}`);
    if (before === undefined) tbody.replaceChildren();
    tbody.append(...[...entries].reverse().map(rowOf));
    if (entries.length > 0) oldest = entries[0].id;
    older.disabled = entries.length < PAGE;
    state.textContent = `${tbody.children.length} entries shown`;
  };
  const failed = (e: unknown) => (state.textContent = `Cannot read the audit log: ${(e as Error).message}`);
  refresh.addEventListener("click", () => load().catch(failed));
  older.addEventListener("click", () => load(oldest).catch(failed));
  load().catch(failed);
  return { dispose() {} };
}
