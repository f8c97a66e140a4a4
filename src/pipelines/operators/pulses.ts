/** Small pipeable operators over the Board: apply pulses, read maps. */
import { concatMap, type Observable, type OperatorFunction } from "rxjs";
import type { Block, Board, ConductanceMap, PulseResult, PulseSpec } from "../../board/board.ts";

/** Applies each pulse train in order, one command each; emits what was applied. */
export function applyPulses(board: Board): OperatorFunction<PulseSpec, PulseResult> {
  return concatMap((p) => board.pulse(p));
}

/** Reads a block, or the whole array when no block is given. */
export function readMap(board: Board, block?: Block): Observable<ConductanceMap> {
  return block ? board.readBlock(block) : board.readAll();
}

/** For each incoming block (or trigger), reads it; emits the maps in order. */
export function readMaps(board: Board): OperatorFunction<Block | undefined, ConductanceMap> {
  return concatMap((block) => readMap(board, block));
}
