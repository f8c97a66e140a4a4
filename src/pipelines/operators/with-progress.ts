/**
 * How far a multi-step operation got when it failed: rethrows an XbarError with
 * `context.progress` filled from `report()` at the moment of the failure (the failed step's own
 * context — command, tag, device — is kept). Other errors pass unchanged.
 */
import { catchError, type MonoTypeOperatorFunction, throwError } from "rxjs";
import { XbarError } from "../../../firmware-protocol/errors.ts";

export function withProgress<T>(report: () => Record<string, number>): MonoTypeOperatorFunction<T> {
  return catchError((e: unknown) =>
    throwError(() =>
      e instanceof XbarError
        ? new XbarError(
            e.code,
            e.detail,
            { ...e.context, progress: { ...e.context.progress, ...report() } },
            { cause: e },
          )
        : e,
    ),
  );
}
