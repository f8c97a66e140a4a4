/**
 * A simulated lab on this machine: N emulated boards served by W `xbar worker` processes, one Redis
 * (BullMQ) and one PostgreSQL (the run store), all started here on free ports. A campaign sweeps
 * J runs over every board; we time submission to the last job's end and measure what each part
 * spent (CPU seconds of Redis, of PostgreSQL's processes, of the workers, from /proc).
 *
 * Jobs take real time in either or both of two ways: `--timescale S` gives every emulated board the
 * board time model (`emu://?timescale=S`: each command takes S wall seconds per second of the board
 * profile's time; docs/timing.md), and `--delay D` makes each board's link hold every reply D ms
 * (`fault=delay:Dms`, what the first measurements used before the time model existed). Both 0: jobs
 * run as fast as the emulator goes.
 *
 *   npm run build   (the workers are `xbar worker` processes: bin/xbar.mjs runs dist/)
 *   node --import tsx scripts/fleet-scale.ts [--boards 100] [--workers 4] [--jobs 2] [--delay 2]
 *     [--timescale S] [--hold H] [--out FILE]
 *
 * Writes the figures as JSON (default docs/scale-results.json, one entry per configuration, replaced
 * by label) and prints them.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseCampaign } from "../src/campaigns/load.ts";
import { RunStore } from "../src/campaigns/store/run-store.ts";
import { connectRedis } from "../src/fleet/connection.ts";
import { submitCampaign, watchJobs } from "../src/fleet/submit.ts";
import { startXbar, stopAll } from "../tools/run-xbar.ts";
import { startPostgres, startRedis } from "../tools/services.ts";

const { values: a } = parseArgs({
  options: {
    boards: { type: "string", default: "100" },
    workers: { type: "string", default: "4" },
    jobs: { type: "string", default: "2" },
    delay: { type: "string", default: "2" },
    timescale: { type: "string" },
    hold: { type: "string", default: "0" },
    out: { type: "string", default: "docs/scale-results.json" },
  },
});
const BOARDS = Number(a.boards);
const WORKERS = Number(a.workers);
const JOBS = Number(a.jobs);
const DELAY = Number(a.delay);
const TIMESCALE = Number(a.timescale ?? 0);
/** Named in the label and command when given (0 too), so that those of the first measurements stay theirs. */
const TS = a.timescale === undefined ? "" : String(TIMESCALE);
const HOLD = Number(a.hold);
for (const [flag, v] of [
  ["--boards", BOARDS],
  ["--workers", WORKERS],
  ["--jobs", JOBS],
  ["--delay", DELAY],
  ["--timescale", TIMESCALE],
  ["--hold", HOLD],
] as const) {
  const real = flag === "--timescale" || flag === "--hold";
  if (!Number.isFinite(v) || v < 0 || (!real && !Number.isInteger(v)))
    throw new Error(`${flag}: a non-negative ${real ? "number" : "integer"}, not ${v}`);
}
const TICK = 100; // clock ticks per second (Linux USER_HZ)

/** CPU seconds (user + system) of a process, or 0 once it is gone. */
function cpuOf(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) / TICK;
  } catch {
    return 0;
  }
}

/** Pids whose parent is `ppid`. */
function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc"))
    if (/^\d+$/.test(d)) {
      try {
        const f = readFileSync(`/proc/${d}/stat`, "utf8").split(") ")[1]!.split(" ");
        if (Number(f[1]) === ppid) out.push(Number(d));
      } catch {}
    }
  return out;
}
const pgCpu = (postmaster: number) =>
  cpuOf(postmaster) + childrenOf(postmaster).reduce((s, p) => s + cpuOf(p), 0);

const names = Array.from({ length: BOARDS }, (_, i) => `b${String(i + 1).padStart(3, "0")}`);
const STEPS = [
  "  - identify: {}",
  "  - characterize: { row: 0, col: 0, pulses: 20 }",
  "  - read: { block: { r0: 0, c0: 0, rows: 8, cols: 8 } }",
  ...(HOLD > 0 ? [`  - wait: { seconds: ${HOLD} }`] : []),
].join("\n");

