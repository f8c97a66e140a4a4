/**
 * A seeded training run is reproducible whatever the timing of the replies: the host sends each board
 * its requests in one order (layers one after the other, each board's tiles in order), so the board
 * runs the same commands in the same order and draws the same device noise. The same run is made on a
 * board that answers at once (timescale 0: replies queued behind one another leave in one burst) and
 * on one that takes a thousandth of its board time (each reply leaves on its own timer): which replies
 * arrive in the same turn of the event loop changes, and the requests, the accuracy, the counters and
 * every conductance of the array must not. (Before the layers' updates were put in order, the refresh
 * of one layer and the update of the other interleaved by that timing: the runs parted at the first
 * refresh.)
 */
import { defer, lastValueFrom, map, of, tap, timer } from "rxjs";
import { beforeAll, describe, expect, it } from "vitest";
import type { Board } from "../src/board/board.ts";
import { connect } from "../src/board/connect.ts";
import type { CrossbarBoard } from "../src/board/protocol-board.ts";
import { type Dataset, loadMnist } from "../src/learning/datasets/mnist.ts";
import { inBoardOrder } from "../src/learning/nn/board-order.ts";
import type { Layer } from "../src/learning/nn/layer.ts";
import { Mlp } from "../src/learning/training/mlp.ts";
import { trainResult } from "../src/learning/training/train.ts";

let train: Dataset;
let test: Dataset;
beforeAll(() => {
  train = loadMnist("train", { crop: 20, limit: 3000 });
  test = loadMnist("test", { crop: 20, limit: 200 });
});

/** One epoch of the unidirectional rule on Ag:a-Si (refreshes included); what the board saw and ended with. */
async function run(url: string) {
  const board = (await connect(url)) as Board as CrossbarBoard;
  const sent: string[] = [];
  const write = board.client.transport.write.bind(board.client.transport);
  board.client.transport.write = (line: string) => {
    // The request without its tag and checksum: what the board is asked to do, in order.
    sent.push(line.slice(line.indexOf(" ") + 1, line.lastIndexOf("*")));
    write(line);
  };
  const r = await trainResult({
    rule: "onchip",
    update: "unidirectional",
    boards: [board],
    epochs: 1,
    imagesPerEpoch: 1000,
    hidden: 16,
    batch: 10,
    testImages: 200,
    train,
    test,
    seed: 3,
  });
  const map = await lastValueFrom(board.readAll());
  await board.close();
  return {
    sent,
    accuracy: r.final.accuracy,
    totals: r.totals,
    refreshes: r.refreshes,
    g: Array.from(map.data),
  };
}

describe("a seeded training run", () => {
  it("is the same when the board answers at once and when it takes its board time", async () => {
    const atOnce = await run("emu://?rows=512&cols=64&device=agsi&seed=3");
    const timed = await run("emu://?rows=512&cols=64&device=agsi&seed=3&timescale=0.001");
    expect(atOnce.refreshes).toBeGreaterThan(0);
    expect(timed.sent.length).toBe(atOnce.sent.length);
    const first = timed.sent.findIndex((l, i) => l !== atOnce.sent[i]);
    expect(first, `first request that differs: ${timed.sent[first]} / ${atOnce.sent[first]}`).toBe(-1);
    expect(timed.accuracy).toBe(atOnce.accuracy);
    expect(timed.totals.pulses).toBe(atOnce.totals.pulses);
    expect(timed.totals.energy).toBe(atOnce.totals.energy);
    expect(timed.g).toEqual(atOnce.g);
  }, 120_000);
});

describe("the order in which the host sends its work", () => {
  /** A layer whose update takes `ms` (a timer, as a reply would) and logs when it starts and ends. */
  function timedLayer(name: string, ms: number, log: string[]): Layer {
    return {
      nIn: 2,
      nOut: 2,
      kind: "array",
      forward: () => of(new Float32Array(2)),
      backward: () => of(new Float32Array(2)),
      weights: () => of(new Float32Array(6)),
      update: () =>
        defer(() => {
          log.push(`${name} starts`);
          return timer(ms).pipe(tap(() => log.push(`${name} ends`)));
        }),
    };
  }

  it("updates the layers one after the other, never overlapping, whatever each takes", async () => {
    const log: string[] = [];
    const net = new Mlp([timedLayer("layer 1", 30, log), timedLayer("layer 2", 1, log)]);
    await lastValueFrom(net.trainStep(new Float32Array(2), 0, 0.1));
    expect(log).toEqual(["layer 1 starts", "layer 1 ends", "layer 2 starts", "layer 2 ends"]);
  });

  it("runs the tiles of one board in order and the boards in parallel, results in tile order", async () => {
    const log: string[] = [];
    const [a, b] = [{ name: "board A" }, { name: "board B" }] as unknown as Board[];
    const tiles = [
      { board: a, id: "A1", ms: 30 },
      { board: b, id: "B1", ms: 10 },
      { board: a, id: "A2", ms: 1 },
    ];
    const out = await lastValueFrom(
      inBoardOrder(tiles, (t) =>
        defer(() => {
          log.push(`${t.id} starts`);
          return timer(t.ms).pipe(
            tap(() => log.push(`${t.id} ends`)),
            map(() => t.id),
          );
        }),
      ),
    );
    expect(out).toEqual(["A1", "B1", "A2"]);
    // A2 waits for A1 (same board); B1 runs beside A1 (another board).
    expect(log.indexOf("A2 starts")).toBeGreaterThan(log.indexOf("A1 ends"));
    expect(log.indexOf("B1 starts")).toBeLessThan(log.indexOf("A1 ends"));
  });
});
