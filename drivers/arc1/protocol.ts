/**
 * The ArC ONE serial protocol, as its public host libraries (arc-instruments/libarc1, arc1_pyqt)
 * use it; written from our reading of them, in our words.
 *
 * Link: 921600 baud, 8 data bits, even parity, one stop bit.
 * Host → board: a job code, then its parameters, each on its own line: integers as decimal
 * ("%d\n"), floats as fixed-point decimal ("%f\n", six decimals). Words (rows) and bits (columns)
 * are numbered from 1.
 * Board → host: the INIT acknowledgement is the line "1\n"; every measured value is a raw 4-byte
 * little-endian IEEE float32 (resistances in ohms), with no framing and no checksum.
 *
 *   job   parameters                                               reply
 *   00    (reset of the microcontroller; wait for it to boot)      —
 *   0     read_cycles words bits read_mode session sneak Vread    "1\n"
 *   01    read_mode Vread                                          —
 *   02    word bit (select: close that crosspoint)                 —
 *   04    V pulse_width (pulse the selected device)                —
 *   1     word bit                                                 R
 *   2     1 words bits (read all)                                  R × words·bits, word-major
 *   2     2 32 32 n, then n × (word bit) (read masked)             R per device as it is named
 *   3     word bit V pulse_width (pulse, then read)                R
 *   141   FormFinder: Vmin Vstep Vmax PWmin PWstep PWmax PWinter   per device: (R, V, pw) triplets,
 *         Rthr RthrP mode seriesR PWnum ndevs, then ndevs ×       then a triplet with R ≤ 0
 *         (word bit)
 *   191   Endurance: Vpos PWpos CCpos Vneg PWneg CCneg Pinter      as FormFinder
 *         PWnumpos PWnumneg cycles ndevs, then ndevs × (word bit)
 *
 * Retention on the ArC ONE is a host loop of single reads with waits, as in its own software.
 */

export const ARC1_BAUD = 921600;
/** The largest array the ArC ONE addresses: 32 words × 32 bits. */
export const ARC1_MAX_LINES = 32;

/** Read-out modes (INIT read_mode). */
export const ReadMode = { CLASSIC: 0, TIA: 1, TIA4P: 2, TIA4P_NEG: 3 } as const;
/** Session types (INIT session): LOCAL is the crossbar on the board's own sockets. */
export const Session = { LOCAL: 0, EXTERNAL_BNC: 1, BNC_TO_LOCAL: 2, OFFLINE: 3 } as const;
/** Biasing of the inactive lines during reads (INIT sneak). */
export const SneakPath = { ONE_THIRD: 0, ONE_HALF: 1, FLOAT: 2 } as const;

/** FormFinder pulse-width progression and series resistor codes. */
export const FormMode = { LOG10: 0, LINEAR: 1 } as const;
export const SeriesResistor = { R1K: 1, R10K: 2, R100K: 3, R1M: 4, NONE: 7 } as const;

export interface Arc1Config {
  readCycles: number;
  words: number;
  bits: number;
  readMode: number;
  session: number;
  sneak: number;
  vread: number;
}

export interface FormFinderConfig {
  vmin: number;
  vstep: number;
  vmax: number;
  pwmin: number;
  /** Linear mode: added per step, s; LOG10 mode: percent increase per step. */
  pwstep: number;
  pwmax: number;
  /** Time between pulses, s. */
  interpulse: number;
  /** Stop when the resistance falls below this, Ω. */
  rthr: number;
  /** Stop when it fell by this percentage (0: unused). */
  rthrPercent: number;
  mode: number;
  seriesR: number;
  /** Pulses per (V, pw) step. */
  pulses: number;
}

/** One parameter line. */
export const int = (x: number): string => `${Math.trunc(x)}\n`;
export const float = (x: number): string => `${x.toFixed(6)}\n`;

export function initPacket(c: Arc1Config): string {
  return `0\n${int(c.readCycles)}${int(c.words)}${int(c.bits)}${int(c.readMode)}${int(c.session)}${int(c.sneak)}${float(c.vread)}`;
}
export const vreadPacket = (readMode: number, v: number): string => `01\n${int(readMode)}${float(v)}`;
export const selectPacket = (w: number, b: number): string => `02\n${int(w)}${int(b)}`;
export const pulseActivePacket = (v: number, pw: number): string => `04\n${float(v)}${float(pw)}`;
export const readOnePacket = (w: number, b: number): string => `1\n${int(w)}${int(b)}`;
export const readAllPacket = (words: number, bits: number): string => `2\n${int(1)}${int(words)}${int(bits)}`;
export const readMaskedPacket = (n: number): string => `2\n${int(2)}${int(32)}${int(32)}${int(n)}`;
export const devicePacket = (w: number, b: number): string => `${int(w)}${int(b)}`;
export const pulseReadPacket = (w: number, b: number, v: number, pw: number): string =>
  `3\n${int(w)}${int(b)}${float(v)}${float(pw)}`;
export function formFinderPacket(f: FormFinderConfig, ndevs: number): string {
  return (
    `141\n${float(f.vmin)}${float(f.vstep)}${float(f.vmax)}${float(f.pwmin)}${float(f.pwstep)}` +
    `${float(f.pwmax)}${float(f.interpulse)}${float(f.rthr)}${float(f.rthrPercent)}${int(f.mode)}` +
    `${int(f.seriesR)}${int(f.pulses)}${int(ndevs)}`
  );
}
