// Small time-series charts with uPlot (canvas; its styles come from /app/uplot.css, and it sets element
// styles through the CSSOM, which the page's CSP allows). Each chart has a heading and a text summary
// beside it, so the numbers are readable without the picture.

import uPlot from "uplot";
import { h } from "./dom";

const COLORS = ["#0b5cad", "#b42318", "#1a7f37", "#9a6700", "#8250df", "#bc4c00", "#1b7c83", "#57606a"];

export interface SeriesChart {
  readonly element: HTMLElement;
  /** x: times in ms; one array of values per series (null: no value at that time). */
  update(x: number[], series: { label: string; values: (number | null)[] }[]): void;
  dispose(): void;
}

export function seriesChart(title: string, options: { width?: number; height?: number; bars?: boolean } = {}): SeriesChart {
  const box = h("div", { class: "u-box" });
  const summary = h("p", { class: "muted chart-summary" });
  const element = h("figure", { class: "chart" }, h("h3", {}, title), box, summary);
  let plot: uPlot | undefined;
  let labels = "";
  return {
    element,
    update(x, series) {
      const key = series.map((s) => s.label).join("\u0000");
      const data = [x.map((ms) => ms / 1000), ...series.map((s) => s.values)] as uPlot.AlignedData;
      if (!plot || key !== labels) {
        plot?.destroy();
        labels = key;
        plot = new uPlot(
          {
            width: options.width ?? 320,
            height: options.height ?? 140,
            legend: { show: series.length > 1 },
            series: [
              {},
              ...series.map((s, i) => ({
                label: s.label,
                stroke: COLORS[i % COLORS.length],
                width: 1.5,
                ...(options.bars ? { paths: uPlot.paths.bars?.({ size: [0.8, 40] }), fill: COLORS[i % COLORS.length] + "66" } : {}),
              })),
            ],
            axes: [{}, { size: 40 }],
          },
          data,
          box,
        );
      } else {
        plot.setData(data);
      }
      const latest = series.map((s) => `${s.label}: ${s.values.filter((v) => v !== null).at(-1) ?? "none"}`).join(", ");
      summary.textContent = x.length === 0 ? "no data yet" : `${x.length} points; latest ${latest}`;
    },
    dispose() {
      plot?.destroy();
      plot = undefined;
    },
  };
}
