/**
 * A device built from measured pulse-response data: the CSV that `xbar characterize --out` writes
 * (columns phase,index,pulse,amplitude_V,width_s,conductance_S; phases initial, potentiation,
 * depression), one or more repeats of the same experiment in one file. A new repeat starts at every
 * `initial` row, at a repeated header line (files joined with `cat`), or where the potentiation index
 * starts again; an optional `repeat` column overrides these.
 *
 * The device follows the mean curve of the repeats (smoothed, isotonic fit), one step per pulse: a device of
 * conductance G sits at the fractional pulse number where the mean potentiation (or depression) curve
 * passes through G, and a pulse moves it one step along that curve. The cycle-to-cycle statistics are
 * drawn from the table: each pulse adds the deviation of a randomly chosen repeat's step from the mean
 * step at that point (with a single repeat there is nothing to draw, the curve is not smoothed and the
 * device is deterministic: it reproduces the table).
 * Fresh devices start at the initial read of a randomly chosen repeat. Amplitudes: a pulse at or above
 * the measured amplitude is one step, below half of it nothing, linear in between (our choice; the
 * table says nothing about other amplitudes).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { errnoCode, errorMessage } from "../../firmware-protocol/errors.ts";
import { bytesOf, DeviceArray, type DeviceContext, strength } from "./common.ts";

export interface PulseTable {
  /** Conductance after 0..N potentiating pulses, per repeat, S (index 0 is the start). */
  readonly ltp: number[][];
  /** Conductance after 0..M depressing pulses, per repeat, S (index 0 is the start). */
  readonly ltd: number[][];
  /** Initial reads of the repeats, S. */
  readonly initial: number[];
  /** Median |amplitude| of the potentiating and depressing pulses in the table, V. */
  readonly vset: number;
  readonly vreset: number;
  /** Where it came from (for messages). */
  readonly source: string;
}

/** csv-parse, loaded by the first table parsed: an emulator of another device (every emu:// start) skips it. */
const loadCsvParse = () =>
  (createRequire(import.meta.url)("csv-parse/sync") as typeof import("csv-parse/sync")).parse;

/** Parses a pulse-response CSV; throws an Error naming the line for anything it cannot use. */
export function parsePulseTable(text: string, source = "table"): PulseTable {
  let records: Array<Record<string, string>>;
  try {
    records = loadCsvParse()(text, { columns: true, skip_empty_lines: true, trim: true, comment: "#" });
  } catch (e) {
    throw new Error(`${source}: not a CSV file (${errorMessage(e)})`);
  }
  if (records.length === 0) throw new Error(`${source}: no rows`);
  for (const col of ["phase", "conductance_S"]) {
    if (!(col in records[0]!))
      throw new Error(
        `${source}: column "${col}" missing (expected the columns of xbar characterize: phase,index,pulse,amplitude_V,width_s,conductance_S)`,
      );
  }
  const hasRepeat = "repeat" in records[0]!;
  type Rep = { ltp: number[]; ltd: number[]; initial?: number };
  const reps: Rep[] = [];
  let cur: Rep | undefined;
  let lastRepeat: string | undefined;
  let lastLtpIndex = 0;
  const amps = { set: [] as number[], reset: [] as number[] };
  records.forEach((rec, k) => {
    const line = k + 2;
    const phase = rec.phase;
    // A repeated header line: files concatenated with `cat` (one repeat each).
    if (phase === "phase") {
      cur = undefined;
      return;
    }
    const g = Number(rec.conductance_S);
    if (!Number.isFinite(g) || g < 0)
      throw new Error(`${source} line ${line}: conductance_S "${rec.conductance_S}" is not a conductance`);
    const index = rec.index === undefined || rec.index === "" ? Number.NaN : Number(rec.index);
    const newRepeat = hasRepeat
      ? rec.repeat !== lastRepeat
      : phase === "initial" ||
        (phase === "potentiation" && index <= lastLtpIndex && (cur?.ltp.length ?? 0) > 1);
    if (!cur || newRepeat) {
      cur = { ltp: [], ltd: [] };
      reps.push(cur);
      lastLtpIndex = 0;
    }
    lastRepeat = rec.repeat;
    const amp = Math.abs(Number(rec.amplitude_V));
    if (phase === "initial") {
      cur.initial = g;
    } else if (phase === "potentiation") {
      if (cur.ltp.length === 0) cur.ltp.push(cur.initial ?? g);
      cur.ltp.push(g);
      if (Number.isFinite(index)) lastLtpIndex = index;
      if (amp > 0) amps.set.push(amp);
    } else if (phase === "depression") {
      if (cur.ltd.length === 0) cur.ltd.push(cur.ltp.at(-1) ?? cur.initial ?? g);
      cur.ltd.push(g);
      if (amp > 0) amps.reset.push(amp);
    } else {
      throw new Error(`${source} line ${line}: phase "${phase}" is not initial, potentiation or depression`);
    }
  });
  const ltp = reps.map((r) => r.ltp).filter((c) => c.length >= 2);
  const ltd = reps.map((r) => r.ltd).filter((c) => c.length >= 2);
  if (ltp.length === 0 || ltd.length === 0)
    throw new Error(`${source}: needs at least one potentiation and one depression pulse`);
  const median = (xs: number[], dflt: number) =>
    xs.length ? xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : dflt;
  return {
    ltp,
    ltd,
    initial: reps.map((r) => r.initial ?? r.ltp[0] ?? r.ltd[0]!).filter((g) => Number.isFinite(g)),
    vset: median(amps.set, 3.2),
    vreset: median(amps.reset, 2.8),
    source,
  };
}

