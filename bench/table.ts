/** Plain-text tables and number formats for the benchmark report. */

export type Align = "l" | "r";

/** Renders rows under a header, columns padded to their widest cell; `align` per column (default right). */
export function table(header: string[], rows: string[][], align: Align[] = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) =>
        (align[i] ?? (i === 0 ? "l" : "r")) === "l" ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!),
      )
      .join("  ")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(header), rule, ...rows.map(line)].join("\n");
}

/** 12345.6 → "12 346" (thin grouping keeps columns readable). */
export function int(x: number): string {
  return Math.round(x)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, " ");
}

/** A number with `digits` significant digits, without exponent for the ranges used here. */
export function num(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return "0";
  const mag = Math.floor(Math.log10(Math.abs(x)));
  const decimals = Math.max(0, digits - 1 - mag);
  return x.toFixed(decimals);
}

/** A ratio as "4.21x". */
export function ratio(x: number): string {
  return `${num(x, 3)}x`;
}

/** Rounds for the JSON summary. */
export function round(x: number, digits = 4): number {
  return Number(x.toPrecision(digits));
}
