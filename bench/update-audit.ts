/**
 * An audit of outer-product updates: wraps a Board so that every `outerProductUpdate` it passes on is
 * also counted as the board would count it from the float32 factors (n = q(scale · x[i] · d[j]),
 * PROTOCOL.md §6 `OPU`), next to the pulses the board replies it applied. On a board that takes
 * float32 the two agree exactly; over the protocol 1.1 wire (8-bit factors, the row factors held on
 * the board) their difference is what quantising the factors changed in the pulse counts.
 */
import { type Observable, tap } from "rxjs";
import type { Board, OuterProductUpdate } from "../src/board/board.ts";

export interface UpdateAudit {
  /** Outer-product updates the board applied. */
  updates: number;
  /** Pulses the float32 factors give, summed over all devices and updates. */
  expected: number;
  /** Pulses the board replied it applied. */
  applied: number;
  /**
   * Σ over updates of |applied − expected|: a lower bound on the device counts the wire changed (a
   * count one up and another one down in the same update cancel here).
   */
  changed: number;
}

/** Pulses of one update as the board counts them, from the factors as given (float32). */
export function expectedPulses(u: OuterProductUpdate): number {
  const { scale = 1, threshold = 0.5, mode = "count" } = u;
  let total = 0;
  for (let i = 0; i < u.x.length; i++) {
    const xi = scale * u.x[i]!;
    if (xi === 0) continue;
    for (let j = 0; j < u.d.length; j++) {
      const m = Math.abs(xi * u.d[j]!);
      if (m >= threshold) total += mode === "sign" ? 1 : Math.round(m);
    }
  }
  return total;
}

/** `board` with its outer-product updates audited (every other member passed through unchanged). */
export function auditUpdates(board: Board): { board: Board; audit: UpdateAudit } {
  const audit: UpdateAudit = { updates: 0, expected: 0, applied: 0, changed: 0 };
  const audited = new Proxy(board, {
    get(target, key) {
      if (key === "outerProductUpdate")
        return (u: OuterProductUpdate): Observable<number> => {
          const expected = expectedPulses(u);
          return target.outerProductUpdate(u).pipe(
            tap((applied) => {
              audit.updates++;
              audit.expected += expected;
              audit.applied += applied;
              audit.changed += Math.abs(applied - expected);
            }),
          );
        };
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { board: audited, audit };
}
