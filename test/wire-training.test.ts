/**
 * On-chip training over the protocol 1.1 wire (quantised arrays at an 8-bit DAC / 16-bit ADC, held
 * vectors) against the same run over float32, same seed, reduced size: the bytes per training image
 * and the accuracy. Quantisation costs accuracy at this size (2 to 8 points measured on seeds 1-3,
 * docs/experiments-wire.md; the aim of 0.5 points is not met): the test bounds that cost at
 * 10 points and requires the quantised run to learn, so a wire that breaks training fails it.
 */
import { describe, expect, it } from "vitest";
import type { Board } from "../src/board/board.ts";
import { connect } from "../src/board/connect.ts";
import type { CrossbarBoard } from "../src/board/protocol-board.ts";
import { loadMnist } from "../src/learning/datasets/mnist.ts";
import { trainResult } from "../src/learning/training/train.ts";

const IMAGES = 600;
const train = loadMnist("train", { crop: 20, limit: 3000 });
const test = loadMnist("test", { crop: 20, limit: 500 });

async function run(wire: string) {
  const board: Board = await connect(`emu://?rows=512&cols=256&device=agsi&seed=3${wire}`);
  try {
    const bytes = (board as CrossbarBoard).client.transport.bytes;
    let first = 0;
    let last = 0;
    const r = await trainResult(
      {
        boards: [board],
        rule: "onchip",
        update: "bidirectional",
        epochs: 1,
        imagesPerEpoch: IMAGES,
        hidden: 32,
        testImages: 500,
        train,
        test,
        seed: 3,
      },
      (e) => {
        if (e.type !== "progress") return;
        if (e.image === 100) first = bytes.sent + bytes.received;
        if (e.image === 500) last = bytes.sent + bytes.received;
      },
    );
    return { accuracy: r.final.accuracy, bytesPerImage: (last - first) / 400, link: r.totals.link };
  } finally {
    await board.close();
  }
}

describe("on-chip training over the 1.1 wire", () => {
  it("sends under a third of float32's bytes per image, and still learns (accuracy within 10 points)", async () => {
    const f32 = await run("");
    const q = await run("&dac=8&adc=16");
    expect(q.bytesPerImage).toBeLessThan(f32.bytesPerImage / 3);
    // The board's own link counters (STAT rx, tx) saw the run too.
    expect(q.link!.sent + q.link!.received).toBeGreaterThan(q.bytesPerImage * IMAGES * 0.9);
    expect(q.accuracy).toBeGreaterThan(0.3);
    expect(Math.abs(q.accuracy - f32.accuracy)).toBeLessThan(0.1);
  }, 120_000);
});
