/**
 * What `xbar run --view` and `xbar train --view` hand to the live view: the runner's events and
 * measurements, and the training's events, as they already flow to the terminal.
 */
import type { Campaign } from "../campaigns/load.ts";
import { describePlan, estimateStep } from "../campaigns/plan.ts";
import type { RunnerEvents } from "../campaigns/runner.ts";
import type { RunRow } from "../campaigns/store/run-store.ts";
import type { TrainEvent } from "../learning/training/train.ts";
import type { RunView } from "../view/run-view.ts";

/** Runner events that feed the view of a campaign. */
export function campaignFeed(rv: RunView, campaign: Campaign, runs: RunRow[]): RunnerEvents {
  const v = rv.view;
  const nSteps = campaign.runs[0]!.steps.length;
  const total = runs.length * nSteps;
  let done = 0;
  let current = "";
  v.campaignPlan(
    campaign.name,
    describePlan(campaign).lines,
    runs.map((r) => ({ id: r.id, status: r.status })),
  );
  v.status("running");
  return {
    runStart: (r) => v.campaignRun(r.id, "running"),
    stepSkipped: (r, idx, s) => {
      done++;
      v.campaignStep(r.id, idx, s.kind, "skipped (done before)");
    },
    stepStart: (r, idx, s) => {
      current = `run ${r.id} step ${idx + 1}/${nSteps} ${s.kind}: ${estimateStep(s, r.url).what}`;
      v.campaignStep(r.id, idx, s.kind, "running");
      v.progress({ label: current, done, total });
    },
    stepProgress: (d, t, s) =>
      v.progress({ label: `${current}${s ? ` (${s})` : ""}`, done, total, fraction: (done + d / t) / total }),
    stepEnd: (r, idx, s, _result, ms) => {
      done++;
      v.campaignStep(r.id, idx, s.kind, "completed", ms / 1000);
      v.progress({ label: current, done, total });
      rv.refresher.request(`end of step ${idx + 1}`);
    },
    measurement: (_r, s, m) => {
      v.measurement(m, s.kind);
      if (m.kind === "epoch") rv.refresher.request(`end of epoch ${m.x}`);
    },
    runEnd: async (r, status) => {
      v.campaignRun(r.id, status);
      // The board is still open: the last map and counters of this run.
      await rv.refresher.final().catch(() => {});
    },
  };
}

/** Calls the view's handler, then the terminal's, for every runner event. */
export function withFeed(feed: RunnerEvents | undefined, term: RunnerEvents): RunnerEvents {
  if (!feed) return term;
  const both: RunnerEvents = {};
  for (const k of Object.keys({ ...feed, ...term }) as Array<keyof RunnerEvents>) {
    const a = feed[k] as ((...x: unknown[]) => unknown) | undefined;
    const b = term[k] as ((...x: unknown[]) => unknown) | undefined;
    (both as Record<string, unknown>)[k] = (...x: unknown[]) => {
      const r = a?.(...x);
      return r instanceof Promise ? r.then(() => b?.(...x)) : b?.(...x);
    };
  }
  return both;
}

/** The training's events for the view: progress, epochs (then a map refresh), the confusion matrix. */
export function trainFeed(rv: RunView, imagesPerEpoch: number, epochs: number): (e: TrainEvent) => void {
  let started = false;
  return (e) => {
    rv.view.trainEvent(e, imagesPerEpoch, epochs);
    if (e.type === "progress" && !started) {
      started = true;
      rv.refresher.request("start of training");
    }
    if (e.type === "epoch") rv.refresher.request(`end of epoch ${e.report.epoch}`);
  };
}
