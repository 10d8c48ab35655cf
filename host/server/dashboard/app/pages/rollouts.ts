// Rollouts (issue 7): waves, per-device progress, reasons for refusals, abort (manage). Read every few
// seconds while the page is open, through rollouts-client.ts.

import { atLeast } from "../api";
import type { AppContext, Page } from "../context";
import { announce, h } from "../dom";
import { abortRollout, listRollouts, type Rollout } from "../rollouts-client";

const REFRESH_MS = 2000;

export function rolloutsPage(main: HTMLElement, ctx: AppContext): Page {
  const body = h("div", { id: "rollouts" }, h("p", { class: "muted" }, "Loading…"));
  main.replaceChildren(h("h1", { tabindex: -1 }, "Rollouts"), body);
  const canAbort = atLeast(ctx.caller.role, "manage");
  let timer: ReturnType<typeof setTimeout> | undefined;
  let shown = "";

  const render = (rollouts: Rollout[]) => {
    const key = JSON.stringify(rollouts);
    if (key === shown) return;
    shown = key;
    if (rollouts.length === 0) {
      body.replaceChildren(h("p", { id: "no-rollouts" }, "No rollouts."));
      return;
    }
    body.replaceChildren(
      ...rollouts.map((r) => {
        const abort = h("button", { type: "button" }, `Abort rollout ${r.id}`);
        abort.addEventListener("click", async () => {
          abort.disabled = true;
          try {
            await abortRollout(ctx.api, r.id);
            announce(`Rollout ${r.id} aborted`);
          } catch (e) {
            announce(`Cannot abort: ${(e as Error).message}`);
            abort.disabled = false;
          }
        });
        return h(
          "section",
          { "data-rollout": r.id },
          h("h2", {}, `Rollout ${r.id} (${r.firmware}): ${r.state}`),
          canAbort && (r.state.startsWith("running") || r.state.startsWith("halted")) ? h("p", {}, abort) : null,
          ...r.waves.map((w) =>
            h(
              "table",
              {},
              h("caption", {}, `Wave ${w.index + 1}: ${w.state}`),
              h("thead", {}, h("tr", {}, ...["Device", "State", "Progress", "Reason"].map((c) => h("th", { scope: "col" }, c)))),
              h(
                "tbody",
                {},
                ...w.devices.map((d) =>
                  h(
                    "tr",
                    {},
                    h("td", {}, d.device),
                    h("td", {}, d.state),
                    h("td", {}, h("progress", { max: 1, value: d.progress, "aria-label": `${d.device} progress` })),
                    h("td", { class: d.reason ? "refused" : "" }, d.reason ?? ""),
                  ),
                ),
              ),
            ),
          ),
        );
      }),
    );
  };

  const poll = async () => {
    try {
      render(await listRollouts(ctx.api));
    } catch (e) {
      body.replaceChildren(h("p", { class: "error" }, `Cannot read rollouts: ${(e as Error).message}`));
      shown = "";
    }
    timer = setTimeout(poll, REFRESH_MS);
  };
  void poll();
  return {
    dispose() {
      clearTimeout(timer);
    },
  };
}
