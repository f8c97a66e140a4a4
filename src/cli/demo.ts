/**
 * `xbar demo` (and `npm start`): a short campaign on the embedded default board: identify it,
 * characterise a few devices, program a small pattern with verify, read the map back, summarise.
 * Works unchanged on any board URL.
 */
import { firstValueFrom, lastValueFrom, toArray } from "rxjs";
import { XbarError } from "../../drivers/index.ts";
import { ErrorCode } from "../../firmware-protocol/index.ts";
import type { Board } from "../board/board.ts";
import { connect } from "../board/connect.ts";
import { characterize, programVerify, type Target } from "../pipelines/index.ts";
import { eng, shadeMap, stats } from "./format.ts";

/** The letter X on an 8 x 8 grid: 1 = high conductance. */
const PATTERN = [
  "X......X",
  ".X....X.",
  "..X..X..",
  "...XX...",
  "...XX...",
  "..X..X..",
  ".X....X.",
  "X......X",
];

export async function runDemo(url: string, out: (s: string) => void): Promise<void> {
  const t0 = performance.now();
  const board: Board = await connect(url);
  try {
    const i = board.identity;
    out(
      `1. identify: ${i.vendor} ${i.model} (${i.serial}), firmware ${i.firmware}, protocol ${i.protocol}, ${i.rows}x${i.cols} ${i.technology} array`,
    );
    if (i.rows < 10 || i.cols < 10) {
      throw new XbarError(
        ErrorCode.UNSUITABLE_BOARD,
        `the demo needs an array of at least 10 x 10, this one is ${i.rows} x ${i.cols}`,
      );
    }
    await firstValueFrom(board.counters(true));

    out("2. characterise 3 devices (30 potentiating then 30 depressing pulses each):");
    let lo = Number.POSITIVE_INFINITY;
    let hi = 0;
    for (let c = 0; c < 3; c++) {
      const pts = await lastValueFrom(characterize(board, { row: 0, col: c, pulses: 30 }).pipe(toArray()));
      const top = pts.find((p) => p.phase === "potentiation" && p.index === 30)!.conductance;
      const end = pts[pts.length - 1]!.conductance;
      const s = stats(pts.map((p) => p.conductance));
      lo = Math.min(lo, s.min);
      hi = Math.max(hi, s.max);
      out(
        `   r=0 c=${c}: ${eng(pts[0]!.conductance, "S")} -> ${eng(top, "S")} after 30 SET pulses -> ${eng(end, "S")} after 30 RESET pulses`,
      );
    }

    const low = lo + 0.15 * (hi - lo);
    const high = lo + 0.75 * (hi - lo);
    const targets: Target[] = [];
    PATTERN.forEach((line, r) => {
      for (const [c, ch] of [...line].entries())
        targets.push({ row: 2 + r, col: 2 + c, target: ch === "X" ? high : low });
    });
    out(
      `3. program the letter X on an 8x8 block at (2, 2): ${eng(high, "S")} on the strokes, ${eng(low, "S")} elsewhere, 10% tolerance`,
    );
    const res = await lastValueFrom(programVerify(board, targets, { tolerance: 0.1 }));
    out(
      `   ${res.converged}/${targets.length} devices within tolerance after ${res.round} rounds and ${res.pulses} pulses${res.stuck ? `; ${res.stuck} stuck` : ""}${res.capped ? `; ${res.capped} out of pulse budget` : ""}`,
    );

    const map = await firstValueFrom(board.readBlock({ r0: 2, c0: 2, rows: 8, cols: 8 }));
    let worst = 0;
    for (const t of targets)
      worst = Math.max(worst, Math.abs(map.data[(t.row - 2) * 8 + (t.col - 2)]! - t.target) / t.target);
    out(`4. read back (worst error ${(worst * 100).toFixed(1)}% of target):`);
    out(shadeMap(map));

    const c = await firstValueFrom(board.counters());
    out(
      `5. board counters: ${c.pulses} pulses, ${c.reads} device reads, energy ${eng(c.energy, "J")}, board clock ${eng(c.clock, "s")}`,
    );
    out(`   done in ${((performance.now() - t0) / 1000).toFixed(2)} s on ${board.url}`);
  } finally {
    await board.close();
  }
}