const [redis, pg] = await Promise.all([startRedis(), startPostgres()]);
const load0 = loadavg();
try {
  const url = (i: number) =>
    `emu://?rows=8&cols=8&device=linear&seed=${i + 1}${DELAY > 0 ? `&fault=delay:${DELAY}ms` : ""}${TIMESCALE > 0 ? `&timescale=${TIMESCALE}` : ""}`;
  const workers = Array.from({ length: WORKERS }, (_, w) => {
    const mine = names.filter((_, i) => i % WORKERS === w);
    return startXbar([
      "worker",
      "--queue",
      redis.url,
      "--db",
      pg.url,
      ...mine.flatMap((n) => ["--board", `${n}=${url(names.indexOf(n))}`]),
    ]);
  });
  await Promise.all(workers.map((w) => w.waitFor(/worker \d+: \d+ board/, 600_000)));
  const client = await connectRedis(redis.url);
  const text = `name: scale\nboard: name:{b}\nsweep:\n  rep: [${Array.from({ length: JOBS }, (_, i) => i + 1).join(", ")}]\n  b: [${names.join(", ")}]\nsteps:\n${STEPS}\n`;
  const campaign = parseCampaign(text, join(tmpdir(), "scale.yaml"));
  const cpu0 = {
    redis: cpuOf(redis.pid),
    pg: pgCpu(pg.pid),
    workers: workers.map((w) => cpuOf(w.child.pid!)),
  };
  const t0 = performance.now();
  const { jobs } = await submitCampaign(client, campaign, "scale");
  const tSubmitted = performance.now();
  const ends = await watchJobs(redis.url, jobs, () => {}, 250);
  const t1 = performance.now();
  const cpu1 = {
    redis: cpuOf(redis.pid),
    pg: pgCpu(pg.pid),
    workers: workers.map((w) => cpuOf(w.child.pid!)),
  };
  client.disconnect();
  const store = await RunStore.open(pg.url);
  const rows = Number((await store.db.get("SELECT COUNT(*) AS n FROM measurements"))!.n);
  const steps = Number((await store.db.get("SELECT COUNT(*) AS n FROM steps"))!.n);
  // How long a job took on its worker (its run's start to end): the boards' time plus the worker's.
  const spans = (await store.runs())
    .filter((r) => r.started && r.ended)
    .map((r) => (Date.parse(r.ended!) - Date.parse(r.started!)) / 1000);
  await store.close();
  const s = (t1 - t0) / 1000;
  const workerCpu = cpu1.workers.reduce((x, v, i) => x + v - cpu0.workers[i]!, 0);
  const result = {
    label: `${BOARDS} boards, ${WORKERS} workers, ${JOBS} jobs per board, link delay ${DELAY} ms${TS ? `, timescale ${TS}` : ""}${HOLD > 0 ? `, hold ${HOLD} s` : ""}`,
    command: `node --import tsx scripts/fleet-scale.ts --boards ${BOARDS} --workers ${WORKERS} --jobs ${JOBS} --delay ${DELAY}${TS ? ` --timescale ${TS}` : ""}${HOLD > 0 ? ` --hold ${HOLD}` : ""}`,
    timescale: TIMESCALE,
    hold: HOLD,
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model,
      loadavg1AtStart: load0[0],
      loadavg1AtEnd: loadavg()[0],
    },
    jobs: jobs.length,
    completed: ends.filter((e) => e.state === "completed").length,
    failed: ends.filter((e) => e.state === "failed").length,
    /** Failed jobs by their error's code (the first word of the message), with one message of each. */
    failures: Object.fromEntries(
      [...new Set(ends.filter((e) => e.error).map((e) => e.error!.split(" ")[0]!))].map((code) => [
        code,
        {
          jobs: ends.filter((e) => e.error?.startsWith(`${code} `)).length,
          example: ends.find((e) => e.error?.startsWith(`${code} `))!.error!.slice(0, 300),
        },
      ]),
    ),
    seconds: +s.toFixed(2),
    /** Mean and largest seconds from a run's start to its end on its worker. */
    jobSeconds: {
      mean: +(spans.reduce((x, v) => x + v, 0) / Math.max(1, spans.length)).toFixed(2),
      max: +Math.max(0, ...spans).toFixed(2),
    },
    submitSeconds: +((tSubmitted - t0) / 1000).toFixed(2),
    jobsPerSecond: +(jobs.length / s).toFixed(2),
    stepsPerSecond: +(steps / s).toFixed(1),
    measurementRows: rows,
    rowsPerSecond: +(rows / s).toFixed(0),
    cpuSeconds: {
      redis: +(cpu1.redis - cpu0.redis).toFixed(2),
      postgres: +(cpu1.pg - cpu0.pg).toFixed(2),
      workers: +workerCpu.toFixed(2),
    },
    /** CPU milliseconds per job: what each part would need per job/s with a core of its own. */
    cpuMsPerJob: {
      redis: +((1000 * (cpu1.redis - cpu0.redis)) / jobs.length).toFixed(1),
      postgres: +((1000 * (cpu1.pg - cpu0.pg)) / jobs.length).toFixed(1),
      workers: +((1000 * workerCpu) / jobs.length).toFixed(1),
    },
    cpuShare: {
      redis: +((cpu1.redis - cpu0.redis) / s).toFixed(2),
      postgres: +((cpu1.pg - cpu0.pg) / s).toFixed(2),
      workers: +(workerCpu / s).toFixed(2),
    },
  };
  console.log(JSON.stringify(result, null, 2));
  const prev = existsSync(a.out!)
    ? (JSON.parse(readFileSync(a.out!, "utf8")) as Array<{ label: string }>)
    : [];
  writeFileSync(
    a.out!,
    `${JSON.stringify([...prev.filter((p) => p.label !== result.label), result], null, 2)}\n`,
  );
  console.log(`written to ${a.out}`);
} finally {
  await stopAll();
  await Promise.all([redis.stop(), pg.stop()]);
}
