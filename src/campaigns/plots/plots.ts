/**
 * Plots of the run store, as Vega-Lite specs built from completed measurements:
 * pulse-response curves, conductance maps (heat maps), retention curves, learning curves and
 * confusion matrices. Each has a title naming the run, axes with units, and is readable alone.
 */
import type { TopLevelSpec } from "vega-lite";
import { vegaLite } from "../../vega.ts";
import type { RunRow, RunStore } from "../store/run-store.ts";
import { FONT } from "./png.ts";

export interface Plot {
  /** File name without extension, e.g. "run-3-pulse-response". */
  name: string;
  spec: TopLevelSpec;
}

/** Conductance unit for a range: nS or µS. */
export const unitOf = (gmax: number) => (gmax < 1e-6 ? { name: "nS", k: 1e9 } : { name: "µS", k: 1e6 });

const config = {
  font: FONT,
  title: { fontSize: 14, anchor: "start" as const },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 12 },
};

async function runTitle(store: RunStore, run: RunRow): Promise<string> {
  const c = (await store.campaign(run.campaignId))!;
  const params = Object.entries(run.params)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
  const tech = (run.identity as { technology?: string } | null)?.technology;
  return `run ${run.id} of "${c.name}"${params ? ` (${params})` : ""}${tech ? `, ${tech} devices` : ""}`;
}

export async function runPlots(store: RunStore, run: RunRow): Promise<Plot[]> {
  const plots: Plot[] = [];
  const title = await runTitle(store, run);

  const curve = await store.measurements(run.id, "pulse_response");
  if (curve.length > 0) {
    const u = unitOf(Math.max(...curve.map((m) => m.y ?? 0)));
    plots.push({
      name: `run-${run.id}-pulse-response`,
      spec: vegaLite({
        title: {
          text: `Pulse response, ${title}`,
          subtitle: "potentiating then depressing pulses, a read after each",
        },
        width: 520,
        height: 300,
        config,
        data: {
          values: curve.map((m) => ({
            pulse: m.x,
            g: (m.y ?? 0) * u.k,
            device: `r=${m.row} c=${m.col} (step ${m.stepIdx + 1})`,
            phase: m.label,
          })),
        },
        mark: { type: "line", point: { size: 12 } },
        encoding: {
          x: { field: "pulse", type: "quantitative", title: "pulse number" },
          y: { field: "g", type: "quantitative", title: `conductance (${u.name})` },
          color: { field: "device", type: "nominal", title: "device" },
        },
      }),
    });
  }

  for (const m of await store.measurements(run.id, "map")) {
    const [rows, cols] = m.array!.shape as [number, number];
    const data = m.array!.data;
    const u = unitOf(Math.max(...data));
    const values: Array<{ row: number; col: number; g: number }> = [];
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++)
        values.push({ row: m.row! + r, col: m.col! + c, g: data[r * cols + c]! * u.k });
    const cell = Math.max(8, Math.min(28, Math.floor(420 / Math.max(rows, cols))));
    plots.push({
      name: `run-${run.id}-step-${m.stepIdx + 1}-map`,
      spec: vegaLite({
        title: {
          text: `Conductance map, ${title}`,
          subtitle: `step ${m.stepIdx + 1} (${m.stepKind}): ${rows} x ${cols} devices from r=${m.row} c=${m.col}`,
        },
        width: cell * cols,
        height: cell * rows,
        config,
        data: { values },
        mark: "rect",
        encoding: {
          x: { field: "col", type: "ordinal", title: "column" },
          y: { field: "row", type: "ordinal", title: "row" },
          color: { field: "g", type: "quantitative", title: `G (${u.name})`, scale: { scheme: "viridis" } },
        },
      }),
    });
  }

  const ret = await store.measurements(run.id, "retention");
  if (ret.length > 0) {
    const all = ret.flatMap((m) => Array.from(m.array!.data));
    const u = unitOf(Math.max(...all));
    const hours = Math.max(...ret.map((m) => m.x ?? 0)) - Math.min(...ret.map((m) => m.x ?? 0)) > 7200;
    const tk = hours ? 1 / 3600 : 1;
    const values: Array<{ t: number; g: number; device: string }> = [];
    for (const m of ret) {
      const [rows, cols] = m.array!.shape as [number, number];
      const t0 = ret.find((x) => x.stepIdx === m.stepIdx)!.x ?? 0;
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++)
          values.push({
            t: ((m.x ?? 0) - t0) * tk,
            g: m.array!.data[r * cols + c]! * u.k,
            device: `r${m.row! + r}c${m.col! + c}`,
          });
    }
    plots.push({
      name: `run-${run.id}-retention`,
      spec: vegaLite({
        title: {
          text: `Retention, ${title}`,
          subtitle: "every device of the block (grey) and their mean (black)",
        },
        width: 520,
        height: 300,
        config,
        data: { values },
        layer: [
          {
            mark: { type: "line", color: "#bbb", strokeWidth: 1 },
            encoding: {
              x: {
                field: "t",
                type: "quantitative",
                title: `time since the first read (${hours ? "h" : "s"}, board clock)`,
              },
              y: { field: "g", type: "quantitative", title: `conductance (${u.name})` },
              detail: { field: "device", type: "nominal" },
            },
          },
          {
            mark: { type: "line", color: "black", strokeWidth: 2, point: { color: "black" } },
            encoding: {
              x: { field: "t", type: "quantitative" },
              y: { aggregate: "mean", field: "g", type: "quantitative" },
            },
          },
        ],
      }),
    });
  }

  const iv = await store.measurements(run.id, "iv");
  if (iv.length > 0) {
    const imax = Math.max(...iv.map((m) => Math.abs(m.y ?? 0)));
    const u =
      imax < 1e-6 ? { name: "nA", k: 1e9 } : imax < 1e-3 ? { name: "µA", k: 1e6 } : { name: "mA", k: 1e3 };
    const smu = (run.identity as { instrument?: { model?: string } } | null)?.instrument?.model ?? "SMU";
    plots.push({
      name: `run-${run.id}-iv`,
      spec: vegaLite({
        title: {
          text: `I-V sweep, ${title}`,
          subtitle: `measured with ${smu}; points joined in the order measured`,
        },
        width: 420,
        height: 300,
        config,
        data: { values: iv.map((m, k) => ({ v: m.x, i: (m.y ?? 0) * u.k, sweep: m.label, order: k })) },
        mark: { type: "line", point: { size: 14 } },
        encoding: {
          x: { field: "v", type: "quantitative", title: "voltage (V)" },
          y: { field: "i", type: "quantitative", title: `current (${u.name})` },
          color: { field: "sweep", type: "nominal", title: "sweep" },
          order: { field: "order", type: "quantitative" },
        },
      }),
    });
  }

  const epochs = await store.measurements(run.id, "epoch");
  if (epochs.length > 0) {
    const values = epochs.flatMap((m) => [
      { epoch: m.x, accuracy: (m.y ?? 0) * 100, set: "test" },
      {
        epoch: m.x,
        accuracy: Number((m.meta as { trainAccuracy?: number }).trainAccuracy ?? 0) * 100,
        set: "train",
      },
    ]);
    plots.push({
      name: `run-${run.id}-learning-curve`,
      spec: vegaLite({
        title: { text: `Learning curve, ${title}` },
        width: 420,
        height: 260,
        config,
        data: { values },
        mark: { type: "line", point: true },
        encoding: {
          x: { field: "epoch", type: "quantitative", title: "epoch", axis: { tickMinStep: 1 } },
          y: { field: "accuracy", type: "quantitative", title: "accuracy (%)", scale: { zero: false } },
          color: { field: "set", type: "nominal", title: "data" },
        },
      }),
    });
  }

  for (const m of await store.measurements(run.id, "confusion")) {
    const [n] = m.array!.shape as [number, number];
    const values: Array<{ truth: number; predicted: number; count: number }> = [];
    for (let t = 0; t < n; t++)
      for (let p = 0; p < n; p++) values.push({ truth: t, predicted: p, count: m.array!.data[t * n + p]! });
    plots.push({
      name: `run-${run.id}-step-${m.stepIdx + 1}-confusion`,
      spec: vegaLite({
        title: {
          text: `Confusion matrix, ${title}`,
          subtitle: `test accuracy ${((m.y ?? 0) * 100).toFixed(1)} %`,
        },
        width: 320,
        height: 320,
        config,
        data: { values },
        encoding: {
          x: { field: "predicted", type: "ordinal", title: "predicted class" },
          y: { field: "truth", type: "ordinal", title: "true class" },
        },
        layer: [
          {
            mark: "rect",
            encoding: {
              color: { field: "count", type: "quantitative", title: "images", scale: { scheme: "blues" } },
            },
          },
          {
            mark: { type: "text", fontSize: 10 },
            encoding: { text: { field: "count", type: "quantitative" } },
          },
        ],
      }),
    });
  }
  return plots;
}

