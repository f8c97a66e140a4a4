/**
 * Many boards on many computers: `xbar worker`, `xbar submit`, `xbar queue list|show|watch|cancel`
 * (src/fleet/). The job engine is BullMQ on Redis (`--queue redis://HOST:6379`, default $XBAR_QUEUE);
 * the run store is shared (`--db postgres://...`).
 */

import { type Command, Option } from "commander";
import { errorMessage, XbarError } from "../../drivers/index.ts";
import { ErrorCode } from "../../firmware-protocol/constants.ts";
import { loadCampaignFile } from "../campaigns/load.ts";
import { cancelJobs, findJob, jobsOfCampaign, queueStatus } from "../fleet/admin.ts";
import { connectRedis } from "../fleet/connection.ts";
import { submitCampaign, watchJobs } from "../fleet/submit.ts";
import { parseBoardSpec, startWorker } from "../fleet/worker.ts";
import { softwareVersion } from "../version.ts";
import { EXIT } from "./common.ts";
import { dbOption, intArg } from "./options.ts";

const queueOption = () =>
  new Option("--queue <redis-url>", "the job queue: redis://HOST:PORT").default(
    process.env.XBAR_QUEUE ?? "redis://127.0.0.1:6379",
    "$XBAR_QUEUE or redis://127.0.0.1:6379",
  );

const ago = (ms: number) => (ms <= 0 ? "offline" : `${Math.round((Date.now() - ms) / 1000)} s ago`);

