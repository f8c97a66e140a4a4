/**
 * The emulated board's hard limits and its session configuration (what CFG sets and RESET restores).
 */
import type { Limits, Scheme } from "../firmware-protocol/index.ts";

/** The board's hard limits: what LIM reports before any CFG narrowing. */
export const HARD_LIMITS: Readonly<Limits> = {
  vmax: 5,
  wmin: 1e-8,
  wmax: 1e-2,
  nmax: 10000,
  plmax: 65536,
  vrmax: 1,
  ccmax: 1e-3,
  emax: 1,
};

/** What CFG sets (PROTOCOL.md §6): read conditions and the narrowed envelope. */
export interface Config {
  vread: number;
  scheme: Scheme;
  cc: number;
  tread: number;
  vmax: number;
  wmax: number;
  nmax: number;
  emax: number;
}

export const defaultConfig = (): Config => ({
  vread: 0.2,
  scheme: "V/2",
  cc: 1e-4,
  tread: 1e-6,
  vmax: HARD_LIMITS.vmax,
  wmax: HARD_LIMITS.wmax,
  nmax: HARD_LIMITS.nmax,
  emax: HARD_LIMITS.emax,
});

/** The board's counters (STAT). */
export interface Counters {
  pulses: number;
  reads: number;
  vmms: number;
  energy: number;
  cmds: number;
  errors: number;
  /** Bytes received and sent on the board's links, terminators included (STAT rx, tx). */
  rx: number;
  tx: number;
}

export const zeroCounters = (): Counters => ({
  pulses: 0,
  reads: 0,
  vmms: 0,
  energy: 0,
  cmds: 0,
  errors: 0,
  rx: 0,
  tx: 0,
});

/** The emulated board's firmware version (IDN fw=, BOOT fw=). */
export const FIRMWARE_VERSION = "0.1.0";
