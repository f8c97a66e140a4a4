/**
 * Exports of the run store: one row per measurement (a conductance map gives one row per device, a
 * confusion matrix one per cell), with the run's metadata alongside, as CSV or Parquet.
 * Only completed attempts of steps are exported (an interrupted attempt's partial data stays in the
 * database, see run-store.ts).
 */
import { writeFileSync } from "node:fs";
import { stringify } from "csv-stringify/sync";
import { parquetWriteBuffer } from "hyparquet-writer";
import { redactSecrets } from "../../../firmware-protocol/index.ts";
import type { RunRow, RunStore } from "./run-store.ts";

export interface ExportRow {
  run_id: number;
  run_uuid: string;
  campaign_id: number;
  campaign: string;
  params: string;
  url: string;
  technology: string;
  serial: string;
  software: string;
  run_status: string;
  run_started: string;
  step: number;
  step_kind: string;
  kind: string;
  seq: number;
  taken: string;
  board_clock_s: number | null;
  row: number | null;
  col: number | null;
  x: number | null;
  x_unit: string;
  y: number | null;
  y_unit: string;
  label: string;
  meta: string;
}

/** What x and y mean for each kind of measurement. */
export const UNITS: Record<string, { x: string; y: string }> = {
  identity: { x: "", y: "" },
  pulse_response: { x: "pulse number", y: "conductance S" },
  program: { x: "target conductance S", y: "conductance S" },
  map: { x: "", y: "conductance S" },
  retention: { x: "board time s", y: "conductance S" },
  epoch: { x: "epoch", y: "test accuracy" },
  iv: { x: "voltage V", y: "current A" },
  form: { x: "pulse amplitude V", y: "conductance S" },
  confusion: { x: "", y: "count (row: true class, col: predicted)" },
};

export async function exportRows(store: RunStore, runs: RunRow[]): Promise<ExportRow[]> {
  const out: ExportRow[] = [];
  for (const run of runs) {
    const c = (await store.campaign(run.campaignId))!;
    const id = (run.identity ?? {}) as { technology?: string; serial?: string };
    const base = {
      run_id: run.id,
      run_uuid: run.uuid,
      campaign_id: c.id,
      campaign: c.name,
      params: JSON.stringify(run.params),
      url: run.url,
      technology: id.technology ?? "",
      serial: id.serial ?? "",
      software: run.software,
      run_status: run.status,
      run_started: run.started ?? "",
    };
    for (const m of await store.measurements(run.id)) {
      const u = UNITS[m.kind] ?? { x: "", y: "" };
      const common = {
        ...base,
        step: m.stepIdx + 1,
        step_kind: m.stepKind,
        kind: m.kind,
        seq: m.seq,
        taken: m.taken,
        board_clock_s: m.boardClock ?? null,
        x_unit: u.x,
        y_unit: u.y,
        label: m.label ?? "",
      };
      if (m.array && (m.kind === "map" || m.kind === "retention" || m.kind === "confusion")) {
        const [rows, cols] = m.array.shape as [number, number];
        const r0 = m.kind === "confusion" ? 0 : (m.row ?? 0);
        const c0 = m.kind === "confusion" ? 0 : (m.col ?? 0);
        for (let r = 0; r < rows; r++)
          for (let k = 0; k < cols; k++)
            out.push({
              ...common,
              row: r0 + r,
              col: c0 + k,
              x: m.x ?? null,
              y: m.array.data[r * cols + k]!,
              meta: "",
            });
      } else {
        out.push({
          ...common,
          row: m.row ?? null,
          col: m.col ?? null,
          x: m.x ?? null,
          y: m.y ?? null,
          meta: m.meta ? JSON.stringify(m.meta) : "",
        });
      }
    }
  }
  // Databases written before tokens were redacted on the way in may still hold them (redact.ts).
  for (const row of out)
    for (const [k, v] of Object.entries(row))
      if (typeof v === "string") (row as unknown as Record<string, unknown>)[k] = redactSecrets(v);
  return out;
}

const COLUMNS: Array<[keyof ExportRow, "INT32" | "DOUBLE" | "STRING"]> = [
  ["run_id", "INT32"],
  ["run_uuid", "STRING"],
  ["campaign_id", "INT32"],
  ["campaign", "STRING"],
  ["params", "STRING"],
  ["url", "STRING"],
  ["technology", "STRING"],
  ["serial", "STRING"],
  ["software", "STRING"],
  ["run_status", "STRING"],
  ["run_started", "STRING"],
  ["step", "INT32"],
  ["step_kind", "STRING"],
  ["kind", "STRING"],
  ["seq", "INT32"],
  ["taken", "STRING"],
  ["board_clock_s", "DOUBLE"],
  ["row", "INT32"],
  ["col", "INT32"],
  ["x", "DOUBLE"],
  ["x_unit", "STRING"],
  ["y", "DOUBLE"],
  ["y_unit", "STRING"],
  ["label", "STRING"],
  ["meta", "STRING"],
];

export function writeCsv(path: string, rows: ExportRow[]): void {
  writeFileSync(
    path,
    stringify(
      rows.map((r) => COLUMNS.map(([k]) => r[k])),
      { header: true, columns: COLUMNS.map(([k]) => k), cast: { number: (v) => String(v) } },
    ),
  );
}

export function writeParquet(path: string, rows: ExportRow[]): void {
  const buf = parquetWriteBuffer({
    columnData: COLUMNS.map(([name, type]) => ({ name, type, data: rows.map((r) => r[name]) })),
  });
  writeFileSync(path, new Uint8Array(buf));
}
