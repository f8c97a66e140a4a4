/**
 * Pulse response of one device: a read, then `pulses` potentiating pulses, then `pulses`
 * depressing pulses, each followed by a read (one PULSE rd=1 command per point).
 *
 *   read ─▶ [+V pulse, read] × N ─▶ [−V pulse, read] × N        emits one point per read
 */
import { concat, concatMap, defer, map, type Observable, range, tap } from "rxjs";
import { ErrorCode } from "../../../firmware-protocol/constants.ts";
import { XbarError } from "../../../firmware-protocol/errors.ts";
import type { Board } from "../../board/board.ts";
import { abortOnUnsubscribe } from "../operators/abort-on-unsubscribe.ts";
import { withProgress } from "../operators/with-progress.ts";

export interface CharacterizeOptions {
  row: number;
  col: number;
  /** Pulses per phase. */
  pulses: number;
  /** Potentiating amplitude, V; default 3.2 (the Ag:a-Si write voltage). */
  setAmplitude?: number;
  /** Depressing amplitude, V (negative); default −2.8. */
  resetAmplitude?: number;
  /** Pulse width, s; default 300e-6. */
  width?: number;
}

export interface CharacterizePoint {
  phase: "initial" | "potentiation" | "depression";
  /** Pulse number within the phase (0 for the initial read). */
  index: number;
  /** Pulses applied so far in the whole run. */
  pulse: number;
  amplitude: number;
  width: number;
  /** Conductance after the pulse, S. */
  conductance: number;
}

export const DEFAULT_PULSE = { setAmplitude: 3.2, resetAmplitude: -2.8, width: 300e-6 } as const;

export function characterize(board: Board, opts: CharacterizeOptions): Observable<CharacterizePoint> {
  const { row, col, pulses } = opts;
  const {
    setAmplitude = DEFAULT_PULSE.setAmplitude,
    resetAmplitude = DEFAULT_PULSE.resetAmplitude,
    width = DEFAULT_PULSE.width,
  } = opts;
  if (!(Number.isInteger(pulses) && pulses >= 1))
    throw new XbarError(ErrorCode.BAD_INPUT, `pulses must be a positive integer, not ${pulses}`);
  if (!(setAmplitude > 0))
    throw new XbarError(ErrorCode.BAD_INPUT, `setAmplitude must be positive, not ${setAmplitude}`);
  if (!(resetAmplitude < 0))
    throw new XbarError(ErrorCode.BAD_INPUT, `resetAmplitude must be negative, not ${resetAmplitude}`);
  const phase = (name: "potentiation" | "depression", amplitude: number, offset: number) =>
    range(1, pulses).pipe(
      concatMap((index) =>
        board.pulse({ row, col, amplitude, width, count: 1, readAfter: true }).pipe(
          map((r) => ({
            phase: name,
            index,
            pulse: offset + index,
            amplitude,
            width,
            conductance: r.conductance!,
          })),
        ),
      ),
    );
  return defer(() => {
    // Pulses confirmed by the board and points emitted, for the error of a run that fails midway.
    let applied = 0;
    let points = 0;
    return concat(
      board.read(row, col).pipe(
        map((g) => ({
          phase: "initial" as const,
          index: 0,
          pulse: 0,
          amplitude: 0,
          width: 0,
          conductance: g,
        })),
      ),
      phase("potentiation", setAmplitude, 0),
      phase("depression", resetAmplitude, pulses),
    ).pipe(
      tap((p) => {
        applied = p.pulse;
        points++;
      }),
      withProgress(() => ({ pulses: applied, of: 2 * pulses, points })),
    );
  }).pipe(abortOnUnsubscribe(board));
}
