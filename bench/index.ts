/**
 * `npm run bench`: throughput of the whole stack (Board → CrossbarClient → transport → emulated board
 * and back), on every link, with ratios against baselines measured in the same run.
 *
 *   1. single-device reads/s (board.read) over in-process emu://, TCP and a socat pty pair, with one
 *      request in flight and with the board's window kept full;
 *   2. whole-array reads (board.readAll) of 64x64 and 1024x1024 in-process and 1024x1024 over TCP;
 *   3. bytes on the wire per read and per device, against the raw payload.
 *
 * Progress goes to stderr; the report (tables, then one `BENCH_JSON {...}` line) to stdout.
 * Every board, server, socat process and temp dir is released, so the process exits by itself.
 */
import { availableParallelism, cpus, platform, release, totalmem } from "node:os";
import { performance } from "node:perf_hooks";
import { type EmuConfig, type OpenLink, onPath, openInProcess, openPty, openTcp } from "./links.ts";
import { measureReadAll, measureReads, type ReadAllTiming, type ReadRate } from "./measure.ts";
import { int, num, ratio, round, table } from "./table.ts";

/** Array of the single-read runs (the read rate does not depend on the array size). */
const SMALL: EmuConfig = { rows: 64, cols: 64, device: "agsi", seed: 1 };
/** Array of the large whole-array reads. */
const LARGE: EmuConfig = { rows: 1024, cols: 1024, device: "agsi", seed: 1 };
/** Per read-rate measurement: warm-up, then the measured time box, cut in slices (the median slice counts). */
const READ_TIMING = { warmMs: 300, ms: 1500, slices: 5 };
const SMALL_READALL = { minRuns: 10, maxRuns: 2000, budgetMs: 500 };
const LARGE_READALL = { minRuns: 5, maxRuns: 15, budgetMs: 3000 };
/** The aims. */
const AIM_WINDOW_SPEEDUP_PTY = 5;
const AIM_READALL_1024_MS = 100;
/** Raw payload of one single-device read: f32 conductance + two u16 addresses; of one device in a map: f32. */
const PAYLOAD_READ = 8;
const PAYLOAD_DEVICE = 4;

type LinkName = "in-process" | "tcp" | "pty";

interface LinkReads {
  link: LinkName;
  window: number;
  one?: ReadRate;
  full?: ReadRate;
  error?: string;
}

const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
const message = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0]!;

/** Opens a link, runs `body`, always closes it; a failure becomes a message instead of ending the run. */
async function withLink<T>(
  what: string,
  open: () => Promise<OpenLink>,
  body: (link: OpenLink) => Promise<T>,
): Promise<T | { error: string }> {
  let link: OpenLink | undefined;
  try {
    link = await open();
    return await body(link);
  } catch (e) {
    log(`${what} failed: ${message(e)}`);
    return { error: message(e) };
  } finally {
    if (link) await link.close().catch((e) => log(`closing ${what} failed: ${message(e)}`));
  }
}

/** Half the range of the slices, relative to the median: "±4%". */
const spread = (r: ReadRate) => `±${Math.round((50 * (r.fastest - r.slowest)) / r.perSecond)}%`;

const isError = (x: unknown): x is { error: string } => typeof x === "object" && x !== null && "error" in x;

async function readsOver(link: LinkName, open: () => Promise<OpenLink>): Promise<LinkReads> {
  const out: LinkReads = { link, window: 0 };
  const r = await withLink(link, open, async ({ board }) => {
    out.window = board.identity.window;
    log(`${link}: single reads, 1 in flight`);
    out.one = await measureReads(board, 1, READ_TIMING);
    log(`${link}: single reads, ${out.window} in flight`);
    out.full = await measureReads(board, out.window, READ_TIMING);
  });
  if (isError(r)) out.error = r.error;
  return out;
}

