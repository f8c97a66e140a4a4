/**
 * The safety envelope (PROTOCOL.md §4). The same checks run on the host before a request is sent
 * and on the board when it arrives, so both refuse with the same code and the same words.
 */
import { ErrorCode } from "./constants.ts";
import { ProtocolError } from "./message.ts";

export interface Limits {
  /** Largest |amplitude| of a programming pulse, V. */
  vmax: number;
  /** Shortest and longest pulse width, s. */
  wmin: number;
  wmax: number;
  /** Most pulses per device per command. */
  nmax: number;
  /** Most entries in one pulse list. */
  plmax: number;
  /** Largest |voltage| of a read or a VMM input, V. */
  vrmax: number;
  /** Largest current compliance, A. */
  ccmax: number;
  /** Most energy one command may spend, J. */
  emax: number;
  /**
   * The conductance the board bounds a pulse's energy with (LIM gmax=), S; absent when the board does
   * not say. The host then refuses what even the pulsed devices alone would spend above emax.
   */
  gmax?: number;
}

/** Energy of `n` pulses of `v`, `w` on devices at `gmax`: what the host can bound before sending. */
export function pulseEnergy(lim: Limits, v: number, w: number, n: number): number {
  return lim.gmax === undefined ? 0 : v * v * lim.gmax * w * n;
}

const fmt = (x: number) => Number(x.toPrecision(6)).toString();

export function checkAmplitude(lim: Limits, v: number): void {
  if (!(Math.abs(v) <= lim.vmax)) {
    throw new ProtocolError(
      ErrorCode.AMPLITUDE_LIMIT,
      `amplitude ${fmt(v)} V outside the envelope (|v| <= ${fmt(lim.vmax)} V)`,
    );
  }
}

export function checkWidth(lim: Limits, w: number): void {
  if (!(w >= lim.wmin && w <= lim.wmax)) {
    throw new ProtocolError(
      ErrorCode.WIDTH_LIMIT,
      `width ${fmt(w)} s outside the envelope [${fmt(lim.wmin)}, ${fmt(lim.wmax)}] s`,
    );
  }
}

export function checkCount(lim: Limits, n: number): void {
  if (!(Number.isInteger(n) && n >= 0 && n <= lim.nmax)) {
    throw new ProtocolError(ErrorCode.COUNT_LIMIT, `pulse count ${n} outside the envelope [0, ${lim.nmax}]`);
  }
}

export function checkListLength(lim: Limits, k: number): void {
  if (!(k >= 0 && k <= lim.plmax)) {
    throw new ProtocolError(
      ErrorCode.COUNT_LIMIT,
      `pulse list of ${k} entries outside the envelope [0, ${lim.plmax}]`,
    );
  }
}

export function checkReadVoltage(lim: Limits, v: number): void {
  if (!(Math.abs(v) <= lim.vrmax)) {
    throw new ProtocolError(
      ErrorCode.READ_VOLTAGE_LIMIT,
      `read voltage ${fmt(v)} V outside the envelope (|v| <= ${fmt(lim.vrmax)} V)`,
    );
  }
}

export function checkCompliance(lim: Limits, cc: number): void {
  if (!(cc > 0 && cc <= lim.ccmax)) {
    throw new ProtocolError(
      ErrorCode.COMPLIANCE_LIMIT,
      `compliance ${fmt(cc)} A outside the envelope (0, ${fmt(lim.ccmax)}] A`,
    );
  }
}

/** A pulse train on one device: amplitude, width and count. */
export function checkPulse(lim: Limits, v: number, w: number, n: number): void {
  checkAmplitude(lim, v);
  checkWidth(lim, w);
  checkCount(lim, n);
}

export function checkEnergy(lim: Limits, joules: number): void {
  if (joules > lim.emax) {
    throw new ProtocolError(
      ErrorCode.ENERGY_LIMIT,
      `operation would spend ${fmt(joules)} J, above the envelope of ${fmt(lim.emax)} J`,
    );
  }
}

export function checkAddress(rows: number, cols: number, r0: number, c0: number, nr = 1, nc = 1): void {
  if (!(Number.isInteger(r0) && Number.isInteger(c0) && Number.isInteger(nr) && Number.isInteger(nc))) {
    throw new ProtocolError(ErrorCode.BAD_ARGUMENT, "addresses must be integers");
  }
  if (r0 < 0 || c0 < 0 || nr < 1 || nc < 1 || r0 + nr > rows || c0 + nc > cols) {
    const what = nr === 1 && nc === 1 ? `device (${r0}, ${c0})` : `block ${nr}x${nc} at (${r0}, ${c0})`;
    throw new ProtocolError(ErrorCode.ADDRESS_RANGE, `${what} outside the ${rows}x${cols} array`);
  }
}

/** CFG narrows a limit: never above the board's hard limit (308). */
export function checkNarrow(hard: Limits, key: "vmax" | "wmax" | "nmax" | "emax", v: number): void {
  if (v > hard[key])
    throw new ProtocolError(
      ErrorCode.WIDEN_REFUSED,
      `${key}=${v} would widen the board's limit of ${hard[key]}`,
    );
}
