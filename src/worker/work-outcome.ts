import type { TaskError } from '../core/task.js';
import { InferqError } from '../errors/index.js';

/** What running one item produced. One item's failure never fails its batch-mates. */
export type WorkOutcome =
  | { ok: true; result: unknown; timing?: Record<string, unknown> }
  | { ok: false; error: TaskError; retryable: boolean };

/**
 * Classifies a thrown error: an `InferqError` with a 4xx status is bad input that will never
 * succeed (fail at once, like BullMQ's `UnrecoverableError`); anything else may be transient
 * and is retried with backoff while attempts remain.
 */
export function outcomeFromError(err: unknown): WorkOutcome {
  if (err instanceof InferqError) {
    return {
      ok: false,
      error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) },
      retryable: err.status >= 500,
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { ok: false, error: { code: 'INFERQ_WORK_FAILED', message }, retryable: true };
}
