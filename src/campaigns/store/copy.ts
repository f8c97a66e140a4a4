/**
 * Moves history between run stores (`xbar runs copy --from runs.sqlite --to postgres://...`): every
 * campaign with its runs, step attempts and measurements, byte for byte (blobs, JSON, timestamps),
 * one campaign per transaction. Ids are given anew by the target (it may hold runs of its own); a
 * campaign is known by its uuid, so a campaign already in the target is skipped and copying twice
 * copies nothing twice.
 */

import type { RunStore } from "./run-store.ts";
import type { Row, SqlQuery, SqlValue } from "./sql.ts";

export interface CopyReport {
  campaigns: number;
  runs: number;
  steps: number;
  measurements: number;
  /** Campaigns already in the target (same uuid), not copied again. */
  skipped: number;
  /** Source run id → target run id. */
  runIds: Map<number, number>;
}

const RUN_COLS = [
  "uuid",
  "idx",
  "params",
  "url",
  "status",
  "started",
  "ended",
  "error",
  "identity",
  "config",
  "limits",
  "software",
  "host",
];
const STEP_COLS = ["idx", "attempt", "kind", "spec", "status", "started", "ended", "error", "result"];
const MEAS_COLS = [
  "seq",
  "kind",
  "taken",
  "board_clock",
  "row",
  "col",
  "x",
  "y",
  "label",
  "dtype",
  "shape",
  "data",
  "meta",
];
/** Measurements per INSERT. */
const BATCH = 400;

const val = (v: unknown): SqlValue =>
  v === undefined ? null : v instanceof Uint8Array ? v : (v as SqlValue);
const placeholders = (n: number) => `(${Array.from({ length: n }, () => "?").join(", ")})`;

async function insertReturningId(
  q: SqlQuery,
  table: string,
  cols: string[],
  values: SqlValue[],
): Promise<number> {
  const r = await q.get(
    `INSERT INTO ${table} (${cols.join(", ")}) VALUES ${placeholders(cols.length)} RETURNING id`,
    values,
  );
  return Number(r!.id);
}

export async function copyRuns(from: RunStore, to: RunStore, only?: number[]): Promise<CopyReport> {
  const report: CopyReport = {
    campaigns: 0,
    runs: 0,
    steps: 0,
    measurements: 0,
    skipped: 0,
    runIds: new Map(),
  };
  const campaigns = (await from.db.all("SELECT * FROM campaigns ORDER BY id")).filter(
    (c) => !only || only.includes(Number(c.id)),
  );
  for (const c of campaigns) {
    if (await to.campaignByUuid(String(c.uuid))) {
      report.skipped++;
      continue;
    }
    const runs = await from.db.all("SELECT * FROM runs WHERE campaign_id = ? ORDER BY idx", [Number(c.id)]);
    await to.db.tx(async (q) => {
      const cid = await insertReturningId(
        q,
        "campaigns",
        ["uuid", "name", "file", "text", "created", "software"],
        [c.uuid, c.name, c.file, c.text, c.created, c.software].map(val),
      );
      for (const r of runs) {
        const rid = await insertReturningId(
          q,
          "runs",
          ["campaign_id", ...RUN_COLS],
          [cid, ...RUN_COLS.map((k) => val(r[k]))],
        );
        report.runIds.set(Number(r.id), rid);
        report.runs++;
        const steps = await from.db.all("SELECT * FROM steps WHERE run_id = ? ORDER BY id", [Number(r.id)]);
        for (const s of steps) {
          const sid = await insertReturningId(
            q,
            "steps",
            ["run_id", ...STEP_COLS],
            [rid, ...STEP_COLS.map((k) => val(s[k]))],
          );
          report.steps++;
          report.measurements += await copyMeasurements(from, q, Number(s.id), sid);
        }
      }
    });
    report.campaigns++;
  }
  return report;
}

async function copyMeasurements(from: RunStore, q: SqlQuery, src: number, dst: number): Promise<number> {
  let n = 0;
  let after = -1;
  for (;;) {
    const rows: Row[] = await from.db.all(
      `SELECT * FROM measurements WHERE step_id = ? AND seq > ? ORDER BY seq LIMIT ${BATCH}`,
      [src, after],
    );
    if (rows.length === 0) return n;
    await q.run(
      `INSERT INTO measurements (step_id, ${MEAS_COLS.join(", ")}) VALUES ${rows.map(() => placeholders(MEAS_COLS.length + 1)).join(", ")}`,
      rows.flatMap((m) => [dst, ...MEAS_COLS.map((k) => val(m[k]))]),
    );
    n += rows.length;
    after = Number(rows.at(-1)!.seq);
  }
}
