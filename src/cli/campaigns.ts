/**
 * `xbar run CAMPAIGN.yaml [--dry-run] [--db FILE]` and `xbar run --resume RUN_ID`: open the campaign
 * (new, or the runs left of a resumed one), then execute it, printing each run and step (the
 * database's reading commands, `xbar runs …`, are in runs-commands.ts).
 */
import { basename } from "node:path";
import type { Command } from "commander";
import { ErrorCode } from "../../firmware-protocol/constants.ts";
import { errorMessage, XbarError } from "../../firmware-protocol/errors.ts";
import { redactSecrets } from "../../firmware-protocol/redact.ts";
import { type Campaign, loadCampaignFile, parseCampaign } from "../campaigns/load.ts";
import { describePlan, estimateStep, fmtDuration } from "../campaigns/plan.ts";
import { checkCampaign, type RunnerEvents, runCampaign } from "../campaigns/runner.ts";
import { type RunRow, RunStore } from "../campaigns/store/run-store.ts";
import { softwareVersion } from "../version.ts";
import type { RunView } from "../view/run-view.ts";
import { EXIT } from "./common.ts";
import { dbOption } from "./options.ts";
import { type Progress, progressBar } from "./progress.ts";
import { fmtParams, stepSummary } from "./run-format.ts";
import { addViewOptions, startRunView, type ViewFlags } from "./view.ts";
import { campaignFeed, withFeed } from "./view-feed.ts";

/** Options of `xbar run`, the live view's included. */
type RunFlags = ViewFlags & { dryRun?: boolean; resume?: string; db: string };
type Out = (s: string) => void;

export function addRunCommands(program: Command, out: (s: string) => void): void {
  addViewOptions(program.command("run"))
    .description(
      "run a campaign file (YAML): its plan first, then every run and step, recorded in the run database",
    )
    .argument("[campaign.yaml]", "the campaign file")
    .option("--dry-run", "validate the file and show the plan and the estimated time; send nothing")
    .option("--resume <run-id>", "continue the campaign of this run after its last completed step")
    .addOption(dbOption())
    .addHelpText(
      "after",
      `
Examples:
  xbar run examples/three-presets.yaml --dry-run
  xbar run examples/three-presets.yaml --db lab.sqlite
  xbar run --resume 4 --db lab.sqlite          (after Ctrl-C or a crash)
  xbar run examples/train-small.yaml --view 8080  (watch it at http://127.0.0.1:8080/)

Exit status: 0 completed, 1 failed (the run is kept as failed), 2 bad usage or campaign file,
130 interrupted (Ctrl-C; the run is kept as aborted and can be resumed).`,
    )
    .action(async (file: string | undefined, o: RunFlags) => {
      if (Boolean(file) === Boolean(o.resume))
        throw new XbarError(ErrorCode.BAD_INPUT, "give a campaign file, or --resume RUN_ID (not both)");
      const opened = file ? await openNewCampaign(file, o, out) : await openResumedCampaign(o, out);
      if (opened) await executeCampaign(opened, o, out);
    });
}

/** A campaign ready to run: its runs recorded in the store (new, or left to do of a resumed one). */
interface OpenedCampaign {
  campaign: Campaign;
  store: RunStore;
  runs: RunRow[];
}

/**
 * `xbar run FILE`: loads the file, prints its plan, checks it against its boards, then (unless a dry
 * run) records the campaign and its runs. Undefined when there is nothing to run.
 */
async function openNewCampaign(file: string, o: RunFlags, out: Out): Promise<OpenedCampaign | undefined> {
  let campaign: Campaign;
  try {
    campaign = loadCampaignFile(file);
  } catch (e) {
    // A bad campaign file is bad usage (exit 2), refused before anything is sent.
    process.stderr.write(`xbar: ${errorMessage(e)}\n`);
    process.exitCode = EXIT.USAGE;
    return undefined;
  }
  for (const l of describePlan(campaign).lines) out(l);
  // Checked against the boards before anything is recorded or applied (a dry run included).
  for (const c of await checkCampaign(campaign, Boolean(o.dryRun)))
    out(
      c.status === "checked"
        ? `checked against ${redactSecrets(c.url)}: ${c.detail}, every step within its bounds and envelope`
        : `not checked against ${redactSecrets(c.url)} (not reachable from here: ${c.detail}); only the file and the URL were checked`,
    );
  if (o.dryRun) return undefined;
  const store = await RunStore.open(o.db);
  const created = await store.createCampaign({
    name: campaign.name,
    file: basename(file),
    text: campaign.text,
    software: softwareVersion(),
    runs: campaign.runs.map((r) => ({ params: r.params, url: r.url })),
  });
  out(
    `campaign ${created.campaign.id}: runs ${created.runs.map((r) => r.id).join(", ")} in ${store.location}`,
  );
  return { campaign, store, runs: created.runs };
}

