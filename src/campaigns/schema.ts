/**
 * The campaign file's schema (YAML, validated with zod after sweep expansion).
 *
 *   name: three-presets
 *   board: emu://?rows=16&cols=16&device={device}&seed=1   # a board or instrument URL
 *   sweep:                      # optional: every combination becomes one run
 *     device: [linear, agsi, pcm]
 *   steps:
 *     - identify: {}
 *     - characterize: { row: 0, col: 0, pulses: 20 }
 *     - program: { pattern: checkerboard, block: { r0: 0, c0: 0, rows: 4, cols: 4 }, low: 2e-8, high: 6e-8 }
 *     - read: { block: { r0: 0, c0: 0, rows: 8, cols: 8 } }
 *     - retention: { interval: 3600, count: 5 }
 *     - wait: { seconds: 60 }
 *     - train: { rule: software, epochs: 1, imagesPerEpoch: 200 }
 *
 * `{name}` in any string is replaced by the sweep value; a string that is only `{name}` takes the
 * value itself (so `amplitude: "{amp}"` becomes a number).
 */
import { z } from "zod";
import { RULES } from "../learning/training/train.ts";

const int = (min = 0) => z.number().int().min(min);
const positive = z.number().positive();

export const BlockSchema = z.strictObject({ r0: int(), c0: int(), rows: int(1), cols: int(1) });

const pulseShape = {
  /** Potentiating amplitude, V (default 3.2). */
  setAmplitude: positive.optional(),
  /** Depressing amplitude, V, negative (default −2.8). */
  resetAmplitude: z.number().negative().optional(),
  /** Pulse width, s (default 300 µs). */
  width: positive.optional(),
};

export const STEP_BODIES = {
  identify: z.strictObject({}),
  characterize: z.strictObject({ row: int(), col: int(), pulses: int(1).max(100000), ...pulseShape }),
  program: z.strictObject({
    /** checkerboard, x (the letter X), diagonal, uniform (all at `high`). */
    pattern: z.enum(["checkerboard", "x", "diagonal", "uniform"]),
    block: BlockSchema,
    /** Conductances of the two levels, S; with `relative`, fractions of the range measured by this run's last characterize step. */
    low: positive,
    high: positive,
    relative: z.boolean().optional(),
    tolerance: z.number().gt(0).lt(1).optional(),
    maxPulses: int(1).optional(),
    /** When devices end stuck or out of pulse budget: `warn` (default: the step completes with a warning) or `fail` (the run fails, exit 3). */
    onUnconverged: z.enum(["warn", "fail"]).optional(),
    ...pulseShape,
  }),
  /** Forming: pulses of rising amplitude on one device, a read after each, until G >= target. */
  form: z.strictObject({
    row: int(),
    col: int(),
    /** First and largest amplitude, V, and the increment. */
    start: positive,
    stop: positive,
    step: positive,
    /** Conductance that counts as formed, S. */
    target: positive,
    width: positive.optional(),
  }),
  read: z.strictObject({ block: BlockSchema.optional() }),
  retention: z.strictObject({ block: BlockSchema.optional(), interval: positive, count: int(0).max(100000) }),
  wait: z.strictObject({ seconds: z.number().nonnegative() }),
  /** An I-V sweep on the campaign's `instrument` (a source-measure unit). */
  iv: z.strictObject({
    start: z.number(),
    stop: z.number(),
    points: int(2).max(2500),
    /** Current compliance, A; default 1e-4. */
    compliance: positive.optional(),
    /** Sweep back from stop to start as well (a hysteresis loop); default false. */
    back: z.boolean().optional(),
    /** Times to repeat the sweep; default 1. */
    cycles: int(1).max(100).optional(),
  }),
  train: z.strictObject({
    rule: z.enum(RULES),
    update: z.enum(["bidirectional", "unidirectional"]).optional(),
    epochs: int(1).max(100).optional(),
    imagesPerEpoch: int(1).max(60000).optional(),
    testImages: int(1).max(10000).optional(),
    hidden: int(1).max(1000).optional(),
    crop: z.union([z.literal(20), z.literal(28)]).optional(),
    seed: int().optional(),
    lr: positive.optional(),
  }),
} as const;

export type StepKind = keyof typeof STEP_BODIES;
export const STEP_KINDS = Object.keys(STEP_BODIES) as StepKind[];
export type StepBody<K extends StepKind> = z.infer<(typeof STEP_BODIES)[K]>;
/** A validated step: its kind and its body. */
export type Step = { [K in StepKind]: { kind: K; body: StepBody<K> } }[StepKind];

const SweepValue = z.union([z.string(), z.number()]);
export const CampaignSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  board: z.string().min(1),
  /** A bench instrument (SMU) for `iv` steps: serial path, socket://host:port or smu-emu://. */
  instrument: z.string().min(1).optional(),
  sweep: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.array(SweepValue).min(1)).optional(),
  steps: z.array(z.unknown()).min(1),
});
export type CampaignHeader = z.infer<typeof CampaignSchema>;
