/** Terminal output helpers: engineering units, tables, a shaded map. */
import type { ConductanceMap } from "../board/board.ts";

import { eng } from "../units.ts";

export { eng };

const SHADES = " .:-=+*#%@";

/** A conductance map drawn with one character per device, darker = higher conductance. */
export function shadeMap(m: ConductanceMap, maxWidth = 96): string {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const g of m.data) {
    if (g < lo) lo = g;
    if (g > hi) hi = g;
  }
  const step = Math.max(1, Math.ceil(m.cols / maxWidth));
  const lines: string[] = [];
  for (let r = 0; r < m.rows; r += step) {
    let s = "";
    for (let c = 0; c < m.cols; c += step) {
      const g = m.data[r * m.cols + c]!;
      const k = hi > lo ? Math.round(((g - lo) / (hi - lo)) * (SHADES.length - 1)) : 0;
      s += SHADES[k];
    }
    lines.push(`  |${s}|`);
  }
  const scale = step > 1 ? ` (every ${step}th row and column)` : "";
  return `${lines.join("\n")}\n  shades "${SHADES}" from ${eng(lo, "S")} to ${eng(hi, "S")}${scale}`;
}

export function stats(data: ArrayLike<number>): { min: number; mean: number; max: number } {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  return { min, mean: sum / data.length, max };
}
