/**
 * Arithmetic on a board's own counters (`Counters`, board.ts: STAT): what a board did between two
 * snapshots, the sum over several boards, sums and differences of such activity. Training, the
 * spiking network and the retraining experiment report their costs through these, so "pulses" or
 * "energy" means the same subtraction everywhere.
 */
import type { Counters } from "./board.ts";

/** What a board did over a span, from its own counters (a `Counters` snapshot is one too). */
export interface Activity {
  pulses: number;
  reads: number;
  vmms: number;
  /** Energy, J. */
  energy: number;
  /** Board clock advanced, s. */
  clock: number;
}

export const NO_ACTIVITY: Activity = { pulses: 0, reads: 0, vmms: 0, energy: 0, clock: 0 };

/** `after` − `before`, counter by counter: what happened between two snapshots. */
export function activityBetween(before: Activity, after: Activity): Activity {
  return {
    pulses: after.pulses - before.pulses,
    reads: after.reads - before.reads,
    vmms: after.vmms - before.vmms,
    energy: after.energy - before.energy,
    clock: after.clock - before.clock,
  };
}

/** `a` + `b`, counter by counter. */
export function addActivity(a: Activity, b: Activity): Activity {
  return {
    pulses: a.pulses + b.pulses,
    reads: a.reads + b.reads,
    vmms: a.vmms + b.vmms,
    energy: a.energy + b.energy,
    clock: a.clock + b.clock,
  };
}

/** Link bytes between two snapshots, when both have them. */
export function linkBetween(before: Counters, after: Counters): Counters["link"] {
  return before.link && after.link
    ? { sent: after.link.sent - before.link.sent, received: after.link.received - before.link.received }
    : undefined;
}

/**
 * The counters of several boards as one: pulses, reads, VMM vectors, energy, commands and errors
 * summed; the clock is the latest board's; link bytes only when every board counts them.
 */
export function sumCounters(snapshots: Counters[]): Counters {
  const sum: Counters = { pulses: 0, reads: 0, vmms: 0, energy: 0, commands: 0, errors: 0, clock: 0 };
  let link: Counters["link"] = { sent: 0, received: 0 };
  for (const c of snapshots) {
    if (link && c.link) link = { sent: link.sent + c.link.sent, received: link.received + c.link.received };
    else link = undefined;
    sum.pulses += c.pulses;
    sum.reads += c.reads;
    sum.vmms += c.vmms;
    sum.energy += c.energy;
    sum.commands += c.commands;
    sum.errors += c.errors;
    sum.clock = Math.max(sum.clock, c.clock);
  }
  return snapshots.length && link ? { ...sum, link } : sum;
}
