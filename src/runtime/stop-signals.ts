import { InferqError } from '../errors/index.js';

/**
 * A promise that rejects with `INFERQ_WORK_TIMEOUT` after `timeoutMs`, or `INFERQ_CANCELLED`
 * when `signal` aborts (at once if it already has), to race against a prediction. Call `cancel`
 * once the race is over so the timer does not keep the process alive.
 */
export function stopSignals(
  what: string,
  timeoutMs: number | undefined,
  signal: AbortSignal | undefined,
): { promise: Promise<never>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const promise = new Promise<never>((_, reject) => {
    if (timeoutMs !== undefined) {
      timer = setTimeout(
        () =>
          reject(
            new InferqError('INFERQ_WORK_TIMEOUT', `${what} took longer than ${timeoutMs} ms`, {
              details: { timeoutMs },
            }),
          ),
        timeoutMs,
      );
    }
    if (signal?.aborted) reject(cancelled(what));
    else if (signal) {
      onAbort = () => reject(cancelled(what));
      signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  // Nobody may be listening when it rejects (the prediction won the race).
  promise.catch(() => {});
  return {
    promise,
    cancel: () => {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    },
  };
}

/** The error of a prediction stopped by its caller's `AbortSignal`. */
export function cancelled(what: string): InferqError {
  return new InferqError('INFERQ_CANCELLED', `${what}: prediction cancelled`);
}

/** True for the errors {@link stopSignals} raises. */
export function isStopError(err: unknown): boolean {
  return (
    err instanceof InferqError && (err.code === 'INFERQ_WORK_TIMEOUT' || err.code === 'INFERQ_CANCELLED')
  );
}
