/**
 * The fleet's registry in Redis, beside BullMQ's own keys:
 *
 *   xbar:fleet:boards            hash  board name → BoardEntry (JSON); a worker refreshes its boards'
 *                                      `seen` every HEARTBEAT_MS, so a board is live while seen recently
 *   xbar:fleet:campaign:<uuid>   set   "board|jobId" of every job of a submitted campaign
 *   xbar:fleet:cancel:<jobId>    flag  set by `xbar queue cancel` for an active job; the worker aborts it
 *
 * Entries stay when a worker stops (marked offline), so a board's name keeps meaning the same board
 * and jobs can be queued for it while its computer is down.
 */
import type { Redis } from "ioredis";
import { PREFIX } from "./connection.ts";

export const HEARTBEAT_MS = 5000;
/** A board not seen for this long is shown as offline and not chosen for `kind:` routing. */
export const LIVE_MS = 3 * HEARTBEAT_MS;

const BOARDS = `${PREFIX}:fleet:boards`;
const campaignKey = (uuid: string) => `${PREFIX}:fleet:campaign:${uuid}`;
const cancelKey = (jobId: string) => `${PREFIX}:fleet:cancel:${jobId}`;

export interface BoardEntry {
  name: string;
  /** The device technology the board reports (its identity), or "unknown" if it was not reachable. */
  kind: string;
  rows?: number;
  cols?: number;
  serial?: string;
  /** host:pid of the worker serving it. */
  worker: string;
  /** ms since the epoch of the last heartbeat; 0 once its worker stopped. */
  seen: number;
}

export async function registerBoards(redis: Redis, entries: BoardEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await redis.hset(BOARDS, Object.fromEntries(entries.map((e) => [e.name, JSON.stringify(e)])));
}

export async function listBoards(redis: Redis): Promise<BoardEntry[]> {
  const all = await redis.hgetall(BOARDS);
  return Object.values(all)
    .map((v) => JSON.parse(v) as BoardEntry)
    .sort((a, b) => a.name.localeCompare(b.name));
}

export const isLive = (b: BoardEntry, now = Date.now()): boolean => now - b.seen < LIVE_MS;

export async function addCampaignJobs(
  redis: Redis,
  uuid: string,
  jobs: Array<{ board: string; id: string }>,
) {
  await redis.sadd(campaignKey(uuid), ...jobs.map((j) => `${j.board}|${j.id}`));
}

export async function campaignJobs(
  redis: Redis,
  uuid: string,
): Promise<Array<{ board: string; id: string }>> {
  const members = await redis.smembers(campaignKey(uuid));
  return members
    .map((m) => {
      const [board, id] = m.split("|") as [string, string];
      return { board, id };
    })
    .sort((a, b) => Number(a.id.split(".").at(-1)) - Number(b.id.split(".").at(-1)));
}

/** Flags an active job for cancellation (kept a day, long enough for any worker to see it). */
export async function requestCancel(redis: Redis, id: string): Promise<void> {
  await redis.set(cancelKey(id), "1", "EX", 86_400);
}

export async function cancelRequested(redis: Redis, id: string): Promise<boolean> {
  return (await redis.exists(cancelKey(id))) === 1;
}
