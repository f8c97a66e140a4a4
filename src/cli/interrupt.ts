/**
 * Interruption of long commands (train, retrain, characterize, run): Ctrl-C (SIGINT) or SIGTERM
 * aborts `signal`, so the command stops its run (the boards get ABORT and are left idle), restores
 * the terminal, keeps what was measured and says so; it then exits 130. A second Ctrl-C while the
 * command is finishing exits at once.
 */
import { fromEvent, type MonoTypeOperatorFunction, takeUntil } from "rxjs";
import { ErrorCode } from "../../firmware-protocol/constants.ts";
import { XbarError } from "../../firmware-protocol/errors.ts";

export interface Interruption {
  /** Aborted by the first SIGINT or SIGTERM (or by `interrupt()`, e.g. a Stop button). */
  readonly signal: AbortSignal;
  /** Interrupts as a signal would. */
  interrupt(reason?: string): void;
  /** Removes the signal handlers. */
  dispose(): void;
}

/** Shows the cursor and turns line wrap back on, in case a progress bar hid or disabled them. */
export function restoreTerminal(): void {
  if (process.stderr.isTTY) process.stderr.write("\x1b[?25h\x1b[?7h");
}

export function listenForInterrupt(what: string): Interruption {
  const ctl = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (ctl.signal.aborted) {
      restoreTerminal();
      process.stderr.write(`xbar: ${sig} again: exiting now\n`);
      process.exit(130);
    }
    interrupt(sig);
  };
  const interrupt = (reason = "stop") => {
    if (ctl.signal.aborted) return;
    restoreTerminal();
    process.stderr.write(
      `\nxbar: ${reason}: stopping ${what} (the array is left idle, what was measured is kept)\n`,
    );
    ctl.abort(reason);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    signal: ctl.signal,
    interrupt,
    dispose: () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

/** Completes the stream when `signal` aborts (unsubscribing the source: its run stops and aborts). */
export function untilAborted<T>(signal: AbortSignal): MonoTypeOperatorFunction<T> {
  return takeUntil<T>(fromEvent(signal, "abort"));
}

/** The error of an interrupted command: exit status 130, one line saying what was kept. */
export function interruptedError(detail: string): XbarError {
  return new XbarError(ErrorCode.INTERRUPTED, detail);
}