export function loadPulseTable(path: string): PulseTable {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`cannot read the pulse-response table ${path}: ${errnoCode(e) ?? errorMessage(e)}`);
  }
  return parsePulseTable(text, path);
}

/**
 * Mean over repeats of equal length (the shortest), made monotone in `direction` by isotonic
 * regression (pool adjacent violators: the monotone least-squares fit), then strictly monotone by a
 * negligible slope (10⁻⁹ of the range per pulse) so that every pulse moves a device along it.
 */
function meanCurve(curves: number[][], direction: 1 | -1): Float64Array {
  const len = Math.min(...curves.map((c) => c.length));
  const raw: number[] = [];
  for (let k = 0; k < len; k++) {
    let s = 0;
    for (const c of curves) s += c[k]!;
    raw.push(s / curves.length);
  }
  const y = smooth(raw, curves.length > 1 ? Math.max(2, Math.round(len / 10)) : 0).map((v) => direction * v);
  // Pool adjacent violators on direction·y (non-decreasing).
  const val: number[] = [];
  const cnt: number[] = [];
  for (const v of y) {
    val.push(v);
    cnt.push(1);
    while (val.length > 1 && val[val.length - 2]! > val[val.length - 1]!) {
      const n = cnt.pop()! + cnt[cnt.length - 1]!;
      const m = (val.pop()! * (n - cnt[cnt.length - 1]!) + val[val.length - 1]! * cnt[cnt.length - 1]!) / n;
      val[val.length - 1] = m;
      cnt[cnt.length - 1] = n;
    }
  }
  const m = new Float64Array(len);
  let k = 0;
  for (let b = 0; b < val.length; b++) for (let j = 0; j < cnt[b]!; j++) m[k++] = direction * val[b]!;
  const eps = (1e-9 * Math.abs(m[len - 1]! - m[0]!) || 1e-18) * direction;
  for (let j = 0; j < len; j++) m[j]! += eps * j;
  return m;
}

/**
 * Local linear regression over ±`half` points (0 = none): takes the wiggles out of the mean of a few
 * noisy repeats, whose flat spots would otherwise be crossed in a jump by a noisy device (a device's
 * position on the curve moves by its noise over the local slope).
 */
function smooth(y: number[], half: number): number[] {
  if (half === 0) return y.slice();
  return y.map((_, k) => {
    const a = Math.max(0, k - half);
    const b = Math.min(y.length - 1, k + half);
    let sx = 0;
    let sy = 0;
    let sxx = 0;
    let sxy = 0;
    const n = b - a + 1;
    for (let j = a; j <= b; j++) {
      sx += j;
      sy += y[j]!;
      sxx += j * j;
      sxy += j * y[j]!;
    }
    const den = n * sxx - sx * sx;
    const slope = den === 0 ? 0 : (n * sxy - sx * sy) / den;
    return (sy - slope * sx) / n + slope * k;
  });
}

