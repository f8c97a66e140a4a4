/**
 * What every part of the fleet shares: the Redis connection of the job engine (BullMQ), the names
 * of queues and keys, and the job's data.
 *
 *   xbar submit ──▶ queue "board-NAME" (one per board, BullMQ) ──▶ xbar worker serving NAME
 *                   registry xbar:fleet:boards (hash: name → kind, worker, heartbeat)
 *
 * One queue per board, consumed with concurrency 1 by the one worker that has the board attached:
 * the queue is the board's lock. A job is one run (one sweep point) of a campaign.
 */
import { Redis, type RedisOptions } from "ioredis";
import { XbarError } from "../../drivers/index.ts";
import { ErrorCode } from "../../firmware-protocol/constants.ts";

/** BullMQ's key prefix for our queues, and the prefix of our own keys. */
export const PREFIX = "xbar";

/** A board name: letters, digits, `.`, `_`, `-` (it becomes part of a queue name). */
export const BOARD_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const queueName = (board: string): string => `board-${board}`;

/** One job per run of a campaign; the id makes a second submission of the same run a no-op. */
export const jobId = (campaignUuid: string, idx: number): string => `${campaignUuid}.${idx}`;

/** The data of a job: enough to record the campaign and run it on any worker serving the board. */
export interface FleetJobData {
  campaign: { uuid: string; name: string; file?: string; text: string };
  /** The sweep point: index into the campaign's runs, and its values. */
  idx: number;
  params: Record<string, string | number>;
  /** The board the job was routed to. */
  board: string;
  /** What the campaign asked for: `name:NAME` or `kind:KIND`. */
  requested: string;
  software: string;
  submittedBy: string;
}

/** What a completed job returns. */
export interface FleetJobResult {
  runId: number;
  status: "completed";
  measurements: number;
  db: string;
}

/** Progress a worker reports for its job (streamed to `xbar submit --wait` and `xbar queue watch`). */
export interface FleetProgress {
  runId: number;
  step: number;
  steps: number;
  kind: string;
  phase: "start" | "progress" | "end" | "skipped";
  done?: number;
  total?: number;
  status?: string;
  ms?: number;
}

/** ioredis options from redis://[USER:PASSWORD@]HOST[:PORT][/DB] (or rediss:// for TLS). */
export function redisOptions(url: string): RedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new XbarError(ErrorCode.BAD_URL, `--queue takes redis://HOST:PORT, not "${url}"`);
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:")
    throw new XbarError(ErrorCode.BAD_URL, `--queue takes redis://HOST:PORT, not "${redactRedis(url)}"`);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0)
    throw new XbarError(ErrorCode.BAD_URL, `bad Redis database number in ${redactRedis(url)}`);
  return {
    host: u.hostname || "127.0.0.1",
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db,
    tls: u.protocol === "rediss:" ? {} : undefined,
    // BullMQ's workers block on Redis; it requires this.
    maxRetriesPerRequest: null,
  };
}

/** The URL with its password replaced by *** (for messages). */
export function redactRedis(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

/** Connects and pings, or fails with E653 naming the URL (never the password) within `timeoutMs`. */
export async function connectRedis(url: string, timeoutMs = 5000): Promise<Redis> {
  const redis = new Redis({ ...redisOptions(url), lazyConnect: true, connectTimeout: timeoutMs });
  redis.on("error", () => {});
  try {
    await Promise.race([
      redis.connect().then(() => redis.ping()),
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs),
      ),
    ]);
  } catch (e) {
    redis.disconnect();
    throw new XbarError(
      ErrorCode.QUEUE_UNAVAILABLE,
      `cannot reach the job queue at ${redactRedis(url)}: ${(e as Error).message}`,
    );
  }
  return redis;
}