async function withRedis<T>(url: string, fn: (r: Awaited<ReturnType<typeof connectRedis>>) => Promise<T>) {
  const redis = await connectRedis(url);
  try {
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

export function addFleetCommands(program: Command, out: (s: string) => void): void {
  program
    .command("worker")
    .description("serve the boards attached to this computer: run the jobs of their queues, record into --db")
    .addOption(queueOption())
    .addOption(dbOption())
    .option(
      "--board <name=url>",
      "a board and its port, e.g. bench-3=/dev/ttyUSB0 (repeat for several)",
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option(
      "--lock-duration <ms>",
      "a dead worker's job is handed on this long after its last lock renewal",
      intArg("--lock-duration", 1000, 3_600_000),
      30_000,
    )
    .addHelpText(
      "after",
      `
One queue per board, one job at a time per board. A worker killed mid-step (or a computer that loses
power) leaves its job stalled; BullMQ hands it back after --lock-duration, and the next worker serving
that board resumes the run from the database without repeating a completed step or a measurement.
Ctrl-C aborts running steps (arrays idle, data kept) and puts their jobs back in their queues.

Examples:
  xbar worker --queue redis://lab-db:6379 --db postgres://lab@lab-db/xbar --board bench-3=/dev/ttyUSB0
  xbar worker --board a=emu://?device=agsi --board b=socket://127.0.0.1:5025 --db lab.sqlite`,
    )
    .action(async (o: { queue: string; db: string; board: string[]; lockDuration: number }) => {
      const boards = o.board.map(parseBoardSpec);
      const log = (s: string) => out(`${new Date().toISOString()} ${s}`);
      const w = await startWorker({
        queue: o.queue,
        db: o.db,
        boards,
        software: softwareVersion(),
        lockDuration: o.lockDuration,
        log,
      });
      out(
        `worker ${process.pid}: ${w.boards.length} board(s), queue ${o.queue.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@")}; Ctrl-C to stop`,
      );
      await new Promise<void>((resolve) => {
        const stop = (sig: NodeJS.Signals) => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          log(`${sig}: stopping (running steps aborted, their jobs back in the queue)`);
          void w.close().then(resolve, resolve);
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
      process.exitCode = EXIT.INTERRUPTED;
    });

  program
    .command("submit")
    .description("queue a campaign's runs on the boards it names (board: name:NAME or kind:KIND)")
    .argument("<campaign.yaml>", "the campaign file")
    .addOption(queueOption())
    .option("--wait", "follow the jobs to their end, printing progress; exit 1 if any failed")
    .addHelpText(
      "after",
      `
In the campaign, "board: name:bench-3" sends every run to that board, "board: name:{b}" with a sweep
over b spreads the runs over boards, and "board: kind:agsi" sends each run to the live board of that
technology with the fewest jobs. Results go to the database of the workers (--db of xbar worker).

Examples:
  xbar submit endurance.yaml --queue redis://lab-db:6379 --wait
  xbar queue watch CAMPAIGN_UUID`,
    )
    .action(async (file: string, o: { queue: string; wait?: boolean }) => {
      let campaign: ReturnType<typeof loadCampaignFile>;
      try {
        campaign = loadCampaignFile(file);
      } catch (e) {
        process.stderr.write(`xbar: ${errorMessage(e)}\n`);
        process.exitCode = 2;
        return;
      }
      await withRedis(o.queue, async (redis) => {
        const { uuid, jobs } = await submitCampaign(redis, campaign, softwareVersion());
        out(`campaign ${uuid} "${campaign.name}": ${jobs.length} job(s)`);
        for (const j of jobs)
          out(
            `  job ${j.id} on ${j.board}${
              Object.keys(j.params).length
                ? ` (${Object.entries(j.params)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(" ")})`
                : ""
            }`,
          );
        if (!o.wait) return out(`follow with: xbar queue watch ${uuid}`);
        const ends = await watchJobs(o.queue, jobs, out);
        const failed = ends.filter((e) => e.state === "failed").length;
        out(`${ends.length - failed} completed, ${failed} failed`);
        if (failed > 0) process.exitCode = 1;
      });
    });

  const queue = program
    .command("queue")
    .description("the fleet's queues: list boards and jobs, show or watch a job, cancel jobs");
  queue
    .command("list")
    .description("every board (kind, worker, last seen, job counts) and the jobs waiting or running")
    .addOption(queueOption())
    .option("--json", "print JSON")
    .action(async (o: { queue: string; json?: boolean }) => {
      await withRedis(o.queue, async (redis) => {
        const s = await queueStatus(redis);
        if (o.json) return out(JSON.stringify(s));
        if (s.boards.length === 0) return out("no boards: start a worker with xbar worker --board NAME=URL");
        out(
          "board            kind       worker                    seen         waiting active completed failed",
        );
        for (const b of s.boards)
          out(
            `${b.name.padEnd(16)} ${b.kind.padEnd(10)} ${b.worker.slice(0, 25).padEnd(25)} ${(b.live ? ago(b.seen) : "offline").padEnd(12)} ${String((b.counts.waiting ?? 0) + (b.counts.delayed ?? 0)).padStart(7)} ${String(b.counts.active ?? 0).padStart(6)} ${String(b.counts.completed ?? 0).padStart(9)} ${String(b.counts.failed ?? 0).padStart(6)}`,
          );
        for (const j of s.jobs)
          out(
            `  job ${j.id} ${j.state} on ${j.board}: "${j.campaign}" point ${j.idx + 1}${j.progress ? `, run ${j.progress.runId} step ${j.progress.step}/${j.progress.steps} ${j.progress.kind}` : ""}`,
          );
      });
    });
  queue
    .command("show")
    .description("one job: campaign, board, state, progress, result or error")
    .argument("<job-id>", "job id (as printed by xbar submit)")
    .addOption(queueOption())
    .option("--json", "print JSON")
    .action(async (id: string, o: { queue: string; json?: boolean }) => {
      await withRedis(o.queue, async (redis) => {
        const j = await findJob(redis, id);
        if (!j) throw new XbarError(ErrorCode.BAD_INPUT, `no job ${id} on any board's queue`);
        if (o.json) return out(JSON.stringify(j));
        out(`job ${j.id}: ${j.state} on board ${j.board}`);
        out(`campaign "${j.campaign}" ${j.campaignUuid}, point ${j.idx + 1} ${JSON.stringify(j.params)}`);
        out(
          `submitted ${new Date(j.timestamp).toISOString()}, handed back after a stall ${j.stalled} time(s)`,
        );
        if (j.progress)
          out(
            `progress: run ${j.progress.runId}, step ${j.progress.step}/${j.progress.steps} ${j.progress.kind} (${j.progress.phase})`,
          );
        if (j.result)
          out(
            `result: run ${j.result.runId} ${j.result.status}, ${j.result.measurements} measurements in ${j.result.db}`,
          );
        if (j.error) out(`error: ${j.error}`);
      });
    });
  queue
    .command("watch")
    .description("follow the jobs of a submitted campaign to their end, printing progress")
    .argument("<campaign-uuid>", "as printed by xbar submit")
    .addOption(queueOption())
    .action(async (uuid: string, o: { queue: string }) => {
      await withRedis(o.queue, async (redis) => {
        const ends = await watchJobs(o.queue, await jobsOfCampaign(redis, uuid), out);
        const failed = ends.filter((e) => e.state === "failed").length;
        out(`${ends.length - failed} completed, ${failed} failed`);
        if (failed > 0) process.exitCode = 1;
      });
    });
  queue
    .command("cancel")
    .description("cancel jobs: remove those waiting, abort those running (data kept, run resumable)")
    .argument("[job-ids...]", "job ids")
    .option("--campaign <uuid>", "every job of this submitted campaign")
    .addOption(queueOption())
    .action(async (ids: string[], o: { queue: string; campaign?: string }) => {
      if (ids.length === 0 && !o.campaign)
        throw new XbarError(ErrorCode.BAD_INPUT, "give job ids or --campaign UUID");
      await withRedis(o.queue, async (redis) => {
        const jobs = o.campaign ? await jobsOfCampaign(redis, o.campaign) : [];
        for (const id of ids) {
          const j = await findJob(redis, id);
          if (!j) throw new XbarError(ErrorCode.BAD_INPUT, `no job ${id} on any board's queue`);
          jobs.push({ id, board: j.board });
        }
        for (const r of await cancelJobs(redis, jobs)) out(`job ${r.id}: ${r.outcome}`);
      });
    });
  for (const c of [...queue.commands]) c.exitOverride();
}
