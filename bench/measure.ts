/**
 * The measurements: time-boxed single-device read loops (one request in flight, or the board's whole
 * window kept full) and repeated whole-array reads, each with the bytes the client's transport moved.
 */
import { performance } from "node:perf_hooks";
import { lastValueFrom } from "rxjs";
import type { CrossbarClient } from "../drivers/index.ts";
import type { Board } from "../src/board/board.ts";
import { CrossbarBoard } from "../src/board/protocol-board.ts";

/** The wire client behind a Board (every link of the stack is a CrossbarBoard). */
export function clientOf(board: Board): CrossbarClient {
  if (!(board instanceof CrossbarBoard)) throw new Error(`bench: ${board.url} is not a CrossbarBoard`);
  return board.client;
}

interface Snapshot {
  sent: number;
  received: number;
  retransmissions: number;
  discarded: number;
  strayReplies: number;
}

function snapshot(client: CrossbarClient): Snapshot {
  const { sent, received } = client.transport.bytes;
  const { retransmissions, discarded, strayReplies } = client.stats;
  return { sent, received, retransmissions, discarded, strayReplies };
}

export interface WireDelta {
  sent: number;
  received: number;
  /** Retransmissions, discarded lines and stray replies during the measurement (all should be 0). */
  anomalies: number;
}

function delta(a: Snapshot, b: Snapshot): WireDelta {
  return {
    sent: b.sent - a.sent,
    received: b.received - a.received,
    anomalies:
      b.retransmissions - a.retransmissions + (b.discarded - a.discarded) + (b.strayReplies - a.strayReplies),
  };
}

export interface ReadRate {
  /** Requests kept in flight. */
  inFlight: number;
  reads: number;
  seconds: number;
  /** Median of the slices' rates, reads/s (robust against bursts of load from other processes). */
  perSecond: number;
  /** Slowest and fastest slice, reads/s. */
  slowest: number;
  fastest: number;
  /** Mean time per read, µs (1 / rate: the round trip when one request is in flight). */
  microsPerRead: number;
  wire: WireDelta;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Device addresses visited in turn, so reads are spread over the array. */
function addressOf(k: number, rows: number, cols: number): [number, number] {
  return [k % rows, Math.floor(k / rows) % cols];
}

/**
 * `workers` loops, each issuing board.read() one after the other until `ms` have passed, so that
 * `workers` requests are in flight at every moment. Returns the reads completed and the time taken
 * until the last one answered.
 */
async function readLoop(
  board: Board,
  workers: number,
  ms: number,
): Promise<{ reads: number; seconds: number }> {
  const { rows, cols } = board.identity;
  let next = 0;
  let reads = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  const worker = async () => {
    while (performance.now() < end) {
      const [r, c] = addressOf(next++, rows, cols);
      const g = await lastValueFrom(board.read(r, c));
      if (!(g > 0)) throw new Error(`bench: implausible conductance ${g} S at (${r}, ${c})`);
      reads++;
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  return { reads, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Single-device read rate with `inFlight` requests in flight: sets the client's window to it, warms
 * up for `warmMs`, then measures for `ms` in `slices` equal time boxes and reports the median slice.
 * Restores the window afterwards.
 */
export async function measureReads(
  board: Board,
  inFlight: number,
  { warmMs, ms, slices }: { warmMs: number; ms: number; slices: number },
): Promise<ReadRate> {
  const client = clientOf(board);
  const saved = client.window;
  client.window = inFlight;
  try {
    await readLoop(board, inFlight, warmMs);
    const before = snapshot(client);
    const rates: number[] = [];
    let reads = 0;
    let seconds = 0;
    for (let i = 0; i < slices; i++) {
      const s = await readLoop(board, inFlight, ms / slices);
      rates.push(s.reads / s.seconds);
      reads += s.reads;
      seconds += s.seconds;
    }
    const wire = delta(before, snapshot(client));
    const perSecond = median(rates);
    return {
      inFlight,
      reads,
      seconds,
      perSecond,
      slowest: Math.min(...rates),
      fastest: Math.max(...rates),
      microsPerRead: 1e6 / perSecond,
      wire,
    };
  } finally {
    client.window = saved;
  }
}

export interface ReadAllTiming {
  rows: number;
  cols: number;
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** Bytes on the wire per run (the same every run). */
  wire: WireDelta;
}

/**
 * Times board.readAll(): one warm-up run, then runs until `maxRuns` are done or `budgetMs` has been
 * spent (at least `minRuns`). Checks the map's shape and a few devices against single reads.
 */
export async function measureReadAll(
  board: Board,
  { minRuns, maxRuns, budgetMs }: { minRuns: number; maxRuns: number; budgetMs: number },
): Promise<ReadAllTiming> {
  const client = clientOf(board);
  const { rows, cols } = board.identity;
  const warm = await lastValueFrom(board.readAll());
  if (warm.rows !== rows || warm.cols !== cols || warm.data.length !== rows * cols)
    throw new Error(`bench: readAll returned ${warm.rows}x${warm.cols} (${warm.data.length} values)`);
  for (const [r, c] of [
    [0, 0],
    [rows - 1, cols - 1],
    [rows >> 1, cols >> 2],
  ] as const) {
    const g = await lastValueFrom(board.read(r, c));
    if (warm.data[r * cols + c] !== g)
      throw new Error(`bench: readAll and read disagree at (${r}, ${c}): ${warm.data[r * cols + c]} vs ${g}`);
  }
  const times: number[] = [];
  const before = snapshot(client);
  const start = performance.now();
  while (times.length < maxRuns && (times.length < minRuns || performance.now() - start < budgetMs)) {
    const t0 = performance.now();
    await lastValueFrom(board.readAll());
    times.push(performance.now() - t0);
  }
  const d = delta(before, snapshot(client));
  const runs = times.length;
  return {
    rows,
    cols,
    runs,
    medianMs: median(times),
    minMs: Math.min(...times),
    maxMs: Math.max(...times),
    wire: { sent: d.sent / runs, received: d.received / runs, anomalies: d.anomalies },
  };
}
