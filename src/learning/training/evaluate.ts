/** Test-set evaluation in batches (one VMM command per layer and batch on arrays). */
import { concatMap, from, lastValueFrom, reduce } from "rxjs";
import type { Dataset } from "../datasets/mnist.ts";
import type { Mlp } from "./mlp.ts";

export interface Evaluation {
  accuracy: number;
  loss: number;
  /** confusion[true][predicted], 10 x 10. */
  confusion: number[][];
  /** Accuracy per true class. */
  perClass: number[];
  count: number;
}

export async function evaluate(
  net: Mlp,
  data: Dataset,
  limit = data.count,
  batch = 500,
): Promise<Evaluation> {
  const n = Math.min(limit, data.count);
  const classes = net.nOut;
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  const starts: number[] = [];
  for (let s = 0; s < n; s += batch) starts.push(s);
  const loss = await lastValueFrom(
    from(starts).pipe(
      concatMap(async (s) => {
        const k = Math.min(batch, n - s);
        const x = data.images.subarray(s * data.inputs, (s + k) * data.inputs);
        const { p } = await lastValueFrom(net.forward(x, k));
        let l = 0;
        for (let i = 0; i < k; i++) {
          const label = data.labels[s + i]!;
          let best = 0;
          for (let j = 1; j < classes; j++) if (p[i * classes + j]! > p[i * classes + best]!) best = j;
          confusion[label]![best]!++;
          l += -Math.log(Math.max(p[i * classes + label]!, 1e-12));
        }
        return l;
      }),
      reduce((a, b) => a + b, 0),
    ),
  );
  let correct = 0;
  const perClass = confusion.map((row, c) => {
    correct += row[c]!;
    const total = row.reduce((a, b) => a + b, 0);
    return total ? row[c]! / total : 0;
  });
  return { accuracy: correct / n, loss: loss / n, confusion, perClass, count: n };
}
