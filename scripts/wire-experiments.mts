/**
 * What the protocol 1.1 wire costs and saves in on-chip training: the same runs (same seeds) on an
 * emulated board that takes float32 (protocol 1.0's encoding) and on one that reports an 8-bit DAC
 * and a 16-bit ADC (quantised arrays, held vectors). Writes docs/experiments-wire.json, read by
 * docs/experiments.md. Run: node --import tsx scripts/wire-experiments.mts [images] [seeds] [rules] [noise]
 */
import { writeFileSync } from "node:fs";
import type { Board } from "../src/board/board.ts";
import { connect } from "../src/board/connect.ts";
import type { CrossbarBoard } from "../src/board/protocol-board.ts";
import { loadMnist } from "../src/learning/datasets/mnist.ts";
import { trainResult } from "../src/learning/training/train.ts";

const images = Number(process.argv[2] ?? 2000);
const seeds = (process.argv[3] ?? "1,2,3").split(",").map(Number);
const HIDDEN = 100;
const TEST = 1000;
const train = loadMnist("train", { crop: 20 });
const test = loadMnist("test", { crop: 20, limit: TEST });
const WIRES = { f32: "", "dac8-adc16": "&dac=8&adc=16", "dac16-adc16": "&dac=16&adc=16" } as const;
const only = process.env.WIRES?.split(",");

interface Row {
  wire: keyof typeof WIRES;
  rule: "onchip" | "hybrid";
  seed: number;
  accuracy: number;
  bytesPerImage: number;
}

async function once(wire: keyof typeof WIRES, rule: Row["rule"], seed: number): Promise<Row> {
  const board: Board = await connect(
    `emu://?rows=512&cols=256&device=agsi&seed=${seed}&noise=${noise}${WIRES[wire]}`,
  );
  try {
    const bytes = (board as CrossbarBoard).client.transport.bytes;
    let first: { image: number; bytes: number } | undefined;
    let last: { image: number; bytes: number } | undefined;
    const r = await trainResult(
      {
        boards: [board],
        rule,
        update: "bidirectional",
        epochs: 1,
        imagesPerEpoch: images,
        hidden: HIDDEN,
        testImages: TEST,
        train,
        test,
        seed,
      },
      (e) => {
        if (e.type !== "progress" || e.phase.startsWith("pretrain")) return;
        const mark = { image: e.image, bytes: bytes.sent + bytes.received };
        if (!first) first = mark;
        else if (e.image < images) last = mark;
      },
    );
    const perImage = first && last ? (last.bytes - first.bytes) / (last.image - first.image) : Number.NaN;
    return { wire, rule, seed, accuracy: r.final.accuracy, bytesPerImage: Math.round(perImage) };
  } finally {
    await board.close();
  }
}

const rules = (process.argv[4] ?? "onchip,hybrid").split(",") as Row["rule"][];
/** Device randomness scale (emu:// noise=): 1 the preset as published, 0 its mean device. */
const noise = Number(process.argv[5] ?? 1);
const rows: Row[] = [];
for (const seed of seeds)
  for (const rule of rules)
    for (const wire of (only ?? Object.keys(WIRES)) as (keyof typeof WIRES)[]) {
      const row = await once(wire, rule, seed);
      process.stderr.write(`${JSON.stringify(row)}\n`);
      rows.push(row);
    }
const out = {
  generatedBy: `node --import tsx scripts/wire-experiments.mts ${images} ${seeds.join(",")} ${rules.join(",")} ${noise}`,
  setup: {
    images,
    hidden: HIDDEN,
    testImages: TEST,
    array: "agsi 512x256",
    crop: 20,
    noise,
    update: "bidirectional",
  },
  rows,
};
const file = process.env.WIRE_OUT ?? "docs/experiments-wire.json";
writeFileSync(new URL(file, new URL("../", import.meta.url)), `${JSON.stringify(out, null, 2)}\n`);
