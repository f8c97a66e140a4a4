/**
 * A long experiment (training, retraining) as a cancellable Observable: `run` emits progress events
 * through `emit` and resolves with the result, emitted last as `{ type: "done", result }`.
 * Unsubscribing stops the run at its next check of `cancelled()` and sends ABORT to every board, so
 * the arrays are left idle.
 */
import { Observable } from "rxjs";
import type { Board } from "../board/board.ts";

export function observeExperiment<E, R>(
  boards: readonly Board[],
  run: (emit: (e: E) => void, cancelled: () => boolean) => Promise<R>,
): Observable<E | { type: "done"; result: R }> {
  return new Observable<E | { type: "done"; result: R }>((subscriber) => {
    let cancelled = false;
    let finished = false;
    run(
      (e) => {
        if (!cancelled) subscriber.next(e);
      },
      () => cancelled,
    )
      .then((result) => {
        finished = true;
        if (cancelled) return;
        subscriber.next({ type: "done", result });
        subscriber.complete();
      })
      .catch((e) => {
        finished = true;
        subscriber.error(e);
      });
    return () => {
      // Only a run stopped part-way aborts its boards: one that finished left them idle already.
      if (finished) return;
      cancelled = true;
      for (const b of new Set(boards)) b.abort().subscribe({ error: () => {} });
    };
  });
}