async function readAllOver(
  what: string,
  open: () => Promise<OpenLink>,
  opts: typeof SMALL_READALL,
): Promise<ReadAllTiming | { error: string }> {
  return withLink(what, open, async ({ board }) => {
    log(`${what}: readAll ${board.identity.rows}x${board.identity.cols}`);
    return measureReadAll(board, opts);
  });
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const socat = onPath("socat");
  const cpu = cpus()[0]?.model.trim() ?? "unknown CPU";
  const cores = availableParallelism();
  const memGiB = totalmem() / 2 ** 30;
  const date = new Date().toISOString();
  const machine = `${cpu}, ${cores} cores, ${num(memGiB, 3)} GiB, ${platform()} ${release()}, node ${process.version}, ${date}`;

  // ---- measurements ----
  // JIT warm-up of the whole stack, so that the first link measured is not the one paying for it.
  await withLink(
    "warm-up",
    () => openInProcess(SMALL),
    async ({ board }) => {
      log("warm-up");
      await measureReads(board, 1, { warmMs: 300, ms: 100, slices: 1 });
      await measureReads(board, board.identity.window, { warmMs: 300, ms: 100, slices: 1 });
    },
  );
  const reads: LinkReads[] = [];
  reads.push(await readsOver("in-process", () => openInProcess(SMALL)));
  reads.push(await readsOver("tcp", () => openTcp(SMALL)));
  if (socat) reads.push(await readsOver("pty", () => openPty(socat, SMALL)));

  const emuSmall = await readAllOver("in-process", () => openInProcess(SMALL), SMALL_READALL);
  const emuLarge = await readAllOver("in-process", () => openInProcess(LARGE), LARGE_READALL);
  const tcpLarge = await readAllOver("tcp", () => openTcp(LARGE), LARGE_READALL);

  // ---- report ----
  const out: string[] = [];
  out.push(`xbar bench — ${machine}`);
  out.push("");

  // 1. single-device reads
  const base = reads.find((r) => r.link === "in-process")?.one;
  const rowsReads = reads.map((r) => {
    if (r.error || !r.one || !r.full) return [r.link, "FAILED", r.error ?? "", "", "", "", "", "", "", ""];
    return [
      r.link,
      int(r.one.perSecond),
      spread(r.one),
      num(r.one.microsPerRead, 3),
      base ? ratio(r.one.perSecond / base.perSecond) : "-",
      String(r.window),
      int(r.full.perSecond),
      spread(r.full),
      num(r.full.microsPerRead, 3),
      ratio(r.full.perSecond / r.one.perSecond),
    ];
  });
  out.push(
    `1. Single-device reads, board.read(r,c) through the full stack (${SMALL.rows}x${SMALL.cols} ${SMALL.device}; ` +
      `${READ_TIMING.ms / 1000} s per figure after ${READ_TIMING.warmMs} ms warm-up: median of ${READ_TIMING.slices} slices, ± half their range)`,
  );
  out.push(
    table(
      [
        "link",
        "1 in flight: reads/s",
        "±",
        "µs/read",
        "vs in-process",
        "window",
        "window full: reads/s",
        "±",
        "µs/read",
        "full / one",
      ],
      rowsReads,
    ),
  );
  const pty = reads.find((r) => r.link === "pty");
  if (!socat) out.push("   pty: skipped, socat is not on PATH (install socat to measure a real pty pair)");
  else if (pty?.one && pty.full) {
    const s = pty.full.perSecond / pty.one.perSecond;
    out.push(
      `   aim: window full >= ${AIM_WINDOW_SPEEDUP_PTY}x one in flight over the pty: ${ratio(s)} ` +
        `(${s >= AIM_WINDOW_SPEEDUP_PTY ? "met" : "NOT met"})`,
    );
  }
  out.push("");

  // 2. whole-array reads
  const fullRate = (link: LinkName) => reads.find((r) => r.link === link)?.full?.perSecond;
  const emuLargeMs = isError(emuLarge) ? undefined : emuLarge.medianMs;
  const readAllRow = (link: LinkName, t: ReadAllTiming | { error: string }) => {
    if (isError(t)) return ["?", link, "FAILED", t.error, "", "", "", "", ""];
    const n = t.rows * t.cols;
    const devicesPerS = n / (t.medianMs / 1000);
    const wireMBs = (t.wire.sent + t.wire.received) / (t.medianMs / 1000) / 1e6;
    const perRead = fullRate(link);
    return [
      `${t.rows}x${t.cols}`,
      link,
      String(t.runs),
      num(t.medianMs, 3),
      `${num(t.minMs, 3)}..${num(t.maxMs, 3)}`,
      num(devicesPerS / 1e6, 3),
      num(wireMBs, 3),
      perRead ? ratio(devicesPerS / perRead) : "-",
      t.rows === LARGE.rows && t.cols === LARGE.cols && emuLargeMs !== undefined
        ? ratio(t.medianMs / emuLargeMs)
        : "-",
    ];
  };
  out.push("2. Whole array in one command, board.readAll() (median of the runs, after one warm-up run)");
  out.push(
    table(
      [
        "array",
        "link",
        "runs",
        "median ms",
        "min..max ms",
        "Mdevices/s",
        "wire MB/s",
        "vs window-full read()",
        "time vs in-process 1024²",
      ],
      [readAllRow("in-process", emuSmall), readAllRow("in-process", emuLarge), readAllRow("tcp", tcpLarge)],
    ),
  );
  if (emuLargeMs !== undefined) {
    out.push(
      `   aim: 1024x1024 in-process well under ${AIM_READALL_1024_MS} ms: ${num(emuLargeMs, 3)} ms = ` +
        `${ratio(emuLargeMs / AIM_READALL_1024_MS)} the aim (${emuLargeMs < AIM_READALL_1024_MS ? "met" : "NOT met"})`,
    );
  }
  out.push("");

  // 3. bytes on the wire
  const wireRows: string[][] = [];
  for (const r of reads) {
    if (!r.one) continue;
    const { sent, received } = r.one.wire;
    const per = (sent + received) / r.one.reads;
    wireRows.push([
      "read(r,c)",
      r.link,
      num(sent / r.one.reads, 3),
      num(received / r.one.reads, 3),
      num(per, 3),
      `${PAYLOAD_READ} B`,
      ratio(per / PAYLOAD_READ),
    ]);
  }
  for (const [link, t] of [
    ["in-process", emuSmall],
    ["in-process", emuLarge],
    ["tcp", tcpLarge],
  ] as const) {
    if (isError(t)) continue;
    const n = t.rows * t.cols;
    const per = (t.wire.sent + t.wire.received) / n;
    wireRows.push([
      `readAll ${t.rows}x${t.cols}, per device`,
      link,
      num(t.wire.sent / n, 3),
      num(t.wire.received / n, 3),
      num(per, 3),
      `${PAYLOAD_DEVICE} B`,
      ratio(per / PAYLOAD_DEVICE),
    ]);
  }
  out.push(
    `3. Bytes on the wire (the client's transport.bytes), against the raw payload ` +
      `(read: 4 B f32 conductance + 2 x u16 address; map: 4 B f32 per device)`,
  );
  out.push(
    table(
      ["operation", "link", "sent B", "received B", "total B", "raw payload", "total / payload"],
      wireRows,
    ),
  );
  const anomalies =
    reads.reduce((s, r) => s + (r.one?.wire.anomalies ?? 0) + (r.full?.wire.anomalies ?? 0), 0) +
    [emuSmall, emuLarge, tcpLarge].reduce((s, t) => s + (isError(t) ? 0 : t.wire.anomalies), 0);
  out.push(
    `   retransmissions + discarded lines + stray replies during the measurements: ${anomalies}` +
      (anomalies ? " (should be 0: the figures include recovery traffic)" : ""),
  );
  const seconds = (performance.now() - t0) / 1000;
  out.push(`   total run time ${num(seconds, 3)} s`);
  out.push("");

  // JSON summary, one line
  const rate = (x?: ReadRate) => (x ? round(x.perSecond) : null);
  const spreadPct = (x: ReadRate) => Math.round((50 * (x.fastest - x.slowest)) / x.perSecond);
  // 4. The device physics: memory per device, full-array READALL and VMM, plain vs richest model.
  const { benchPhysics } = await import("./physics.ts");
  const ph = await benchPhysics(log);
  out.push("", ph.text);

  const json = {
    machine: {
      cpu,
      cores,
      memGiB: round(memGiB, 3),
      os: `${platform()} ${release()}`,
      node: process.version,
      date,
    },
    reads: Object.fromEntries(
      reads.map((r) => [
        r.link,
        r.error
          ? { error: r.error }
          : {
              oneInFlightPerS: rate(r.one),
              window: r.window,
              windowFullPerS: rate(r.full),
              spreadPct: r.one && r.full ? [spreadPct(r.one), spreadPct(r.full)] : null,
              fullOverOne: r.one && r.full ? round(r.full.perSecond / r.one.perSecond, 3) : null,
              oneVsInProcess: r.one && base ? round(r.one.perSecond / base.perSecond, 3) : null,
              bytesPerRead: r.one ? round((r.one.wire.sent + r.one.wire.received) / r.one.reads, 4) : null,
            },
      ]),
    ),
    ptySkipped: !socat,
    readAll: Object.fromEntries(
      (
        [
          ["inProcess64", emuSmall],
          ["inProcess1024", emuLarge],
          ["tcp1024", tcpLarge],
        ] as const
      ).map(([k, t]) => [
        k,
        isError(t)
          ? { error: t.error }
          : {
              medianMs: round(t.medianMs),
              minMs: round(t.minMs),
              runs: t.runs,
              bytesPerDevice: round((t.wire.sent + t.wire.received) / (t.rows * t.cols), 4),
            },
      ]),
    ),
    payload: { read: PAYLOAD_READ, device: PAYLOAD_DEVICE },
    anomalies,
    physics: (ph.json as { physics?: unknown }).physics,
    seconds: round(seconds, 3),
  };
  out.push(`BENCH_JSON ${JSON.stringify(json)}`);
  process.stdout.write(`${out.join("\n")}\n`);
}

/** If anything still holds the event loop once the report is out, say what, and leave with status 1. */
function watchdog(): void {
  setTimeout(() => {
    log(`the process did not exit by itself; still active: ${process.getActiveResourcesInfo().join(", ")}`);
    process.exit(1);
  }, 5000).unref();
}

main().then(watchdog, (e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
  watchdog();
});
