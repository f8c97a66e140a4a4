/**
 * Work spread over tiles, run so that each board receives its requests in one fixed order: the calls
 * of the tiles on one board one after another (in tile order), the boards in parallel. A seeded run
 * then sends every board the same requests in the same order whatever the replies' timing, so it is
 * reproducible (the board's device noise is drawn in the order its commands run): calls that overlap
 * on one board would interleave their requests by the timing of the replies.
 */
import { concatMap, forkJoin, from, map, type Observable, toArray } from "rxjs";
import type { Board } from "../../board/board.ts";

/** Runs `call` on every tile, each board's tiles in order, boards in parallel; results in tile order. */
export function inBoardOrder<T extends { board: Board }, R>(
  tiles: readonly T[],
  call: (tile: T) => Observable<R>,
): Observable<R[]> {
  const byBoard = new Map<Board, number[]>();
  tiles.forEach((t, i) => {
    const list = byBoard.get(t.board) ?? [];
    list.push(i);
    byBoard.set(t.board, list);
  });
  const perBoard = [...byBoard.values()].map((indices) =>
    from(indices).pipe(
      concatMap((i) => call(tiles[i]!).pipe(map((r) => [i, r] as const))),
      toArray(),
    ),
  );
  return forkJoin(perBoard).pipe(
    map((groups) => {
      const out = new Array<R>(tiles.length);
      for (const group of groups) for (const [i, r] of group) out[i] = r;
      return out;
    }),
  );
}
