/**
 * The live view of one run: the hub's topics, fed by the streams the run already produces.
 *
 *   xbar train  ── TrainEvent (progress, epoch, done) ──▶ trainEvent()  ─▶ progress, epochs, confusion
 *   xbar run    ── runner events, every Measurement ───▶ campaign*()   ─▶ campaign, traces, iv, epochs
 *   any board   ── ObservedBoard (observe-board.ts) ───▶ BoardWatch    ─▶ map/I, counters/I, link/I
 *
 * Topics (hub.ts; the page reads them in src/view/page/app.js):
 *   meta, status, progress, campaign, confusion, refresh          snapshots
 *   board/I, map/I, counters/I, link/I                            snapshots, one per board
 *   epochs, traces, iv, log                                       series
 */
import type { Board } from "../board/board.ts";
import type { Measurement } from "../campaigns/store/run-store.ts";
import type { TrainEvent } from "../learning/training/train.ts";
import { BoardWatch } from "./board-watch.ts";
import { FRAME_RATE, ViewHub } from "./hub.ts";
import { ObservedBoard } from "./observe-board.ts";

export type ViewMode = "train" | "run" | "board" | "db";
export type RunState = "starting" | "running" | "stopping" | "stopped" | "completed" | "failed";

export interface ProgressInfo {
  label: string;
  done: number;
  total: number;
  /** Fraction of the whole run done, for the time left; default done / total. */
  fraction?: number;
}

export class LiveView {
  readonly hub: ViewHub;
  readonly watches: BoardWatch[] = [];
  private readonly started = Date.now();
  private steps: Array<{ run: number; idx: number; kind: string; status: string; seconds?: number }> = [];
  private campaignInfo: Record<string, unknown> = {};

  constructor(
    readonly mode: ViewMode,
    title: string,
    hub = new ViewHub(),
  ) {
    this.hub = hub;
    hub.set("meta", { mode, title, started: this.started, frameRate: FRAME_RATE });
    this.status("starting");
    hub.onTick = () => {
      for (const w of this.watches) w.link();
    };
  }

  /** Wraps a board so that what the run does with it shows on the page. */
  observe(board: Board): Board {
    const existing = this.watches.find((w) => w.board === board);
    const watch = existing ?? new BoardWatch(this.watches.length, board, this.hub);
    if (!existing) this.watches.push(watch);
    return new ObservedBoard(board, watch);
  }

  status(state: RunState, detail?: string, exit?: number): void {
    this.hub.set("status", { state, detail, exit, at: Date.now() });
  }

  log(text: string): void {
    this.hub.append("log", { t: Date.now(), text });
  }

  progress(p: ProgressInfo): void {
    const elapsed = (Date.now() - this.started) / 1000;
    const f = p.fraction ?? (p.total > 0 ? p.done / p.total : 0);
    const left = f > 0.001 ? (elapsed * (1 - f)) / f : undefined;
    this.hub.set("progress", { ...p, elapsed, left });
  }

  /** `xbar train`: progress, the learning curve per epoch, the confusion matrix at the end. */
  trainEvent(e: TrainEvent, imagesPerEpoch: number, epochs: number): void {
    if (e.type === "progress") {
      if (e.phase !== "train") return;
      this.status("running");
      this.progress({
        label: `epoch ${e.epoch} ${e.phase}, loss ${e.loss.toFixed(3)}`,
        done: (e.epoch - 1) * imagesPerEpoch + e.image,
        total: epochs * imagesPerEpoch,
      });
    } else if (e.type === "info") this.log(e.message);
    else if (e.type === "epoch") {
      const r = e.report;
      this.epoch({
        epoch: r.epoch,
        phase: r.phase,
        trainAccuracy: r.trainAccuracy,
        testAccuracy: r.test.accuracy,
        trainLoss: r.trainLoss,
        testLoss: r.test.loss,
        pulses: r.pulses,
        energy: r.energy,
        seconds: r.seconds,
      });
      this.hub.set("confusion", {
        label: `epoch ${r.epoch}`,
        accuracy: r.test.accuracy,
        matrix: r.test.confusion,
      });
    } else if (e.type === "done") {
      const f = e.result.final;
      this.hub.set("confusion", { label: "final", accuracy: f.accuracy, matrix: f.confusion });
    }
  }

  epoch(p: {
    epoch: number;
    phase?: string;
    trainAccuracy?: number;
    testAccuracy: number;
    trainLoss?: number;
    testLoss?: number;
    pulses?: number;
    energy?: number;
    seconds?: number;
  }): void {
    this.hub.append("epochs", p);
  }

  /** `xbar run`: the plan, before the first run. */
  campaignPlan(name: string, lines: string[], runs: Array<{ id: number; status: string }>): void {
    this.campaignInfo = { name, plan: lines, runs };
    this.publishCampaign();
  }

  campaignStep(run: number, idx: number, kind: string, status: string, seconds?: number): void {
    const s = this.steps.find((x) => x.run === run && x.idx === idx);
    if (s) Object.assign(s, { status, seconds });
    else this.steps.push({ run, idx, kind, status, seconds });
    if (this.steps.length > 1000) this.steps.splice(0, this.steps.length - 1000);
    this.publishCampaign();
  }

  campaignRun(id: number, status: string): void {
    const runs = (this.campaignInfo.runs as Array<{ id: number; status: string }> | undefined) ?? [];
    const r = runs.find((x) => x.id === id);
    if (r) r.status = status;
    this.publishCampaign();
  }

  private publishCampaign(): void {
    this.hub.set("campaign", { ...this.campaignInfo, steps: this.steps.slice() });
  }

  /** A campaign measurement (live, or read back from the run database with --db). */
  measurement(m: Measurement, step?: string): void {
    switch (m.kind) {
      case "pulse_response":
      case "form":
        this.hub.append("traces", {
          device: `r${m.row} c${m.col}`,
          kind: m.kind,
          step,
          x: m.x,
          y: m.y,
          label: m.label,
        });
        break;
      case "retention":
        this.hub.append("traces", {
          device: "block mean",
          kind: m.kind,
          step,
          x: m.x,
          y: m.y,
          label: "retention",
        });
        break;
      case "iv":
        this.hub.append("iv", { v: m.x, i: m.y, label: m.label, step });
        break;
      case "epoch": {
        const meta = (m.meta ?? {}) as Record<string, number>;
        this.epoch({
          epoch: m.x!,
          phase: m.label,
          testAccuracy: m.y!,
          trainAccuracy: meta.trainAccuracy,
          trainLoss: meta.trainLoss,
          testLoss: meta.testLoss,
          pulses: meta.pulses,
          energy: meta.energy,
          seconds: meta.seconds,
        });
        break;
      }
      case "confusion": {
        const a = m.array;
        if (!a) break;
        const n = a.shape[0]!;
        const matrix = Array.from({ length: n }, (_, r) => Array.from(a.data.subarray(r * n, (r + 1) * n)));
        this.hub.set("confusion", { label: m.label ?? "", accuracy: m.y, matrix });
        break;
      }
      case "identity": {
        const c = (m.meta as { counters?: unknown } | undefined)?.counters;
        if (c && this.watches[0]) this.hub.set("counters/0", { ...(c as object), at: Date.now() });
        break;
      }
    }
  }
}
