/** How runs and step results print on one line (`xbar run`'s progress, `xbar runs list|show`). */

/** A run's sweep values: `amplitude=1.2 width=1e-6`. */
export const fmtParams = (p: Record<string, unknown>) =>
  Object.entries(p)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");

/** A step's result in brackets, numbers to 4 significant digits: `(converged=60, capped=4)`. */
export function stepSummary(r: Record<string, unknown>): string {
  const parts = Object.entries(r)
    .filter(([, v]) => typeof v === "number" || typeof v === "string")
    .map(
      ([k, v]) => `${k}=${typeof v === "number" && !Number.isInteger(v) ? (v as number).toPrecision(4) : v}`,
    );
  return parts.length ? `(${parts.join(", ")})` : "";
}
