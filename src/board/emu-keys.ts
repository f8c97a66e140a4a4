/**
 * The keys of the emu:// query, and those of its emulated array that bench-emu:// and arc1-emu://
 * take too. Constants only: connect.ts reads them into the emulator's options.
 */
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
export const EFFECT_KEYS = {
  stucklow: "stuckLow",
  stuckhigh: "stuckHigh",
  readnoise: "readNoise",
  adcbits: "adcBits",
  adcrange: "adcRange",
  wire: "wire",
} as const;
