/**
 * The emu:// query: which keys an emulated board takes and what each sets (the board's options, its
 * link's faults and bandwidth). bench-emu:// and arc1-emu:// take the array keys of it for the array
 * behind their emulated instruments. Read with the grammar every board URL shares (url-query.ts).
 */
import { XbarError } from "../../drivers/index.ts";
import { ErrorCode } from "../../firmware-protocol/index.ts";
import { type BoardOptions, checkBaud, type FaultSpec, parseFaults } from "../../mocks/index.ts";
import { UrlQuery } from "./url-query.ts";

/** emu:// keys of the emulated array (its physics): also those of bench-emu:// and arc1-emu://. */
export const ARRAY_EMU_KEYS = [
  "rows",
  "cols",
  "device",
  "seed",
  "noise",
  "sneak",
  "readnoise",
  "stucklow",
  "stuckhigh",
  "adcbits",
  "adcrange",
  "wire",
] as const;

/**
 * emu:// query keys. Board: rows, cols, device, seed, window, maxline, noise (scale of the device's
 * randomness, 0 = its mean device), lut (pulse-response CSV for device=lut). Array effects (off unless
 * given): sneak=1, disturb=1 (passive array), stucklow / stuckhigh (rates), readnoise (relative σ),
 * adcbits, adcrange (A), wire (Ω per segment). Protocol 1.1 wire: dac and adc (bits of the converters
 * the board reports in IDN; with them the host sends and receives quantised arrays and refers to held
 * vectors). The board validates the ranges. Link faults:
 * fault=SPEC (grammar of mocks/faults.ts, e.g. drop:0.02,corrupt:0.01,seed:3); baud=N, the link's
 * bandwidth as a UART at N baud 8N1 (mocks/baud.ts). Time: timescale=S (0 = as fast as possible, the
 * default; 1 = each command takes the board profile's time in wall time; mocks/timing.ts). proto=1.0
 * answers as a protocol 1.0 board did; trip=1 makes pulses above the compliance trip (ERR 404, FAULT).
 * state=FILE keeps the devices' conductances in FILE across connections and processes (non-volatile
 * devices; mocks/state-file.ts): the CLI's default board is such a board.
 */
export const EMU_KEYS = [
  "rows",
  "cols",
  "device",
  "seed",
  "window",
  "maxline",
  "noise",
  "lut",
  "sneak",
  "disturb",
  "stucklow",
  "stuckhigh",
  "readnoise",
  "adcbits",
  "adcrange",
  "wire",
  "dac",
  "adc",
  "fault",
  "baud",
  "timescale",
  "state",
  "proto",
  "trip",
] as const;

/** Effect keys of emu:// and the ArrayEffects field each sets (numbers; sneak and disturb are 0/1). */
const EFFECT_KEYS = {
  stucklow: "stuckLow",
  stuckhigh: "stuckHigh",
  readnoise: "readNoise",
  adcbits: "adcBits",
  adcrange: "adcRange",
  wire: "wire",
} as const;

/** Reads emulator options from an emu:// query string, refusing unknown keys and bad values. */
export function emulatorOptions(params: URLSearchParams): BoardOptions {
  const q = new UrlQuery("emu", params, EMU_KEYS);
  const opts: BoardOptions = {};
  for (const k of ["rows", "cols", "seed", "window", "dac", "adc"] as const) if (q.has(k)) opts[k] = q.int(k);
  if (q.has("maxline")) opts.maxLine = q.int("maxline");
  for (const k of ["device", "lut", "state"] as const)
    if (q.has(k)) opts[k] = q.text(k, k === "device" ? "a device name" : "a file path");
  if (q.has("noise")) opts.noise = q.number("noise");
  if (q.has("timescale")) opts.timescale = q.number("timescale");
  const protocol = q.choice("proto", ["1.0", "1.1"] as const);
  if (protocol) opts.protocol = protocol;
  if (q.has("trip")) opts.complianceTrip = q.flag("trip");
  const effects: NonNullable<BoardOptions["effects"]> = {};
  for (const k of ["sneak", "disturb"] as const) if (q.has(k)) effects[k] = q.flag(k);
  for (const [k, field] of Object.entries(EFFECT_KEYS)) if (q.has(k)) effects[field] = q.number(k);
  if (Object.keys(effects).length) opts.effects = effects;
  return opts;
}

/** Reads the fault spec of an emu:// query (key `fault`), or undefined. */
export function emulatorFaults(params: URLSearchParams): FaultSpec | undefined {
  const text = params.get("fault");
  if (text === null) return undefined;
  try {
    return parseFaults(text);
  } catch (e) {
    throw new XbarError(ErrorCode.BAD_URL, `emu:// option fault=${text}: ${(e as Error).message}`);
  }
}

/** Reads the link bandwidth of an emu:// query (key `baud`), or undefined. */
export function emulatorBaud(params: URLSearchParams): number | undefined {
  const text = params.get("baud");
  if (text === null) return undefined;
  const n = Number(text);
  try {
    checkBaud(n);
  } catch (e) {
    throw new XbarError(ErrorCode.BAD_URL, `emu:// option baud=${text}: ${(e as Error).message}`);
  }
  return n;
}
