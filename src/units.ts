/** Numbers with SI prefixes, the one format of values with units in xbar's output: 1.234e-8 S → "12.34 nS". */

const PREFIXES: Array<[number, string]> = [
  [1, ""],
  [1e-3, "m"],
  [1e-6, "u"],
  [1e-9, "n"],
  [1e-12, "p"],
  [1e-15, "f"],
];

export function eng(x: number, unit: string, digits = 4): string {
  if (x === 0 || !Number.isFinite(x)) return `${x} ${unit}`;
  const a = Math.abs(x);
  for (const [scale, p] of PREFIXES) {
    if (a >= scale * 0.9995) return `${Number((x / scale).toPrecision(digits))} ${p}${unit}`;
  }
  return `${x.toExponential(digits - 1)} ${unit}`;
}
