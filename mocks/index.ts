/** Emulated instruments. Imports only firmware-protocol/ (and npm packages). */
export * from "./baud.ts";
export * from "./board.ts";
export * from "./devices.ts";
export * from "./effects.ts";
export * from "./faults.ts";
export { type PulseTable, parsePulseTable } from "./models/lut.ts";
export * from "./serve.ts";
export * from "./state-file.ts";
export * from "./timing.ts";
