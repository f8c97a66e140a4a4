/**
 * Runs a campaign's runs against boards, recording into the run store step by step.
 *
 *   for each run not completed:  connect(url) ─▶ configure ─▶ preflight (limits, array size)
 *     for each step not completed:  begin step ─▶ execute (record every measurement) ─▶ end step
 *   ─▶ run completed | aborted (signal: array idle, data kept) | failed (error kept)
 *
 * Resume: a run's completed steps are skipped; a step that was interrupted (Ctrl-C or the process
 * killed outright) is started again as a new attempt. A run left "running" by a dead process is first
 * marked aborted.
 *
 * Ownership: the runner claims each run under a token of its own (host:pid:random) before touching
 * it, and every step it begins or ends is checked against that token in the same transaction. A
 * worker that lost its job to another (it stalled, BullMQ handed the job on) is thereby refused
 * (E652) instead of completing a step a second time.
 */
import { hostname } from "node:os";
import { firstValueFrom } from "rxjs";
import { parseLinkUrl } from "../../drivers/open-transport.ts";
import { ErrorCode } from "../../firmware-protocol/constants.ts";
import { isXbarError, XbarError } from "../../firmware-protocol/errors.ts";
import type { Board } from "../board/board.ts";
import { connect } from "../board/connect.ts";
import { isComposedUrl } from "../board/estimate.ts";
import { connectSmu, type Smu } from "../board/instrument.ts";
import { checkReachable, DEFAULT_PULSE } from "../pipelines/index.ts";
import type { Campaign, CampaignRun, Path } from "./load.ts";
import type { Step } from "./schema.ts";
import { executeStep, StepAborted } from "./steps.ts";
import { ownerToken } from "./store/owner.ts";
import type { Measurement, RunRow, RunStore } from "./store/run-store.ts";

export interface RunnerEvents {
  runStart?(run: RunRow, index: number, total: number): void;
  stepStart?(run: RunRow, idx: number, step: Step): void;
  stepProgress?(done: number, total: number, status?: string): void;
  stepEnd?(run: RunRow, idx: number, step: Step, result: Record<string, unknown>, ms: number): void;
  stepSkipped?(run: RunRow, idx: number, step: Step): void;
  /** May return a promise: the run's board is closed after it settles (the live view reads it last). */
  runEnd?(run: RunRow, status: string): void | Promise<void>;
  /** Every measurement, after it is committed. */
  measurement?(run: RunRow, step: Step, m: Measurement): void;
}

export interface RunnerResult {
  status: "completed" | "aborted" | "failed";
  error?: unknown;
}

/** Refuses steps the board cannot do, before any of them is sent. */
export function preflight(
  board: Board,
  steps: Step[],
  where: (path: Path) => string = () => "campaign",
): void {
  const { rows, cols } = board.identity;
  const l = board.limits;
  steps.forEach((s, i) => {
    const at = `${where(["steps", i, s.kind])}: steps[${i}].${s.kind}`;
    const device = (r: number, c: number) => {
      if (r >= rows || c >= cols)
        throw new XbarError(
          ErrorCode.BAD_INPUT,
          `${at}: device r=${r} c=${c} is outside the ${rows} x ${cols} array of ${board.url}`,
        );
    };
    const block = (b?: { r0: number; c0: number; rows: number; cols: number }) => {
      if (b) device(b.r0 + b.rows - 1, b.c0 + b.cols - 1);
    };
    const pulse = (b: { setAmplitude?: number; resetAmplitude?: number; width?: number }) => {
      const set = b.setAmplitude ?? DEFAULT_PULSE.setAmplitude;
      const reset = b.resetAmplitude ?? DEFAULT_PULSE.resetAmplitude;
      const w = b.width ?? DEFAULT_PULSE.width;
      for (const v of [set, reset])
        if (Math.abs(v) > l.vmax)
          throw new XbarError(
            ErrorCode.AMPLITUDE_LIMIT,
            `${at}: amplitude ${v} V outside the envelope (|v| <= ${l.vmax} V) of ${board.url}`,
          );
      if (w < l.wmin || w > l.wmax)
        throw new XbarError(
          ErrorCode.WIDTH_LIMIT,
          `${at}: width ${w} s outside the envelope (${l.wmin} .. ${l.wmax} s) of ${board.url}`,
        );
    };
    if (s.kind === "characterize") {
      device(s.body.row, s.body.col);
      pulse(s.body);
    }
    if (s.kind === "form") {
      device(s.body.row, s.body.col);
      pulse({ setAmplitude: s.body.stop, width: s.body.width });
    }
    if (s.kind === "program") {
      block(s.body.block);
      pulse(s.body);
      if (!s.body.relative) for (const g of [s.body.low, s.body.high]) checkReachable(board, g, at);
    }
    if (s.kind === "read" || s.kind === "retention") block(s.body.block);
  });
}

export interface RunnerOptions {
  signal: AbortSignal;
  software: string;
  events?: RunnerEvents;
  /** How a run's board is reached (default: `connect(url)`; a worker maps board names to its ports). */
  connectBoard?: (url: string) => Promise<Board>;
  /** The token this runner claims runs under (default: host:pid:random). */
  owner?: string;
  /** Wraps each run's board (the live view observes it so); default none. */
  wrapBoard?: (board: Board) => Board;
}

/** What checking a campaign against its boards found for one board URL. */
export interface BoardCheck {
  url: string;
  /** "checked": against the board's identity and envelope; "unreachable": only the URL was checked. */
  status: "checked" | "unreachable";
  detail: string;
}

