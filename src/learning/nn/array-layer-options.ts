/**
 * How an array layer (array-layer.ts) is configured, and what it counts: the update rule and its
 * pulses, the refresh of saturated pairs, mini-batches.
 */
import type { DeviceRange, PulseShape } from "./calibrate.ts";

export type UpdateRule = "bidirectional" | "unidirectional";

export interface ArrayLayerOptions {
  range: DeviceRange;
  pulse: PulseShape;
  rule: UpdateRule;
  /** "count": n = round(|ΔW|·levels); "sign": one pulse per device whose |ΔW|·levels ≥ threshold. */
  mode?: "count" | "sign";
  /** Smallest |ΔW|·levels that gives a pulse; default 0.5 (plain rounding). */
  threshold?: number;
  /** Input voltage for x = 1, V; default 0.2. */
  vin?: number;
  /**
   * Weight represented by a pair at full range: W = gain·(G+ − G−)/(Gmax − Gmin); default 1. An
   * output layer whose weights want to exceed 1 would otherwise be clipped by the devices' range.
   */
  gain?: number;
  /**
   * Unidirectional rule: look for saturated pairs (and refresh them) once the layer has received, since
   * the last look, pulses worth this fraction of its devices' level count (on average per device);
   * default 0.05; 0 = never. Small layers with busy devices are looked at more often than large ones.
   */
  refreshFraction?: number;
  /**
   * Unidirectional rule: a pair is refreshed when its larger device is above `high` and its smaller
   * above `low` (fractions of the range); default 0.75 and 0.25. Lower values keep the devices where
   * their steps are large (a nonlinear device's step shrinks as it climbs, its noise does not), at the
   * cost of more refreshes.
   */
  refreshAt?: { high: number; low: number };
  /**
   * Images whose updates are summed before any pulse is sent (a mini-batch; our choice): the host adds
   * the outer products x·δᵀ of `batch` images and sends the net pulse counts (a pulse list or block), so that
   * opposite updates of different images cancel before they reach the devices (each pulse carries the
   * device's cycle-to-cycle noise). Default 1: one OPU per image, the outer product formed on the board.
   */
  batch?: number;
}

export interface LayerStats {
  updates: number;
  refreshes: number;
  refreshedPairs: number;
}
