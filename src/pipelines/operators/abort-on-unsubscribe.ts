/**
 * Leaves the array idle when a multi-step operation is cancelled: if the subscriber unsubscribes
 * before the source completed or failed, an ABORT is sent (fire and forget; its failure is ignored,
 * since the link may be what went away).
 */
import { type MonoTypeOperatorFunction, Observable } from "rxjs";
import type { Board } from "../../board/board.ts";

export function abortOnUnsubscribe<T>(board: Board): MonoTypeOperatorFunction<T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      let finished = false;
      const sub = source.subscribe({
        next: (v) => subscriber.next(v),
        error: (e) => {
          finished = true;
          subscriber.error(e);
        },
        complete: () => {
          finished = true;
          subscriber.complete();
        },
      });
      return () => {
        sub.unsubscribe();
        if (!finished) board.abort().subscribe({ error: () => {} });
      };
    });
}
