/**
 * `xbar queue list|show|cancel`: what the fleet's queues hold, read from BullMQ and the registry.
 * Cancelling a job that waits removes it; one that runs is flagged, and its worker aborts the step
 * (array idle, data kept, the run marked aborted and resumable with `xbar run --resume`).
 */

import { type ConnectionOptions, Job, Queue } from "bullmq";
import type { Redis } from "ioredis";
import { XbarError } from "../../drivers/index.ts";
import { ErrorCode } from "../../firmware-protocol/constants.ts";
import {
  type FleetJobData,
  type FleetJobResult,
  type FleetProgress,
  PREFIX,
  queueName,
} from "./connection.ts";
import { type BoardEntry, campaignJobs, isLive, listBoards, requestCancel } from "./registry.ts";

export interface BoardStatus extends BoardEntry {
  live: boolean;
  counts: Record<string, number>;
}

export interface JobInfo {
  id: string;
  board: string;
  state: string;
  campaign: string;
  campaignUuid: string;
  idx: number;
  params: Record<string, string | number>;
  progress?: FleetProgress;
  result?: FleetJobResult;
  error?: string;
  attempts: number;
  stalled: number;
  timestamp: number;
}

/** A board's queue on the shared connection `redis` (closing the queue leaves the connection open). */
const openQueue = (redis: Redis, board: string) =>
  new Queue<FleetJobData, FleetJobResult>(queueName(board), {
    connection: redis as unknown as ConnectionOptions,
    prefix: PREFIX,
  });

async function info(job: Job<FleetJobData, FleetJobResult>, board: string): Promise<JobInfo> {
  const p = job.progress as unknown;
  return {
    id: job.id!,
    board,
    state: await job.getState(),
    campaign: job.data.campaign.name,
    campaignUuid: job.data.campaign.uuid,
    idx: job.data.idx,
    params: job.data.params,
    progress: typeof p === "object" && p !== null ? (p as FleetProgress) : undefined,
    result: job.returnvalue ?? undefined,
    error: job.failedReason || undefined,
    attempts: job.attemptsMade,
    stalled: (job as unknown as { stalledCounter?: number }).stalledCounter ?? 0,
    timestamp: job.timestamp,
  };
}

/** Every registered board with its queue's counts, and the jobs waiting or running. */
export async function queueStatus(redis: Redis): Promise<{ boards: BoardStatus[]; jobs: JobInfo[] }> {
  const boards: BoardStatus[] = [];
  const jobs: JobInfo[] = [];
  for (const b of await listBoards(redis)) {
    const q = openQueue(redis, b.name);
    try {
      const counts = await q.getJobCounts("waiting", "active", "delayed", "completed", "failed");
      boards.push({ ...b, live: isLive(b), counts });
      for (const j of await q.getJobs(["active", "waiting", "delayed", "prioritized"], 0, 200, true))
        if (j) jobs.push(await info(j, b.name));
    } finally {
      await q.close();
    }
  }
  return { boards, jobs };
}

/** Finds a job by id on any registered board's queue. */
export async function findJob(redis: Redis, id: string): Promise<JobInfo | undefined> {
  for (const b of await listBoards(redis)) {
    const q = openQueue(redis, b.name);
    try {
      const j = await Job.fromId<FleetJobData, FleetJobResult>(q, id);
      if (j) return await info(j, b.name);
    } finally {
      await q.close();
    }
  }
  return undefined;
}

/** The jobs of a submitted campaign (by its uuid). */
export async function jobsOfCampaign(redis: Redis, uuid: string) {
  const jobs = await campaignJobs(redis, uuid);
  if (jobs.length === 0)
    throw new XbarError(ErrorCode.BAD_INPUT, `no submitted campaign ${uuid} in the queue`);
  return jobs;
}

/** Cancels jobs: removes those not started, flags running ones for their worker to abort. */
export async function cancelJobs(
  redis: Redis,
  jobs: Array<{ id: string; board: string }>,
): Promise<Array<{ id: string; outcome: "removed" | "cancelling" | "finished" | "unknown" }>> {
  const out: Array<{ id: string; outcome: "removed" | "cancelling" | "finished" | "unknown" }> = [];
  for (const { id, board } of jobs) {
    const q = openQueue(redis, board);
    try {
      const j = await Job.fromId(q, id);
      if (!j) {
        out.push({ id, outcome: "unknown" });
        continue;
      }
      const state = await j.getState();
      if (state === "completed" || state === "failed") out.push({ id, outcome: "finished" });
      else if (state === "active") {
        await requestCancel(redis, id);
        out.push({ id, outcome: "cancelling" });
      } else {
        await j.remove();
        out.push({ id, outcome: "removed" });
      }
    } finally {
      await q.close();
    }
  }
  return out;
}
