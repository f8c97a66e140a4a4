/** observeExperiment: a run that finishes leaves its boards alone; one stopped part-way aborts them once. */
import { lastValueFrom, of, Subject, takeUntil, toArray } from "rxjs";
import { describe, expect, it } from "vitest";
import type { Board } from "../src/board/board.ts";
import { observeExperiment } from "../src/pipelines/observe-experiment.ts";

function countingBoard(): { board: Board; aborts: () => number } {
  let n = 0;
  const board = {
    abort: () => {
      n++;
      return of(undefined);
    },
  } as unknown as Board;
  return { board, aborts: () => n };
}

describe("observeExperiment", () => {
  it("a finished run emits its events then done, and sends no ABORT", async () => {
    const { board, aborts } = countingBoard();
    const events = await lastValueFrom(
      observeExperiment<number, string>([board], async (emit) => {
        emit(1);
        emit(2);
        return "result";
      }).pipe(toArray()),
    );
    expect(events).toEqual([1, 2, { type: "done", result: "result" }]);
    expect(aborts()).toBe(0);
  });

  it("a run stopped part-way sees cancelled() and aborts each board once", async () => {
    const { board, aborts } = countingBoard();
    const stop = new Subject<void>();
    let sawCancel = false;
    const events = await lastValueFrom(
      observeExperiment<number, string>([board, board], async (emit, cancelled) => {
        for (let i = 0; i < 100; i++) {
          if (cancelled()) {
            sawCancel = true;
            return "stopped";
          }
          emit(i);
          if (i === 2) stop.next();
          await new Promise((r) => setTimeout(r, 1));
        }
        return "all";
      }).pipe(takeUntil(stop), toArray()),
    );
    expect(events).toEqual([0, 1, 2]);
    await new Promise((r) => setTimeout(r, 10));
    expect(sawCancel).toBe(true);
    expect(aborts()).toBe(1);
  });
});
