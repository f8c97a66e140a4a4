/**
 * `xbar runs list|show|export|plot|copy`: the run database, read (and copied) by commands that never
 * write to it, so they work while a campaign runs (on a snapshot of what it has committed).
 */

import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Command, Option } from "commander";
import { ErrorCode } from "../../firmware-protocol/constants.ts";
import { XbarError } from "../../firmware-protocol/errors.ts";
import { exportRows, writeCsv, writeParquet } from "../campaigns/store/export.ts";
import { type RunRow, RunStore } from "../campaigns/store/run-store.ts";
import { isPostgresUrl } from "../campaigns/store/sql.ts";
import { dbOption } from "./options.ts";
import { fmtParams, stepSummary } from "./run-format.ts";

export function addRunsCommands(program: Command, out: (s: string) => void): void {
  const runsCmd = program
    .command("runs")
    .description("the run database: list, show, export (CSV, Parquet), plot (SVG, PNG)")
    .addHelpText(
      "after",
      "\nWhile a campaign runs, these commands read a snapshot of what it has committed so far.\n\nExamples:\n  xbar runs list\n  xbar runs show 3\n  xbar runs export 3 --csv out.csv\n  xbar runs plot 3 --out plots/",
    );
  runsCmd
    .command("list")
    .description("every run: id, campaign, sweep values, status, start and end, measurements")
    .addOption(dbOption())
    .option("--json", "print JSON")
    .addHelpText("after", "\nExamples:\n  xbar runs list\n  xbar runs list --db lab.sqlite --json")
    .action(async (o: { db: string; json?: boolean }) => {
      const store = await readStore(o.db);
      try {
        const runs = await store.runs();
        const counts = new Map<number, number>();
        for (const r of runs) counts.set(r.id, await store.measurementCount(r.id));
        if (o.json) return out(JSON.stringify(runs.map((r) => ({ ...r, measurements: counts.get(r.id) }))));
        if (runs.length === 0) return out(`no runs in ${store.location}`);
        out(
          "id  campaign            status     started                   ended                     measurements  params",
        );
        for (const r of runs) {
          const c = (await store.campaign(r.campaignId))!;
          out(
            `${String(r.id).padEnd(3)} ${`${c.id}:${c.name}`.slice(0, 19).padEnd(19)} ${r.status.padEnd(10)} ${(r.started ?? "-").padEnd(25)} ${(r.ended ?? "-").padEnd(25)} ${String(counts.get(r.id)).padStart(12)}  ${fmtParams(r.params)}`,
          );
        }
      } finally {
        await store.close();
      }
    });
  runsCmd
    .command("export")
    .description(
      "export measurements, one row per measurement with the run's metadata, as CSV and/or Parquet",
    )
    .argument("[run-ids...]", "runs to export (default: all)")
    .option("--campaign <id>", "every run of this campaign")
    .option("--csv <file>", "write CSV")
    .option("--parquet <file>", "write Parquet")
    .addOption(dbOption())
    .addHelpText(
      "after",
      "\nColumns: run_id, run_uuid, campaign_id, campaign, params (sweep values, JSON), url, technology, serial,\nsoftware, run_status, run_started, step, step_kind, kind, seq, taken, board_clock_s, row, col, x, x_unit,\ny, y_unit, label, meta. A conductance map gives one row per device.\n\nExamples:\n  xbar runs export --campaign 1 --csv lab.csv --parquet lab.parquet\n  xbar runs export 4 5 --csv two-runs.csv",
    )
    .action(async (ids: string[], o: { db: string; campaign?: string; csv?: string; parquet?: string }) => {
      if (!o.csv && !o.parquet)
        throw new XbarError(ErrorCode.BAD_INPUT, "give --csv FILE and/or --parquet FILE");
      const store = await readStore(o.db);
      try {
        const rows = await exportRows(store, await selectRuns(store, ids, o.campaign));
        if (o.csv) {
          writeCsv(o.csv, rows);
          out(`wrote ${rows.length} rows to ${o.csv}`);
        }
        if (o.parquet) {
          writeParquet(o.parquet, rows);
          out(`wrote ${rows.length} rows to ${o.parquet}`);
        }
      } finally {
        await store.close();
      }
    });
  runsCmd
    .command("plot")
    .description(
      "plots from the database as SVG and PNG: pulse response, conductance maps, retention, learning curves, confusion matrices",
    )
    .argument("[run-ids...]", "runs to plot (default: all)")
    .option("--campaign <id>", "every run of this campaign, plus a side-by-side pulse-response plot")
    .requiredOption("--out <dir>", "folder to write the plots to (created if missing)")
    .addOption(new Option("--format <formats>", "svg, png or svg,png").default("svg,png"))
    .addOption(dbOption())
    .addHelpText(
      "after",
      "\nExamples:\n  xbar runs plot --campaign 1 --out plots/\n  xbar runs plot 3 --out plots/ --format svg",
    )
    .action(async (ids: string[], o: { db: string; campaign?: string; out: string; format: string }) => {
      const formats = o.format.split(",").map((f) => f.trim());
      for (const f of formats)
        if (f !== "svg" && f !== "png")
          throw new XbarError(ErrorCode.BAD_INPUT, `--format takes svg, png or svg,png, not "${f}"`);
      const { runPlots, comparePlot } = await import("../campaigns/plots/plots.ts");
      const { toSvg } = await import("../vega.ts");
      const { svgToPng } = await import("../campaigns/plots/png.ts");
      const store = await readStore(o.db);
      const plots = [];
      try {
        const runs = await selectRuns(store, ids, o.campaign);
        for (const r of runs) plots.push(...(await runPlots(store, r)));
        if (o.campaign !== undefined) {
          const cmp = await comparePlot(store, runs, `campaign-${o.campaign}-pulse-response`);
          if (cmp) plots.push(cmp);
        }
      } finally {
        await store.close();
      }
      mkdirSync(o.out, { recursive: true });
      for (const p of plots) {
        const svg = await toSvg(p.spec);
        if (formats.includes("svg")) writeFileSync(join(o.out, `${p.name}.svg`), svg);
        if (formats.includes("png")) writeFileSync(join(o.out, `${p.name}.png`), await svgToPng(svg));
      }
      out(
        `wrote ${plots.length} plot(s) as ${formats.join(" and ")} to ${o.out}: ${plots.map((p) => p.name).join(", ")}`,
      );
    });
  runsCmd
    .command("show")
    .description("one run: identity, configuration, software, steps and their results")
    .argument("<run-id>", "run id")
    .addOption(dbOption())
    .option("--json", "print JSON")
    .option("--campaign", "print the campaign file as it was run")
    .addHelpText("after", "\nExamples:\n  xbar runs show 3\n  xbar runs show 3 --campaign > again.yaml")
    .action(async (id: string, o: { db: string; json?: boolean; campaign?: boolean }) => {
      const store = await readStore(o.db);
      try {
        const run = await store.run(Number(id));
        if (!run) throw new XbarError(ErrorCode.BAD_INPUT, `no run ${id} in ${store.location}`);
        const c = (await store.campaign(run.campaignId))!;
        if (o.campaign) return out(c.text);
        const steps = await store.steps(run.id);
        if (o.json) return out(JSON.stringify({ run, campaign: c, steps }));
        out(`run ${run.id} ${run.uuid}: ${run.status}${run.error ? ` (${run.error})` : ""}`);
        out(`campaign ${c.id} "${c.name}" (${c.file ?? "-"}), params ${fmtParams(run.params) || "-"}`);
        out(
          `board ${run.url}${run.identity ? `: ${(run.identity as { vendor: string }).vendor} ${(run.identity as { model: string }).model} ${(run.identity as { rows: number }).rows} x ${(run.identity as { cols: number }).cols} ${(run.identity as { technology: string }).technology}` : ""}`,
        );
        out(`config ${JSON.stringify(run.config)}`);
        out(
          `software ${run.software} on ${run.host ?? "-"}; started ${run.started ?? "-"}, ended ${run.ended ?? "-"}`,
        );
        for (const s of steps)
          out(
            `  step ${s.idx + 1} ${s.kind} attempt ${s.attempt}: ${s.status}${s.error ? ` (${s.error})` : ""} ${s.result ? stepSummary(s.result) : ""}`,
          );
      } finally {
        await store.close();
      }
    });
  runsCmd
    .command("copy")
    .description("copy campaigns, runs, steps and measurements from one run database to another")
    .requiredOption("--from <file|url>", "the database to copy from (SQLite file or postgres:// URL)")
    .requiredOption("--to <file|url>", "the database to copy to (created or migrated as needed)")
    .option("--campaign <ids...>", "only these campaigns (ids in the source)")
    .addHelpText(
      "after",
      "\nA campaign already in the target (same uuid) is skipped, so copying again copies nothing twice.\nIds are given anew by the target.\n\nExamples:\n  xbar runs copy --from xbar-runs.sqlite --to postgres://lab@db.lab/xbar\n  xbar runs copy --from postgres://lab@db.lab/xbar --to backup.sqlite --campaign 3 4",
    )
    .action(async (o: { from: string; to: string; campaign?: string[] }) => {
      const only = o.campaign?.map((c) => {
        const n = Number(c);
        if (!Number.isInteger(n) || n < 1)
          throw new XbarError(ErrorCode.BAD_INPUT, `--campaign takes campaign ids, not "${c}"`);
        return n;
      });
      const { copyRuns } = await import("../campaigns/store/copy.ts");
      const from = await readStore(o.from);
      try {
        const to = await RunStore.open(o.to);
        try {
          const r = await copyRuns(from, to, only);
          out(
            `copied ${r.campaigns} campaign(s), ${r.runs} run(s), ${r.steps} step attempt(s), ${r.measurements} measurement(s) from ${from.location} to ${to.location}${r.skipped ? `; ${r.skipped} campaign(s) already there, skipped` : ""}`,
          );
          if (r.runIds.size > 0) out(`run ids: ${[...r.runIds].map(([a, b]) => `${a} -> ${b}`).join(", ")}`);
        } finally {
          await to.close();
        }
      } finally {
        await from.close();
      }
    });
  // Bad usage of a `runs` subcommand is exit 2, as for every other command (src/cli/main.ts).
  for (const c of runsCmd.commands) c.exitOverride();
}

