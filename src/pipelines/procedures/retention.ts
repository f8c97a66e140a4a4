/**
 * Retention: reads a block (or the whole array) now and after each interval on the board's clock
 * (virtual on an emulated board, so hours take milliseconds).
 */
import { concat, concatMap, defer, map, type Observable, range, tap } from "rxjs";
import { ErrorCode } from "../../../firmware-protocol/constants.ts";
import { XbarError } from "../../../firmware-protocol/errors.ts";
import type { Block, Board, ConductanceMap } from "../../board/board.ts";
import { abortOnUnsubscribe } from "../operators/abort-on-unsubscribe.ts";
import { readMap } from "../operators/pulses.ts";
import { withProgress } from "../operators/with-progress.ts";

export interface RetentionOptions {
  block?: Block;
  /** Time between reads, s. */
  interval: number;
  /** Reads after the first one. */
  count: number;
}

export interface RetentionPoint {
  /** Board clock at the read, s. */
  t: number;
  map: ConductanceMap;
}

export function retention(
  board: Board,
  { block, interval, count }: RetentionOptions,
): Observable<RetentionPoint> {
  if (!(interval > 0)) throw new XbarError(ErrorCode.BAD_INPUT, `interval must be positive, not ${interval}`);
  if (!(Number.isInteger(count) && count >= 0))
    throw new XbarError(ErrorCode.BAD_INPUT, `count must be a non-negative integer, not ${count}`);
  const sample = (t$: Observable<number>) =>
    t$.pipe(concatMap((t) => readMap(board, block).pipe(map((m) => ({ t, map: m })))));
  return defer(() => {
    let reads = 0;
    return concat(
      sample(board.clock()),
      range(0, count).pipe(concatMap(() => sample(board.wait(interval)))),
    ).pipe(
      tap(() => reads++),
      withProgress(() => ({ reads, of: count + 1 })),
    );
  }).pipe(abortOnUnsubscribe(board));
}