/** Pulse-response curves of several runs side by side (one panel per run, own y scale). */
export async function comparePlot(store: RunStore, runs: RunRow[], name: string): Promise<Plot | undefined> {
  const curves = await Promise.all(runs.map((run) => store.measurements(run.id, "pulse_response")));
  const values = runs.flatMap((run, i) => {
    const curve = curves[i]!;
    if (curve.length === 0) return [];
    const u = unitOf(Math.max(...curve.map((m) => m.y ?? 0)));
    const label = `run ${run.id}: ${Object.values(run.params).join(" ") || (run.identity as { technology?: string })?.technology} (${u.name})`;
    return curve.map((m) => ({
      pulse: m.x,
      g: (m.y ?? 0) * u.k,
      run: label,
      device: `r=${m.row} c=${m.col}`,
    }));
  });
  if (values.length === 0) return undefined;
  return {
    name,
    spec: vegaLite({
      title: {
        text: "Pulse response per run",
        subtitle: "conductance after each pulse; unit in each panel's title",
      },
      config,
      data: { values },
      facet: { field: "run", type: "nominal", title: null },
      columns: 3,
      resolve: { scale: { y: "independent" } },
      spec: {
        width: 260,
        height: 180,
        mark: { type: "line", point: { size: 8 } },
        encoding: {
          x: { field: "pulse", type: "quantitative", title: "pulse number" },
          y: { field: "g", type: "quantitative", title: "conductance" },
          color: { field: "device", type: "nominal", title: "device" },
        },
      },
    }),
  };
}