/** Runs named by ids, or by --campaign, or all runs. */
export async function selectRuns(store: RunStore, ids: string[], campaign?: string): Promise<RunRow[]> {
  if (campaign !== undefined) {
    const runs = await store.runsOf(Number(campaign));
    if (runs.length === 0)
      throw new XbarError(ErrorCode.BAD_INPUT, `no campaign ${campaign} in ${store.location}`);
    return runs;
  }
  if (ids.length === 0) return store.runs();
  const runs: RunRow[] = [];
  for (const id of ids) {
    const r = await store.run(Number(id));
    if (!r) throw new XbarError(ErrorCode.BAD_INPUT, `no run ${id} in ${store.location}`);
    runs.push(r);
  }
  return runs;
}

/**
 * The run database for a reading command: itself, or while a campaign holds it a snapshot of what is
 * committed so far (said on stderr, so that JSON on stdout stays clean).
 */
async function readStore(path: string): Promise<RunStore> {
  // Reading never creates a database: a mistyped --db is named, not answered with an empty one.
  if (!isPostgresUrl(path) && !existsSync(path))
    throw new XbarError(
      ErrorCode.BAD_INPUT,
      `no run database at ${path} (xbar run --db ${path} creates one; $XBAR_DB sets the default)`,
    );
  const store = await RunStore.openForReading(path);
  if (store.snapshotOf !== undefined)
    process.stderr.write(
      `xbar: ${path} is in use by process ${store.snapshotOf} (a campaign running): reading a snapshot of what it has committed so far\n`,
    );
  return store;
}
