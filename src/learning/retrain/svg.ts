/**
 * The retraining experiment as an SVG (Vega-Lite, rendered in Node): the array after each phase as a
 * heat map on one colour scale, and the pattern's mean conductance against the training window for the
 * naive training and the retraining. vega (src/vega.ts) is loaded only when a picture is asked for.
 */
import type { RetrainResult } from "./retrain.ts";

export async function retrainSvg(
  r: RetrainResult,
  title = "Retraining the letter F on ts-pcm cells",
): Promise<string> {
  const { toSvg, vegaLite } = await import("../../vega.ts");
  const cells: Array<Record<string, string | number>> = [];
  const names: Record<string, string> = {
    reset: "0 after RESET",
    naive: "1 trained (naive)",
    forget: "2 forgotten",
    retrain: "3 retrained",
  };
  for (const p of r.phases) {
    for (let i = 0; i < p.map.rows; i++)
      for (let j = 0; j < p.map.cols; j++)
        cells.push({ phase: names[p.name]!, row: i, col: j, g: p.map.data[i * p.map.cols + j]! * 1e6 });
  }
  const curve: Array<Record<string, string | number>> = [];
  for (const p of r.phases) {
    if (!p.curve) continue;
    p.curve.forEach((g, k) => {
      curve.push({ step: k, g: g * 1e6, series: p.name === "naive" ? "naive training" : "retraining" });
    });
  }
  const target = Number(r.options.target) * 1e6;
  const px = Math.max(12, Math.round(140 / r.size));
  const spec = vegaLite({
    title: {
      text: title,
      subtitle: `naive ${r.phases.find((p) => p.name === "naive")!.steps} windows, retraining ${r.phases.find((p) => p.name === "retrain")!.steps} windows to the trained state (${(Number(r.options.need) * 100).toFixed(0)} % of the pattern at or above ${target} µS)`,
      anchor: "start",
    },
    vconcat: [
      {
        data: { values: cells },
        facet: { column: { field: "phase", type: "nominal", title: null } },
        spec: {
          width: px * r.size,
          height: px * r.size,
          mark: "rect",
          encoding: {
            x: { field: "col", type: "ordinal", title: null, axis: null },
            y: { field: "row", type: "ordinal", title: null, axis: null },
            color: {
              field: "g",
              type: "quantitative",
              title: "G (µS)",
              scale: { scheme: "greys", domain: [0, Math.max(25, ...cells.map((c) => Number(c.g)))] },
            },
          },
        },
      },
      {
        width: 560,
        height: 220,
        layer: [
          {
            data: { values: curve },
            mark: { type: "line", point: true },
            encoding: {
              x: {
                field: "step",
                type: "quantitative",
                title: "training window (0: after the starting SET pulse)",
              },
              y: { field: "g", type: "quantitative", title: "mean G of the pattern (µS)" },
              color: { field: "series", type: "nominal", title: null, legend: { orient: "bottom" } },
            },
          },
          {
            data: { values: [{ y: target }] },
            mark: { type: "rule", strokeDash: [4, 4] },
            encoding: { y: { field: "y", type: "quantitative" } },
          },
        ],
      },
    ],
    config: { font: "Helvetica, Arial, sans-serif" },
  });
  return toSvg(spec);
}
