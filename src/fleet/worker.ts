/**
 * A worker: serves the boards attached to one computer, one BullMQ worker per board (concurrency 1:
 * the board's queue is its lock), all recording into one shared run store.
 *
 *   queue board-NAME ─▶ job (one run) ─▶ store.ensureRun ─▶ runCampaign(connect(NAME's URL))
 *                                         progress ─▶ job.updateProgress ─▶ submitter, queue watch
 *
 * Exactly once across machines: a worker killed mid-step (SIGKILL, power cut) stops renewing its
 * job's lock; after `lockDuration` BullMQ's stalled-job check hands the job back to the board's queue
 * and the next worker serving that board resumes the run from the database: completed steps are
 * skipped, the killed step is marked interrupted and run again as a new attempt (runner.ts), so no
 * measurement is counted twice. A worker that only stalled and comes back finds its run claimed by
 * the new owner and is refused (E652).
 *
 * A board that goes away fails its own job with the board's coded error (E602, E606, ...): the other
 * boards' workers go on. Ctrl-C (SIGINT/SIGTERM): running steps are aborted (arrays idle, data kept)
 * and their jobs put back in their queues for the next worker; `xbar queue cancel` aborts one job.
 */

import { hostname } from "node:os";
import { type ConnectionOptions, type Job, UnrecoverableError, WaitingError, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { XbarError } from "../../drivers/index.ts";
import { ErrorCode } from "../../firmware-protocol/constants.ts";
import type { Board } from "../board/board.ts";
import { connect } from "../board/connect.ts";
import { parseCampaign } from "../campaigns/load.ts";
import { runCampaign } from "../campaigns/runner.ts";
import { ownerToken } from "../campaigns/store/owner.ts";
import { RunStore } from "../campaigns/store/run-store.ts";
import {
  BOARD_NAME,
  connectRedis,
  type FleetJobData,
  type FleetJobResult,
  type FleetProgress,
  PREFIX,
  queueName,
  redisOptions,
} from "./connection.ts";
import { type BoardEntry, cancelRequested, HEARTBEAT_MS, registerBoards } from "./registry.ts";

export interface BoardSpec {
  name: string;
  url: string;
}

export interface WorkerOptions {
  /** redis://HOST:PORT of the job engine. */
  queue: string;
  /** The run store every board records into (a postgres:// URL when several workers share it). */
  db: string;
  boards: BoardSpec[];
  software: string;
  /** How long a job's lock lasts without renewal, ms (default 30 000): a dead worker's job is handed on after it. */
  lockDuration?: number;
  /** How often stalled jobs are looked for, ms (default lockDuration / 2). */
  stalledInterval?: number;
  /** How a board is reached (default `connect(url)`). */
  connectBoard?: (url: string) => Promise<Board>;
  log?: (line: string) => void;
}

export interface FleetWorker {
  readonly boards: BoardEntry[];
  /** Aborts running steps (jobs go back to their queues), stops the workers, closes the store. */
  close(): Promise<void>;
}

/** Parses `NAME=URL`. */
export function parseBoardSpec(s: string): BoardSpec {
  const eq = s.indexOf("=");
  const name = s.slice(0, eq);
  const url = s.slice(eq + 1);
  if (eq < 1 || !url)
    throw new XbarError(
      ErrorCode.BAD_INPUT,
      `--board takes NAME=URL, e.g. bench-3=/dev/ttyUSB0 (got "${s}")`,
    );
  if (!BOARD_NAME.test(name))
    throw new XbarError(
      ErrorCode.BAD_INPUT,
      `board name "${name}": letters, digits, ".", "_" and "-" only (at most 64)`,
    );
  return { name, url };
}

/** Identity of a board for the registry; "unknown" (with the reason logged) when it cannot be reached. */
async function probe(
  b: BoardSpec,
  open: (url: string) => Promise<Board>,
  log: (s: string) => void,
  worker: string,
) {
  const entry: BoardEntry = { name: b.name, kind: "unknown", worker, seen: Date.now() };
  try {
    const board = await open(b.url);
    try {
      const id = board.identity;
      Object.assign(entry, { kind: id.technology, rows: id.rows, cols: id.cols, serial: id.serial });
    } finally {
      await board.close();
    }
  } catch (e) {
    log(`board ${b.name}: not reachable now (${(e as Error).message}); serving its queue anyway`);
  }
  return entry;
}

export async function startWorker(opts: WorkerOptions): Promise<FleetWorker> {
  const log = opts.log ?? (() => {});
  const open = opts.connectBoard ?? connect;
  const names = new Set<string>();
  for (const b of opts.boards) {
    if (names.has(b.name)) throw new XbarError(ErrorCode.BAD_INPUT, `board ${b.name} is given twice`);
    names.add(b.name);
  }
  if (opts.boards.length === 0)
    throw new XbarError(ErrorCode.BAD_INPUT, "give at least one --board NAME=URL");
  const lockDuration = opts.lockDuration ?? 30_000;
  const redis: Redis = await connectRedis(opts.queue);
  let store: RunStore;
  try {
    store = await RunStore.open(opts.db);
  } catch (e) {
    redis.disconnect();
    throw e;
  }
  const me = `${hostname()}:${process.pid}`;
  const entries = await Promise.all(opts.boards.map((b) => probe(b, open, log, me)));
  await registerBoards(redis, entries);
  const heartbeat = setInterval(() => {
    for (const e of entries) e.seen = Date.now();
    registerBoards(redis, entries).catch(() => {});
  }, HEARTBEAT_MS);

  const active = new Map<string, { ctl: AbortController; cancelled: boolean }>();
  let stopping = false;
  const cancelPoll = setInterval(() => {
    for (const [id, a] of active)
      cancelRequested(redis, id)
        .then((yes) => {
          if (yes && !a.cancelled) {
            a.cancelled = true;
            log(`job ${id}: cancel requested, aborting`);
            a.ctl.abort();
          }
        })
        .catch(() => {});
  }, 1000);

  const process1 = (board: BoardSpec) => async (job: Job<FleetJobData>, token?: string) => {
    const d = job.data;
    const run = await store.ensureRun({
      uuid: d.campaign.uuid,
      name: d.campaign.name,
      file: d.campaign.file,
      text: d.campaign.text,
      software: d.software,
      idx: d.idx,
      params: d.params,
      url: `name:${board.name}`,
    });
    const result = async (): Promise<FleetJobResult> => ({
      runId: run.id,
      status: "completed",
      measurements: await store.measurementCount(run.id),
      db: store.location,
    });
    if (run.status === "completed") return result();
    const campaign = parseCampaign(d.campaign.text, d.campaign.file ?? "campaign.yaml");
    const ctl = new AbortController();
    const entry = { ctl, cancelled: false };
    active.set(job.id!, entry);
    if (stopping) ctl.abort();
    let last = 0;
    const report = (p: FleetProgress, force = true) => {
      const now = Date.now();
      if (!force && now - last < 250) return;
      last = now;
      job.updateProgress(p as unknown as object).catch(() => {});
    };
    const steps = campaign.runs[d.idx]?.steps.length ?? 0;
    log(`job ${job.id}: run ${run.id} (campaign "${d.campaign.name}", point ${d.idx + 1}) on ${board.name}`);
    let current = { step: 0, kind: "" };
    try {
      const res = await runCampaign(store, campaign, [run], {
        signal: ctl.signal,
        software: d.software,
        owner: `${ownerToken()}:job ${job.id}`,
        connectBoard: () => open(board.url),
        events: {
          stepSkipped: (_r, idx, s) =>
            report({ runId: run.id, step: idx + 1, steps, kind: s.kind, phase: "skipped" }),
          stepStart: (_r, idx, s) => {
            current = { step: idx + 1, kind: s.kind };
            report({ runId: run.id, step: idx + 1, steps, kind: s.kind, phase: "start" });
          },
          stepProgress: (done, total, status) =>
            report({ runId: run.id, ...current, steps, phase: "progress", done, total, status }, false),
          stepEnd: (_r, idx, s, _res, ms) =>
            report({ runId: run.id, step: idx + 1, steps, kind: s.kind, phase: "end", ms }),
        },
      });
      if (res.status === "completed") {
        log(`job ${job.id}: run ${run.id} completed`);
        return result();
      }
      if (res.status === "aborted" && !entry.cancelled && token) {
        // This worker is stopping: the job goes back to its queue, for the next worker of this board.
        log(`job ${job.id}: run ${run.id} aborted (worker stopping); back in the queue`);
        await job.moveToWait(token);
        throw new WaitingError();
      }
      if (res.status === "aborted")
        throw new UnrecoverableError(
          new XbarError(ErrorCode.ABORTED, "cancelled by xbar queue cancel").message,
        );
      const msg = res.error instanceof Error ? res.error.message : String(res.error);
      log(`job ${job.id}: run ${run.id} failed: ${msg}`);
      // A failed run is kept as failed; running it again is a decision for a person (xbar run --resume).
      throw new UnrecoverableError(msg);
    } finally {
      active.delete(job.id!);
    }
  };

  const workers = opts.boards.map((b) => {
    const w = new Worker<FleetJobData, FleetJobResult>(queueName(b.name), process1(b), {
      connection: redisOptions(opts.queue) as ConnectionOptions,
      prefix: PREFIX,
      concurrency: 1,
      lockDuration,
      stalledInterval: opts.stalledInterval ?? Math.max(1000, Math.floor(lockDuration / 2)),
      // A worker may die more than once under the same job (a flaky computer); hand the job on each time.
      maxStalledCount: 10,
    });
    w.on("error", (e) => log(`board ${b.name}: queue error: ${e.message}`));
    w.on("stalled", (id) =>
      log(`board ${b.name}: job ${id} stalled (its worker died?); handed back to the queue`),
    );
    return w;
  });
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  for (const e of entries) log(`serving board ${e.name} (${e.kind}) from queue ${queueName(e.name)}`);

  return {
    boards: entries,
    async close() {
      stopping = true;
      for (const a of active.values()) a.ctl.abort();
      await Promise.all(workers.map((w) => w.close()));
      clearInterval(heartbeat);
      clearInterval(cancelPoll);
      for (const e of entries) e.seen = 0;
      await registerBoards(redis, entries).catch(() => {});
      redis.disconnect();
      await store.close();
    },
  };
}
