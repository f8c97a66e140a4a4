/**
 * Wall time told up front, for boards that read and pulse one device at a time (a bench of SMU and
 * matrix, the ArC ONE): the work of an operation counted in device reads and pulses, times the
 * board's per-step times (`capabilities.timing`). `timingOfUrl` gives those times from a URL
 * alone, so that `xbar run --dry-run` can say them without connecting.
 *
 * The per-step times are estimates stated in src/board/bench-board.ts and src/board/arc1-board.ts;
 * docs/bench.md lists the times measured on the emulated instruments (bench/instruments.ts).
 */
import type { OperationTiming } from "./board.ts";
import { linkRoundTrip } from "./capabilities.ts";

/** Work in device operations. */
export interface DeviceWork {
  reads: number;
  pulses: number;
  /** Total width of the pulses, s. */
  pulseSeconds: number;
}

/** Wall time of `w` on a board with timing `t`, s (one command per device step when not batched). */
export function estimateSeconds(t: OperationTiming, w: DeviceWork): number {
  const steps = t.batched ? 0 : w.reads + w.pulses;
  return steps * t.command + w.reads * t.read + w.pulses * t.pulse + w.pulseSeconds;
}

/** Seconds of SMU integration per point at the default 0.01 NPLC (50 Hz), and relay settling. */
export const BENCH_POINT = 0.01 / 50;
export const BENCH_SETTLE = 3e-3;
/** Instrument round trips per bench step (matrix close and error check, SMU setup, read, off, open). */
export const BENCH_ROUND_TRIPS = 14;
/** ArC ONE: its read averages `read_cycles` conversions, ~1 ms with the default 30 (our estimate). */
export const ARC1_READ = 1e-3;
/** ArC ONE command round trip at 921600 baud: a few short lines each way (our estimate). */
export const ARC1_COMMAND = (60 * 10) / 921600 + 1e-3;

function param(url: string, key: string): string | null {
  const q = url.indexOf("?");
  return q < 0 ? null : new URLSearchParams(url.slice(q + 1)).get(key);
}

/** Board kinds whose operations are composed from single-device steps, by URL. */
export function isComposedUrl(url: string): boolean {
  return /^(bench|bench-emu|arc1|arc1-emu):\/\//.test(url);
}

/** Array size named by a composed board's URL (defaults: bench-emu 8 x 8, arc1 32 x 32). */
export function sizeOfUrl(url: string): { rows: number; cols: number } {
  const d = url.startsWith("arc1") ? 32 : 8;
  return { rows: Number(param(url, "rows") ?? d), cols: Number(param(url, "cols") ?? d) };
}

/** Per-step times of a composed board from its URL alone, or undefined for other boards. */
export function timingOfUrl(url: string): OperationTiming | undefined {
  if (url.startsWith("bench-emu://") || url.startsWith("bench://")) {
    const nplc = Number(param(url, "nplc") ?? 0.01);
    const links = url.startsWith("bench-emu://")
      ? 5e-5
      : Math.max(linkRoundTrip(param(url, "smu") ?? ""), linkRoundTrip(param(url, "matrix") ?? ""));
    return {
      command: BENCH_ROUND_TRIPS * links,
      read: nplc / 50 + BENCH_SETTLE,
      pulse: BENCH_SETTLE,
      batched: false,
    };
  }
  if (url.startsWith("arc1")) return { command: ARC1_COMMAND, read: ARC1_READ, pulse: 0, batched: false };
  return undefined;
}

/**
 * Device work of one training image on a composed board: every device of the layers on the array
 * is read for the forward multiply (and again for the transposed one on chip), a lower bound that
 * leaves out the update pulses.
 */
export function trainImageWork(rule: string, sizes: number[]): DeviceWork {
  const pairs = (i: number) => 2 * sizes[i]! * sizes[i + 1]!;
  if (rule === "software") return { reads: 0, pulses: 0, pulseSeconds: 0 };
  if (rule === "hybrid") return { reads: pairs(0), pulses: 0, pulseSeconds: 0 };
  let reads = 0;
  for (let i = 0; i + 1 < sizes.length; i++) reads += pairs(i) * (i > 0 ? 2 : 1);
  return { reads, pulses: 0, pulseSeconds: 0 };
}

/** "1.2 h", "35 s": a duration for messages. */
function human(s: number): string {
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  if (s < 3 * 86400) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} days`;
}

/**
 * What training will cost on a board without native VMM, told before starting; undefined when the
 * board multiplies natively (or the rule needs no board).
 */
export function composedTrainingNote(
  board: { url: string; capabilities: { native: readonly string[]; timing: OperationTiming } },
  rule: string,
  sizes: number[],
  images: number,
): string | undefined {
  if (board.capabilities.native.includes("vmm")) return undefined;
  const per = trainImageWork(rule, sizes);
  if (per.reads === 0) return undefined;
  const one = estimateSeconds(board.capabilities.timing, per);
  return `${board.url} has no native VMM: every multiply is composed from single-device reads (${per.reads} reads per image, ~${human(one)}); ${images} images take at least ~${human(one * images)} (update pulses not counted)`;
}
