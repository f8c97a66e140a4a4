/**
 * Submission: a campaign file becomes one job per run (sweep point), each added to the queue of the
 * board it names. The campaign's `board:` says which:
 *
 *   board: name:bench-3            that board (a sweep may vary it: `board: name:{b}`)
 *   board: kind:agsi               any live board of that technology: the one with the fewest jobs
 *                                  waiting or running when submitted (counting this submission's)
 *
 * A job belongs to one board from then on: its run's steps are all measured on the same devices,
 * and a job handed back after its worker died waits for a worker serving that board.
 * `watchJobs` follows jobs to their end, printing the progress workers report (BullMQ's QueueEvents);
 * an end event makes it look at that job at once, and every job's state is also looked at every
 * `pollMs`, so that no end is missed whatever the events did.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { type ConnectionOptions, Job, Queue, QueueEvents } from "bullmq";
import type { Redis } from "ioredis";
import { XbarError } from "../../drivers/index.ts";
import { ErrorCode } from "../../firmware-protocol/constants.ts";
import type { Campaign } from "../campaigns/load.ts";
import {
  BOARD_NAME,
  connectRedis,
  type FleetJobData,
  type FleetJobResult,
  type FleetProgress,
  jobId,
  PREFIX,
  queueName,
  redisOptions,
} from "./connection.ts";
import { addCampaignJobs, type BoardEntry, isLive, listBoards } from "./registry.ts";

export interface SubmittedJob {
  id: string;
  board: string;
  idx: number;
  params: Record<string, string | number>;
}

/** `name:NAME` or `kind:KIND`; anything else is refused with the run's sweep values. */
function boardRef(url: string, where: string): { by: "name" | "kind"; value: string } {
  const m = /^(name|kind):(.+)$/.exec(url);
  if (!m || !BOARD_NAME.test(m[2]!))
    throw new XbarError(
      ErrorCode.BAD_INPUT,
      `${where}: board "${url}": a campaign for the fleet names its board as name:NAME or kind:KIND (e.g. board: name:bench-3)`,
    );
  return { by: m[1] as "name" | "kind", value: m[2]! };
}

/** Jobs waiting or running per board now. */
async function loads(redis: Redis, boards: BoardEntry[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const b of boards) {
    const q = new Queue(queueName(b.name), {
      connection: redis as unknown as ConnectionOptions,
      prefix: PREFIX,
    });
    const c = await q.getJobCounts("waiting", "active", "delayed", "prioritized");
    out.set(
      b.name,
      Object.values(c).reduce((s, n) => s + n, 0),
    );
    await q.close();
  }
  return out;
}

export async function submitCampaign(
  redis: Redis,
  campaign: Campaign,
  software: string,
): Promise<{ uuid: string; jobs: SubmittedJob[] }> {
  const boards = await listBoards(redis);
  const byName = new Map(boards.map((b) => [b.name, b]));
  const refs = campaign.runs.map((r) => boardRef(r.url, campaign.where(["board"])));
  const kinds = refs.some((r) => r.by === "kind")
    ? await loads(
        redis,
        boards.filter((b) => isLive(b)),
      )
    : undefined;
  const routed = refs.map((ref, i) => {
    if (ref.by === "name") {
      if (!byName.has(ref.value))
        throw new XbarError(
          ErrorCode.UNKNOWN_BOARD,
          `${campaign.where(["board"])}: no worker has served a board named ${ref.value} (boards: ${boards.map((b) => b.name).join(", ") || "none"}); start one with xbar worker --board ${ref.value}=URL`,
        );
      return ref.value;
    }
    const candidates = boards.filter((b) => b.kind === ref.value && isLive(b));
    if (candidates.length === 0)
      throw new XbarError(
        ErrorCode.UNKNOWN_BOARD,
        `${campaign.where(["board"])}: no live board of kind ${ref.value} (run ${i + 1}); live: ${
          boards
            .filter((b) => isLive(b))
            .map((b) => `${b.name} (${b.kind})`)
            .join(", ") || "none"
        }`,
      );
    const best = candidates.reduce((a, b) => ((kinds!.get(b.name) ?? 0) < (kinds!.get(a.name) ?? 0) ? b : a));
    kinds!.set(best.name, (kinds!.get(best.name) ?? 0) + 1);
    return best.name;
  });
  const uuid = randomUUID();
  const submittedBy = `${process.env.USER ?? "?"}@${hostname()}`;
  const jobs: SubmittedJob[] = [];
  const perBoard = new Map<string, Array<{ name: string; data: FleetJobData; opts: { jobId: string } }>>();
  for (const [idx, run] of campaign.runs.entries()) {
    const board = routed[idx]!;
    const data: FleetJobData = {
      campaign: { uuid, name: campaign.name, file: campaign.file, text: campaign.text },
      idx,
      params: run.params,
      board,
      requested: run.url,
      software,
      submittedBy,
    };
    const id = jobId(uuid, idx);
    perBoard.set(board, [...(perBoard.get(board) ?? []), { name: campaign.name, data, opts: { jobId: id } }]);
    jobs.push({ id, board, idx, params: run.params });
  }
  // One connection for every board's queue, one bulk add per board.
  for (const [board, batch] of perBoard) {
    const q = new Queue(queueName(board), {
      connection: redis as unknown as ConnectionOptions,
      prefix: PREFIX,
    });
    try {
      await q.addBulk(
        batch.map((j) => ({
          ...j,
          opts: { ...j.opts, attempts: 1, removeOnComplete: false, removeOnFail: false },
        })),
      );
    } finally {
      await q.close();
    }
  }
  await addCampaignJobs(redis, uuid, jobs);
  return { uuid, jobs };
}