/** `xbar run --resume ID`: the campaign of that run, from the store, with the runs not completed. */
async function openResumedCampaign(o: RunFlags, out: Out): Promise<OpenedCampaign | undefined> {
  const id = Number(o.resume);
  if (!Number.isInteger(id) || id < 1)
    throw new XbarError(ErrorCode.BAD_INPUT, `--resume takes a run id, not "${o.resume}"`);
  const store = await RunStore.open(o.db);
  const run = await store.run(id);
  if (!run) {
    await store.close();
    throw new XbarError(ErrorCode.BAD_INPUT, `no run ${id} in ${store.location}`);
  }
  const c = (await store.campaign(run.campaignId))!;
  const campaign = parseCampaign(c.text, c.file ?? "campaign.yaml");
  const runs = await store.runsOf(run.campaignId);
  const left = runs.filter((r) => r.status !== "completed");
  if (left.length === 0) {
    await store.close();
    out(`campaign ${c.id} (run ${id}) is already completed`);
    return undefined;
  }
  out(`resuming campaign ${c.id} "${c.name}": runs ${left.map((r) => `${r.id} (${r.status})`).join(", ")}`);
  if (o.dryRun) {
    for (const l of describePlan(campaign).lines) out(l);
    await store.close();
    return undefined;
  }
  return { campaign, store, runs };
}

/**
 * Runs an opened campaign to its end, printing each run and step; Ctrl-C, SIGTERM or Stop on the view
 * aborts it (array idle, data kept, exit 130 with the command to resume). Closes the store.
 */
async function executeCampaign(
  { campaign, store, runs }: OpenedCampaign,
  o: RunFlags,
  out: Out,
): Promise<void> {
  const ctl = new AbortController();
  const abort = (why: string) => {
    if (ctl.signal.aborted) return;
    process.stderr.write(`xbar: ${why}: aborting the campaign (array left idle, data kept)\n`);
    ctl.abort();
  };
  const onSignal = (sig: NodeJS.Signals) => abort(sig);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let rv: RunView | undefined;
  try {
    rv = await startRunView(
      o,
      "run",
      `campaign "${campaign.name}"`,
      () => abort("Stop pressed on the view"),
      out,
      ctl.signal,
    );
    const feed = rv && campaignFeed(rv, campaign, runs);
    const res = await runCampaign(store, campaign, runs, {
      signal: ctl.signal,
      software: softwareVersion(),
      wrapBoard: rv && ((b) => rv!.view.observe(b)),
      events: withFeed(feed, printedEvents(campaign.runs[0]!.steps.length, out)),
    });
    if (res.status === "aborted") {
      const r = (await store.runsOf(runs[0]!.campaignId)).find((x) => x.status === "aborted");
      const resume = `xbar run --resume ${r?.id ?? runs[0]!.id} --db ${o.db}`;
      out(`aborted; resume with: ${resume}`);
      process.exitCode = EXIT.INTERRUPTED;
      await rv?.finish("stopped", `resume with: ${resume}`, EXIT.INTERRUPTED, false);
    } else if (res.status === "failed") {
      await rv?.finish("failed", errorMessage(res.error), EXIT.ERROR, false);
      throw res.error;
    } else await rv?.finish("completed", undefined, EXIT.OK, false);
  } finally {
    await rv?.finish("failed", "the command ended with an error", EXIT.ERROR, false);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await store.close();
  }
}

/** What `xbar run` prints as the campaign goes: a line per run and step, a progress bar within a step. */
function printedEvents(nSteps: number, out: Out): RunnerEvents {
  let bar: Progress | undefined;
  let warnings = 0;
  return {
    runStart: (r, i, n) => {
      warnings = 0;
      out(
        `run ${r.id} (${i + 1}/${n}${Object.keys(r.params).length ? `, ${fmtParams(r.params)}` : ""}) on ${r.url}`,
      );
    },
    stepSkipped: (r, idx, s) =>
      out(`  run ${r.id} step ${idx + 1}/${nSteps} ${s.kind}: already completed, skipped`),
    stepStart: (r, idx, s) => {
      out(`  run ${r.id} step ${idx + 1}/${nSteps} ${s.kind}: ${estimateStep(s, r.url).what}`);
      bar = undefined;
    },
    stepProgress: (d, t, s) => {
      bar ??= progressBar(t, "    ");
      bar.update(d, s ? { status: s } : undefined);
    },
    stepEnd: (r, idx, s, result, ms) => {
      bar?.stop();
      bar = undefined;
      out(
        `  run ${r.id} step ${idx + 1}/${nSteps} ${s.kind}: done in ${fmtDuration(ms / 1000)} ${stepSummary(result)}`,
      );
      if (typeof result.warning === "string") {
        warnings++;
        process.stderr.write(`xbar: warning: run ${r.id} step ${idx + 1} ${s.kind}: ${result.warning}\n`);
      }
    },
    runEnd: (r, status) => {
      bar?.stop();
      out(
        `run ${r.id}: ${status}${status === "completed" && warnings ? ` with ${warnings} warning(s)` : ""}`,
      );
    },
  };
}