/**
 * Checks every run of a campaign against its board before anything is recorded or applied: the URL's
 * grammar, then array bounds, the safety envelope and reachable targets against the board's identity
 * (for emu://, a fresh emulated board of the same kind; else the board itself when it answers).
 * Throws the first refusal (coded, naming the file line); a board that cannot be reached is reported,
 * not refused, when `allowUnreachable` (a dry run prepared away from the lab).
 */
export async function checkCampaign(campaign: Campaign, allowUnreachable: boolean): Promise<BoardCheck[]> {
  const checks = new Map<string, BoardCheck>();
  for (const run of campaign.runs) {
    const key = `${run.url}\n${JSON.stringify(run.steps)}`;
    if (checks.has(key)) continue;
    // Boards made of instruments (bench://, arc1://) have URLs of their own; connect() checks them.
    if (!isComposedUrl(run.url)) parseLinkUrl(run.url);
    let board: Board;
    try {
      board = await connect(run.url);
    } catch (e) {
      const unreachable = [
        ErrorCode.PORT_NOT_FOUND,
        ErrorCode.CONNECTION_REFUSED,
        ErrorCode.TIMEOUT,
        ErrorCode.PORT_BUSY,
      ];
      if (!allowUnreachable || !(isXbarError(e) && unreachable.includes(e.code as never))) throw e;
      checks.set(key, { url: run.url, status: "unreachable", detail: e.message });
      continue;
    }
    try {
      preflight(board, run.steps, campaign.where);
      const i = board.identity;
      checks.set(key, { url: run.url, status: "checked", detail: `${i.rows} x ${i.cols} ${i.technology}` });
    } finally {
      await board.close().catch(() => {});
    }
  }
  return [...checks.values()];
}

export async function runCampaign(
  store: RunStore,
  campaign: Campaign,
  runs: RunRow[],
  opts: RunnerOptions,
): Promise<RunnerResult> {
  const ev = opts.events ?? {};
  const owner = opts.owner ?? ownerToken();
  for (const [i, run] of runs.entries()) {
    if (run.status === "completed") continue;
    const spec: CampaignRun = campaign.runs[run.idx]!;
    await store.claimRun(run.id, owner);
    if (opts.signal.aborted) return { status: "aborted" };
    let board: Board | undefined;
    let smu: Smu | undefined;
    let stepId: number | undefined;
    try {
      board = await (opts.connectBoard ?? connect)(spec.url);
      if (opts.wrapBoard) board = opts.wrapBoard(board);
      const config = await firstValueFrom(board.configure());
      if (spec.instrument) smu = await connectSmu(spec.instrument);
      preflight(board, spec.steps, campaign.where);
      await store.startRun(
        run.id,
        {
          identity: smu
            ? { ...board.identity, instrument: { url: spec.instrument, ...smu.identity } }
            : board.identity,
          config,
          limits: board.limits,
          host: hostname(),
        },
        owner,
      );
      ev.runStart?.(run, i, runs.length);
      const done = await store.completedSteps(run.id);
      // The range of the last characterize step completed before (for relative program levels).
      let range: { gmin: number; gmax: number } | undefined;
      for (const s of await store.steps(run.id))
        if (s.kind === "characterize" && s.status === "completed" && s.result)
          range = s.result as typeof range;
      for (const [idx, step] of spec.steps.entries()) {
        if (done.has(idx)) {
          ev.stepSkipped?.(run, idx, step);
          continue;
        }
        if (opts.signal.aborted) throw new StepAborted();
        const sid = await store.beginStep(run.id, idx, step.kind, step.body, owner);
        stepId = sid;
        ev.stepStart?.(run, idx, step);
        const t0 = Date.now();
        const writer = store.recorder(sid);
        let result: Record<string, unknown>;
        try {
          result = await executeStep(step, {
            board,
            smu,
            range,
            signal: opts.signal,
            record: (m) => {
              writer.record(m);
              ev.measurement?.(run, step, m);
            },
            progress: (d, t, s) => ev.stepProgress?.(d, t, s),
          });
        } finally {
          // Whatever happened, what was measured is committed (a failed insert surfaces here).
          await writer.flush();
        }
        await store.endStep(sid, "completed", result, undefined, owner);
        if (step.kind === "characterize") range = result as typeof range;
        stepId = undefined;
        ev.stepEnd?.(run, idx, step, result, Date.now() - t0);
      }
      await store.endRun(run.id, "completed", undefined, owner);
      await ev.runEnd?.(run, "completed");
    } catch (e) {
      const aborted = e instanceof StepAborted || opts.signal.aborted;
      // Leave the array idle whatever happened.
      if (board) await firstValueFrom(board.abort()).catch(() => {});
      const msg = e instanceof Error ? e.message : String(e);
      try {
        if (stepId !== undefined)
          await store.endStep(
            stepId,
            aborted ? "interrupted" : "failed",
            undefined,
            aborted ? "aborted" : msg,
            owner,
          );
        await store.endRun(run.id, aborted ? "aborted" : "failed", aborted ? "interrupted" : msg, owner);
      } catch (fenced) {
        // Taken over (E652): the run is another process's now; leave its records alone.
        await ev.runEnd?.(run, "failed");
        return { status: "failed", error: fenced };
      }
      await ev.runEnd?.(run, aborted ? "aborted" : "failed");
      return aborted ? { status: "aborted" } : { status: "failed", error: e };
    } finally {
      await board?.close().catch(() => {});
      if (smu) {
        await smu.output(false).catch(() => {});
        await smu.close().catch(() => {});
      }
    }
  }
  return { status: "completed" };
}
