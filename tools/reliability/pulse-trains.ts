/**
 * A seeded sequence of pulse trains with read-back, for comparing the physics of two boards (the C
 * firmware's simulated array and the emulator): SET, RESET and partial (between threshold and nominal
 * amplitude) trains of 1..7 pulses over every device of a rows x cols array, each read back (rd=1).
 */
import { encodeRequest } from "../../firmware-protocol/index.ts";

export function pulseTrains(
  count: number,
  rows: number,
  cols: number,
  vset: number,
  vreset: number,
): string[] {
  const out: string[] = [encodeRequest(1, "HELLO").trim()];
  for (let i = 0; i < count; i++) {
    const v = i % 3 === 2 ? vreset : i % 5 === 0 ? (vset * 2) / 3 : vset;
    const args = { r: i % rows, c: (i * 3) % cols, v, w: 3e-4, n: 1 + (i % 7), rd: 1 };
    out.push(encodeRequest(2 + (i % 60000), "PULSE", args).trim());
  }
  return out;
}
