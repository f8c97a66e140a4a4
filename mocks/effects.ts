/**
 * Array effects of the emulated board: what makes an array of devices more than the sum of its
 * devices. Each is off by default and switched on when the board is made (they describe the array,
 * so they do not change during a session); the board reports them in `IDN effects=` (PROTOCOL.md).
 *
 * - sneak     a passive array (no selectors): reads see the currents of the other cells through the
 *             biasing scheme (V/2, V/3: half-selected cells on the sensed line; FLOAT: sneak paths
 *             through the floating lines), and read energy counts every biased cell.
 * - disturb   a passive array: half-selected cells see v/2 (V/2, FLOAT) or ±v/3 (V/3) during every
 *             programming pulse; they change where that is above their threshold, and spend energy.
 * - stuck     devices stuck at the low or high end of the range, chosen at boot with the given rates.
 * - readNoise relative Gaussian noise of each device's read current, drawn afresh for every read.
 * - adc       quantisation of every sensed current to `adcBits` bits over ±`adcRange` A (clipped).
 * - wire      line resistance per cell-to-cell segment, Ω: first-order IR drop in reads and VMMs.
 */

export interface ArrayEffects {
  /** Passive array: sneak currents in reads. */
  sneak: boolean;
  /** Passive array: half-select disturb (and energy) during programming pulses. */
  disturb: boolean;
  /** Fraction of devices stuck at the low end of the range, [0, 1]. */
  stuckLow: number;
  /** Fraction of devices stuck at the high end of the range, [0, 1]. */
  stuckHigh: number;
  /** Relative standard deviation of each device's read current, [0, 1]. */
  readNoise: number;
  /** ADC resolution in bits, 0 (off) or 2..24. */
  adcBits: number;
  /** ADC full scale, A (0 = one device at the largest read voltage and the preset's Gmax). */
  adcRange: number;
  /** Line resistance per segment between neighbouring cells, Ω (0 = ideal lines). */
  wire: number;
}

export const NO_EFFECTS: Readonly<ArrayEffects> = {
  sneak: false,
  disturb: false,
  stuckLow: 0,
  stuckHigh: 0,
  readNoise: 0,
  adcBits: 0,
  adcRange: 0,
  wire: 0,
};

/** Fills in defaults and validates; errors name the field. */
export function resolveEffects(e: Partial<ArrayEffects> = {}): ArrayEffects {
  const out = { ...NO_EFFECTS, ...e };
  for (const k of ["sneak", "disturb"] as const) {
    if (typeof out[k] !== "boolean")
      throw new RangeError(`${k} must be true or false, not ${String(out[k])}`);
  }
  const num = (k: keyof ArrayEffects, ok: (v: number) => boolean, what: string) => {
    const v = out[k] as number;
    if (typeof v !== "number" || !Number.isFinite(v) || !ok(v))
      throw new RangeError(`${k} must be ${what}, not ${v}`);
  };
  num("stuckLow", (v) => v >= 0 && v <= 1, "a fraction in [0, 1]");
  num("stuckHigh", (v) => v >= 0 && v <= 1, "a fraction in [0, 1]");
  if (out.stuckLow + out.stuckHigh > 1) throw new RangeError("stuckLow + stuckHigh must not exceed 1");
  num("readNoise", (v) => v >= 0 && v <= 1, "a relative standard deviation in [0, 1]");
  num(
    "adcBits",
    (v) => v === 0 || (Number.isInteger(v) && v >= 2 && v <= 24),
    "0 (off) or an integer in 2..24",
  );
  num("adcRange", (v) => v >= 0 && v <= 1, "a current in [0, 1] A (0 = automatic)");
  num("wire", (v) => v >= 0 && v <= 1e4, "a resistance in [0, 10000] Ω");
  return out;
}

/** True when no effect is on. */
export function isIdeal(e: ArrayEffects): boolean {
  return (
    !e.sneak &&
    !e.disturb &&
    e.stuckLow === 0 &&
    e.stuckHigh === 0 &&
    e.readNoise === 0 &&
    e.adcBits === 0 &&
    e.wire === 0
  );
}

/**
 * The IDN `effects=` token: `none`, or the effects that are on, comma-separated, each with its
 * parameters after colons: `sneak`, `disturb`, `stuck:LOW:HIGH`, `readnoise:SIGMA`, `adc:BITS:RANGE_A`,
 * `wire:OHM`, and `noise:SCALE` when the device noise scale is not 1.
 */
/**
 * The effects as IDN reports them. `adcRange` is the range in force when the effect's own is 0 (the
 * auto-range), so the report never says a zero full scale.
 */
export function effectsToken(e: ArrayEffects, noise = 1, adcRange = e.adcRange): string {
  const parts: string[] = [];
  if (e.sneak) parts.push("sneak");
  if (e.disturb) parts.push("disturb");
  if (e.stuckLow > 0 || e.stuckHigh > 0) parts.push(`stuck:${e.stuckLow}:${e.stuckHigh}`);
  if (e.readNoise > 0) parts.push(`readnoise:${e.readNoise}`);
  if (e.adcBits > 0) parts.push(`adc:${e.adcBits}:${e.adcRange || adcRange}`);
  if (e.wire > 0) parts.push(`wire:${e.wire}`);
  if (noise !== 1) parts.push(`noise:${noise}`);
  return parts.length ? parts.join(",") : "none";
}
