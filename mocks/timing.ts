/**
 * The emulated board's time model: a board profile of per-operation durations, in board seconds.
 * The board executes its physics at once; the session (mocks/board.ts) then lets the command take
 * `duration × timescale` of wall time, in slices, reading input meanwhile (so ABORT can interrupt).
 * The virtual clock (`CLK`, drift) is not changed by the profile: it advances by pulse widths, read
 * times and waits as before, so physics results do not depend on the profile or the timescale.
 *
 * Defaults resemble a microcontroller board (a Cortex-M7 at ~150 MHz) with a DAC driving the lines,
 * an analog multiplexer selecting the device and one SAR ADC sensing it; the reasoning of each
 * number is in docs/timing.md. `IDN timing=` reports them (`profileToken`).
 */

export interface BoardProfile {
  /** Fixed cost of every command: dispatch, range checks, reply formatting, s; default 20 µs. */
  command: number;
  /** Per byte of the request and of the reply: CRC-32, parsing, base64, s; default 0.1 µs. */
  byte: number;
  /** Selecting a device: analog mux switching and line settling, s; default 5 µs. */
  select: number;
  /** Per programming pulse on top of its width: DAC settling and the gap between pulses, s; default 2 µs. */
  settle: number;
  /** One ADC conversion (a 1 MSPS SAR ADC), s; default 1 µs. */
  adc: number;
  /** Driving the inputs of one VMM vector: every row's DAC settling, s; default 10 µs. */
  dac: number;
}

export const DEFAULT_PROFILE: Readonly<BoardProfile> = {
  command: 20e-6,
  byte: 0.1e-6,
  select: 5e-6,
  settle: 2e-6,
  adc: 1e-6,
  dac: 10e-6,
};

const KEYS = Object.keys(DEFAULT_PROFILE) as Array<keyof BoardProfile>;

/** Fills in defaults and validates (each field a duration in [0, 1] s); errors name the field. */
export function resolveProfile(p: Partial<BoardProfile> = {}): BoardProfile {
  const out = { ...DEFAULT_PROFILE, ...p };
  for (const k of KEYS) {
    const v = out[k];
    if (typeof v !== "number" || !(v >= 0 && v <= 1))
      throw new RangeError(`timing ${k} must be a duration in [0, 1] s, not ${v}`);
  }
  return out;
}

/** The profile as IDN reports it: `cmd:2e-5,byte:1e-7,...` (a token: no spaces, "=" or "*"). */
export function profileToken(p: BoardProfile): string {
  return KEYS.map((k) => `${k}:${p[k]}`).join(",");
}

/** Parses `profileToken`'s form back (for hosts and `--timing`); unknown keys are refused. */
export function parseProfile(text: string): BoardProfile {
  const p: Partial<BoardProfile> = {};
  for (const item of text.split(",")) {
    if (!item) continue;
    const [k, v, extra] = item.split(":");
    if (extra !== undefined || v === undefined || !(KEYS as string[]).includes(k!))
      throw new RangeError(`timing item "${item}" is not KEY:SECONDS with KEY one of ${KEYS.join(", ")}`);
    p[k as keyof BoardProfile] = Number(v);
  }
  return resolveProfile(p);
}

/** Board time of `n` pulses of width `w` on one device (selected once). */
export function pulseTime(p: BoardProfile, w: number, n: number): number {
  return n === 0 ? 0 : p.select + n * (w + p.settle);
}

/** Board time of `count` single-device reads, each integrating for `tread`. */
export function readTime(p: BoardProfile, count: number, tread: number): number {
  return count * (p.select + tread + p.adc);
}

/** Board time of `k` VMM vectors with `nout` outputs each (one ADC, multiplexed over the outputs). */
export function vmmTime(p: BoardProfile, k: number, nout: number, tread: number): number {
  return k * (p.dac + tread + nout * p.adc);
}

/** Board time of handling a request line and its reply line (lengths in bytes). */
export function lineTime(p: BoardProfile, requestBytes: number, replyBytes: number): number {
  return p.command + (requestBytes + replyBytes) * p.byte;
}
