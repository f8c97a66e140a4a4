/**
 * `npm run bench` (third part): what training costs on the wire. One epoch of 8 000 images of the
 * 400-100-10 network with the onchip rule (bidirectional) and the hybrid rule, on an emulated board
 * that takes float32 (protocol 1.0's encoding, the baseline, measured in the same run) and on one that
 * reports an 8-bit DAC and a 16-bit ADC (protocol 1.1: quantised arrays, held vectors). Prints bytes
 * on the wire per training image, the epoch time a link of 115 200 baud, 921 600 baud (8N1: 10 bits
 * per byte) and 12 Mbit/s USB (8 bits per byte, no protocol overhead) would need for those bytes, and
 * the floor set by the payload at the board's DAC/ADC resolution.
 *
 *   node --import tsx bench/wire.ts [images]
 *
 * The link times are computed from the measured bytes, not measured on a baud-limited link.
 */
import type { Board } from "../src/board/board.ts";
import { connect } from "../src/board/connect.ts";
import { loadMnist } from "../src/learning/datasets/mnist.ts";
import { type TrainOptions, trainResult } from "../src/learning/training/train.ts";
import { clientOf } from "./measure.ts";
import { int, num, ratio, table } from "./table.ts";

const IMAGES = Number(process.argv[2] ?? 8000);
const HIDDEN = 100;
const ARRAY = "rows=512&cols=256&device=agsi&seed=1";
const WIRES = { "float32 (1.0)": "", "dac 8 / adc 16 bits (1.1)": "&dac=8&adc=16" } as const;
const LINKS = [
  ["115 200 baud", 115200 / 10],
  ["921 600 baud", 921600 / 10],
  ["USB 12 Mbit/s", 12e6 / 8],
] as const;

/**
 * What must cross per training image at the converters' resolution (8-bit DAC in, 16-bit ADC out;
 * differential pairs: 400+1 inputs on 200 columns, 100+1 on 20): forward inputs and outputs of both
 * layers, the output errors in and back-propagated errors out of layer 2, the column factors of both
 * updates (their row factors are the forward inputs, which the board holds).
 */
const FLOOR = {
  onchip: 401 + 200 * 2 + 101 + 20 * 2 + 20 + 101 * 2 + 200 + 20,
  // Layer 1 only on the array: forward in and out, and its update's column factors.
  hybrid: 401 + 200 * 2 + 200,
};

const log = (m: string) => process.stderr.write(`bench wire: ${m}\n`);
const train = loadMnist("train", { crop: 20 });
const test = loadMnist("test", { crop: 20, limit: 100 });

interface Row {
  rule: "onchip" | "hybrid";
  wire: keyof typeof WIRES;
  bytesPerImage: number;
  accuracy: number;
}

async function run(rule: Row["rule"], wire: Row["wire"]): Promise<Row> {
  const board: Board = await connect(`emu://?${ARRAY}${WIRES[wire]}`);
  try {
    const t = clientOf(board).transport.bytes;
    // From the first progress report of the epoch on the array (100 images in) to the last one before
    // its end: calibration, pretraining and the transfer are left out.
    let first: { image: number; bytes: number } | undefined;
    let last: { image: number; bytes: number } | undefined;
    const o: TrainOptions = {
      boards: [board],
      rule,
      update: "bidirectional",
      epochs: 1,
      imagesPerEpoch: IMAGES,
      hidden: HIDDEN,
      testImages: 100,
      train,
      test,
      seed: 1,
    };
    const r = await trainResult(o, (e) => {
      if (e.type !== "progress" || e.phase.startsWith("pretrain")) return;
      const mark = { image: e.image, bytes: t.sent + t.received };
      if (!first) first = mark;
      else if (e.image < IMAGES) last = mark;
    });
    const bytesPerImage =
      first && last ? (last.bytes - first.bytes) / (last.image - first.image) : Number.NaN;
    return { rule, wire, bytesPerImage, accuracy: r.final.accuracy };
  } finally {
    await board.close();
  }
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const rule of ["onchip", "hybrid"] as const)
    for (const wire of Object.keys(WIRES) as Row["wire"][]) {
      log(`${rule}, ${wire}`);
      rows.push(await run(rule, wire));
    }
  const base = (rule: Row["rule"]) => rows.find((r) => r.rule === rule && r.wire === "float32 (1.0)")!;
  const out: string[] = [];
  out.push(
    `Bytes on the wire per training image, one epoch of ${IMAGES} images, 400-${HIDDEN}-10, agsi 512x256 (link times computed from the bytes: 8N1 UART 10 bits/byte, USB 8 bits/byte)`,
  );
  out.push(
    table(
      [
        "rule",
        "wire",
        "bytes/image",
        "vs float32",
        ...LINKS.map(([name]) => `epoch at ${name}`),
        "floor bytes/image",
        "vs floor",
        "test acc (100 imgs)",
      ],
      rows.map((r) => [
        r.rule,
        r.wire,
        int(r.bytesPerImage),
        ratio(r.bytesPerImage / base(r.rule).bytesPerImage),
        ...LINKS.map(([, bytesPerS]) => `${num((r.bytesPerImage * IMAGES) / bytesPerS)} s`),
        int(FLOOR[r.rule]),
        ratio(r.bytesPerImage / FLOOR[r.rule]),
        `${(r.accuracy * 100).toFixed(0)}%`,
      ]),
      ["l", "l"],
    ),
  );
  out.push(
    `   floor: what must cross at the 8-bit DAC / 16-bit ADC resolution (row factors of the updates held on the board); aim: onchip at most a third of float32`,
  );
  out.push(`BENCH_WIRE_JSON ${JSON.stringify({ images: IMAGES, floor: FLOOR, rows })}`);
  process.stdout.write(`${out.join("\n")}\n`);
}

main().then(
  () => setTimeout(() => process.exit(0), 2000).unref(),
  (e) => {
    process.stderr.write(`bench wire failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