/** Mean over the repeats of the step after each pulse number. */
function meanSteps(curves: number[][], len: number): Float64Array {
  const d = new Float64Array(Math.max(len - 1, 0));
  for (let k = 0; k < d.length; k++) {
    let s = 0;
    for (const c of curves) s += c[k + 1]! - c[k]!;
    d[k] = s / curves.length;
  }
  return d;
}

/** Fractional position of g on a strictly monotone curve (clamped to its ends). */
function position(m: Float64Array, g: number, direction: 1 | -1): number {
  const last = m.length - 1;
  const below = (k: number) => (direction > 0 ? m[k]! < g : m[k]! > g);
  if (!below(0)) return 0;
  if (below(last)) return last;
  let lo = 0;
  let hi = last; // below(lo) && !below(hi)
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (below(mid)) lo = mid;
    else hi = mid;
  }
  return lo + (g - m[lo]!) / (m[hi]! - m[lo]!);
}

function interp(m: Float64Array, x: number): number {
  const last = m.length - 1;
  if (x <= 0) return m[0]!;
  if (x >= last) return m[last]!;
  const k = Math.floor(x);
  return m[k]! + (x - k) * (m[k + 1]! - m[k]!);
}

export class LutArray extends DeviceArray {
  readonly g: Float64Array;
  readonly gmin: number;
  readonly gmax: number;
  readonly vthSet: number;
  readonly vthReset: number;
  private readonly up: Float64Array;
  private readonly down: Float64Array;
  /** Mean step of the repeats after each pulse number (the reference of the drawn deviations). */
  private readonly upStep: Float64Array;
  private readonly downStep: Float64Array;

  constructor(
    readonly table: PulseTable,
    ctx: DeviceContext,
  ) {
    super(ctx);
    this.up = meanCurve(table.ltp, 1);
    this.down = meanCurve(table.ltd, -1);
    this.upStep = meanSteps(table.ltp, this.up.length);
    this.downStep = meanSteps(table.ltd, this.down.length);
    const all = [...table.ltp.flat(), ...table.ltd.flat()];
    this.gmin = Math.min(...all);
    this.gmax = Math.max(...all);
    this.vthSet = table.vset / 2;
    this.vthReset = table.vreset / 2;
    this.g = new Float64Array(this.n);
    const init = table.initial.length ? table.initial : [this.up[0]!];
    const mean = init.reduce((a, b) => a + b, 0) / init.length;
    for (let i = 0; i < this.n; i++) {
      this.g[i] =
        ctx.noise > 0 && init.length > 1
          ? mean + ctx.noise * (init[Math.floor(ctx.boot.uniform() * init.length)]! - mean)
          : mean;
    }
  }

  pulse(i: number, v: number, _w: number, n: number, _t: number): number {
    if (n <= 0 || this.frozen?.[i]) return 0;
    const upward = v > 0;
    const t = this.table;
    const s = upward ? strength(v, t.vset / 2, t.vset) : strength(v, t.vreset / 2, t.vreset);
    if (s === 0) return 0;
    const m = upward ? this.up : this.down;
    const steps = upward ? this.upStep : this.downStep;
    const curves = upward ? t.ltp : t.ltd;
    const dir = upward ? 1 : -1;
    const noise = this.ctx.noise;
    let g = this.g[i]!;
    for (let k = 0; k < n; k++) {
      const x = position(m, g, dir);
      let next = interp(m, x + s);
      if (noise > 0 && curves.length > 1) {
        const c = curves[Math.floor(this.ctx.rng.uniform() * curves.length)]!;
        const j = Math.min(Math.floor(x), m.length - 2);
        if (j >= 0) next += noise * s * (c[j + 1]! - c[j]! - steps[j]!);
      }
      g = Math.min(Math.max(next, this.gmin), this.gmax);
    }
    this.g[i] = g;
    this.version++;
    return 0;
  }

  stateBytes(): number {
    return bytesOf(this.g);
  }
}
