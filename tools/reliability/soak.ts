/**
 * The exactly-once programming soak, shared by test/reliability-soak.test.ts and
 * scripts/reliability-figures.mts: a seeded plan of programming commands (PLIST, PULSE, OPU) is sent
 * through a link with faults and through a clean link to a board of the same seed; the board's own
 * pulse counter and every device's conductance are then compared.
 *
 *   plan(seed) ─┬─ client ─ faults (drop, corrupt, both directions) ─ board A ─┐
 *               └─ client ─ clean link ──────────────────────────────── board B ─┴─ compare STAT, G
 *
 * The linear device (1000 equal steps from 1 µS to 100 µS, no noise) makes the final state depend
 * only on how many pulses each device received, as long as none reaches the top: the plan stays far
 * below it. One pulse lost or doubled moves a device by a whole step (99 nS).
 */
import { Duplex, PassThrough } from "node:stream";
import { type ClientStats, CrossbarClient, StreamTransport } from "../../drivers/index.ts";
import { type ArgInput, argInt } from "../../firmware-protocol/index.ts";
import { Random } from "../../firmware-protocol/random.ts";
import {
  EmulatedBoard,
  type FaultSpec,
  type FaultStats,
  serveStream,
  withFaults,
} from "../../mocks/index.ts";

export interface SoakOptions {
  seed?: number;
  /** Programming commands in the plan; default 600 (about 27 000 pulses). */
  commands?: number;
  /** Faults of the faulty run; default drop and corrupt 3 % of the lines each way. */
  faults?: FaultSpec;
  window?: number;
}

export interface SoakResult {
  commands: number;
  /** Pulses the plan asks for. */
  planned: number;
  /** Pulses the boards counted (STAT) in the faulty and in the clean run. */
  faultyCount: number;
  cleanCount: number;
  /** Pulses the faulty board got too few / too many, summed over devices (from the conductances). */
  lost: number;
  doubled: number;
  /** Devices whose conductance differs from the clean run by more than a thousandth of a step. */
  devicesDiffering: number;
  faults: FaultStats;
  client: ClientStats;
  ms: number;
}

const ROWS = 16;
const COLS = 16;
const STEP = (1e-4 - 1e-6) / 1000;

function duplexPair(): [Duplex, Duplex] {
  const a = new PassThrough();
  const b = new PassThrough();
  return [Duplex.from({ readable: a, writable: b }), Duplex.from({ readable: b, writable: a })];
}

export interface Command {
  verb: string;
  args: ArgInput;
  pulses: number;
}

/** The seeded plan: 70 % PLIST of 32 entries, 20 % PULSE trains, 10 % OPU on 4 x 4 blocks. */
export function soakPlan(seed: number, commands: number): Command[] {
  const rng = new Random(seed);
  const int = (n: number) => Math.floor(rng.uniform() * n);
  const out: Command[] = [];
  for (let i = 0; i < commands; i++) {
    const u = rng.uniform();
    if (u < 0.7) {
      const k = 32;
      const r = new Uint16Array(k);
      const c = new Uint16Array(k);
      const n = new Uint16Array(k);
      let total = 0;
      for (let j = 0; j < k; j++) {
        r[j] = int(ROWS);
        c[j] = int(COLS);
        n[j] = 1 + int(4);
        total += n[j]!;
      }
      out.push({
        verb: "PLIST",
        args: {
          r: { type: "u16", data: r },
          c: { type: "u16", data: c },
          v: 2,
          w: 1e-6,
          n: { type: "u16", data: n },
        },
        pulses: total,
      });
    } else if (u < 0.9) {
      const n = 1 + int(8);
      out.push({ verb: "PULSE", args: { r: int(ROWS), c: int(COLS), v: 2, w: 1e-6, n }, pulses: n });
    } else {
      // Counts round(x_i d_j) with x, d in {0, 1, 1.5}: 0, 1 or 2 pulses per device, all positive.
      const vals = [0, 1, 1.5];
      const x = Float32Array.from({ length: 4 }, () => vals[int(3)]!);
      const d = Float32Array.from({ length: 4 }, () => vals[int(3)]!);
      let total = 0;
      for (const xi of x) for (const dj of d) total += Math.abs(xi * dj) >= 0.5 ? Math.round(xi * dj) : 0;
      out.push({
        verb: "OPU",
        args: {
          r0: int(ROWS - 3),
          c0: int(COLS - 3),
          nr: 4,
          nc: 4,
          x: { type: "f32", data: x },
          d: { type: "f32", data: d },
          vp: 2,
          vn: -2,
          w: 1e-6,
        },
        pulses: total,
      });
    }
  }
  return out;
}

/** Runs `plan` on an emulated board (through `faults` when given); also the clean reference of the firmware soak. */
export async function run(plan: Command[], seed: number, faults: FaultSpec | undefined, window: number) {
  const board = new EmulatedBoard({ rows: ROWS, cols: COLS, device: "linear", seed, window });
  const [hostEnd, boardEnd] = duplexPair();
  const link = faults ? withFaults(boardEnd, faults, board) : boardEnd;
  serveStream(board, link);
  const client = new CrossbarClient(new StreamTransport(hostEnd, "soak", board.maxLine), {
    window,
    baseTimeoutMs: 25,
    retries: 100,
  });
  await client.request("HELLO");
  const replies = await Promise.all(plan.map((c) => client.request(c.verb, c.args)));
  let confirmed = 0;
  for (const [i, a] of replies.entries()) confirmed += argInt(a, plan[i]!.verb === "PULSE" ? "n" : "pulses");
  const stat = await client.request("STAT");
  await client.close();
  return {
    count: argInt(stat, "pulses"),
    confirmed,
    g: Float64Array.from(board.g),
    faults: (link as { faultStats?: FaultStats }).faultStats,
    client: client.stats,
  };
}

/** Runs the plan over a faulty and a clean link and compares the boards. */
export async function runSoak(opts: SoakOptions = {}): Promise<SoakResult> {
  const { seed = 1, commands = 600, window = 16 } = opts;
  const faults = opts.faults ?? { drop: 0.03, corrupt: 0.03, seed: seed + 1000 };
  const plan = soakPlan(seed, commands);
  const t0 = performance.now();
  const faulty = await run(plan, seed, faults, window);
  const clean = await run(plan, seed, undefined, window);
  let lost = 0;
  let doubled = 0;
  let devicesDiffering = 0;
  for (let i = 0; i < clean.g.length; i++) {
    const diff = (faulty.g[i]! - clean.g[i]!) / STEP;
    if (Math.abs(diff) > 1e-3) devicesDiffering++;
    const steps = Math.round(diff);
    if (steps < 0) lost -= steps;
    else doubled += steps;
  }
  return {
    commands,
    planned: plan.reduce((a, c) => a + c.pulses, 0),
    faultyCount: faulty.count,
    cleanCount: clean.count,
    lost,
    doubled,
    devicesDiffering,
    faults: faulty.faults!,
    client: faulty.client,
    ms: performance.now() - t0,
  };
}