export interface JobEnd {
  id: string;
  board: string;
  state: "completed" | "failed";
  result?: FleetJobResult;
  error?: string;
}

/** Follows `jobs` until each has completed or failed, reporting progress lines through `out`. */
export async function watchJobs(
  url: string,
  jobs: Array<{ id: string; board: string; idx?: number }>,
  out: (line: string) => void,
  pollMs = 500,
): Promise<JobEnd[]> {
  const boards = [...new Set(jobs.map((j) => j.board))];
  const mine = new Map(jobs.map((j) => [j.id, j]));
  const redis = await connectRedis(url);
  const queues = new Map(
    boards.map((b) => [
      b,
      new Queue(queueName(b), { connection: redis as unknown as ConnectionOptions, prefix: PREFIX }),
    ]),
  );
  // Jobs an end event named: looked at at once, before the periodic look at every job.
  const ended = new Set<string>();
  let wake: (() => void) | undefined;
  const events = boards.map((b) => {
    const qe = new QueueEvents(queueName(b), {
      connection: redisOptions(url) as ConnectionOptions,
      prefix: PREFIX,
    });
    qe.on("progress", ({ jobId: id, data }) => {
      const j = mine.get(id);
      const p = data as unknown as FleetProgress;
      if (!j || typeof p !== "object" || p === null || p.phase === "progress") return;
      const what =
        p.phase === "end"
          ? `done in ${((p.ms ?? 0) / 1000).toFixed(1)} s`
          : p.phase === "skipped"
            ? "already completed, skipped"
            : "started";
      out(`job ${id} (${b}) run ${p.runId} step ${p.step}/${p.steps} ${p.kind}: ${what}`);
    });
    const end = ({ jobId: id }: { jobId: string }) => {
      if (!mine.has(id)) return;
      ended.add(id);
      wake?.();
    };
    qe.on("completed", end);
    qe.on("failed", end);
    return qe;
  });
  const ends = new Map<string, JobEnd>();
  let lastFull = 0;
  try {
    while (ends.size < jobs.length) {
      const full = Date.now() - lastFull >= pollMs;
      if (full) lastFull = Date.now();
      const look = full ? jobs : jobs.filter((j) => ended.has(j.id));
      ended.clear();
      for (const j of look) {
        if (ends.has(j.id)) continue;
        const q = queues.get(j.board)!;
        // The state first, then the job: a job read before its end was written would lack its result.
        const state = await q.getJobState(j.id);
        if (state !== "completed" && state !== "failed" && state !== "unknown") continue;
        const job = await Job.fromId<FleetJobData, FleetJobResult>(q, j.id);
        if (!job || state === "unknown") {
          ends.set(j.id, {
            id: j.id,
            board: j.board,
            state: "failed",
            error: "removed from the queue (cancelled)",
          });
          out(`job ${j.id} (${j.board}): removed from the queue`);
          continue;
        }
        if (state === "completed") {
          ends.set(j.id, { id: j.id, board: j.board, state, result: job.returnvalue });
          out(
            `job ${j.id} (${j.board}): completed, run ${job.returnvalue?.runId} (${job.returnvalue?.measurements} measurements)`,
          );
        } else {
          ends.set(j.id, { id: j.id, board: j.board, state, error: job.failedReason });
          out(`job ${j.id} (${j.board}): failed: ${job.failedReason}`);
        }
      }
      if (ends.size < jobs.length && ended.size === 0)
        await new Promise<void>((r) => {
          const t = setTimeout(r, pollMs);
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
      wake = undefined;
    }
  } finally {
    await Promise.all([...events.map((e) => e.close()), ...[...queues.values()].map((q) => q.close())]);
    redis.disconnect();
  }
  return jobs.map((j) => ends.get(j.id)!);
}
