/**
 * Bench instruments for campaigns: `connectSmu(url)` lives in src/board/connect.ts, the one composition
 * point that may start an emulator (`smu-emu://`); this module is the instruments' public face.
 */
export type { SmuReading } from "../../drivers/scpi/smu.ts";
export { Smu } from "../../drivers/scpi/smu.ts";
export { connectSmu } from "./connect.ts";
