import type { WebhookAttempt, WebhookOutcome } from '../webhook-deliveries.js';
import { run, type SqlProgram } from './sql-driver.js';

/**
 * One attempt, kept only while its task exists (purged meanwhile: skipped, not an error).
 * Parameters: `@taskId`, `@attempt`, `@at`, `@statusCode`, `@error`, `@durationMs`.
 */
export const insertAttemptSql = `INSERT INTO webhook_attempts (task_id, attempt, at, status_code, error, duration_ms)
  SELECT @taskId, @attempt, @at, @statusCode, @error, @durationMs
  WHERE EXISTS (SELECT 1 FROM tasks WHERE id = @taskId)`;

/** What follows the attempt. Parameters: `@taskId`, `@state`, `@nextAt` (0 unless pending). */
export const updateDeliverySql = `UPDATE webhook_deliveries SET state = @state, attempts = attempts + 1,
  next_at = @nextAt WHERE task_id = @taskId`;

/** WebhookDeliveries.recordWebhookAttempt, in one transaction: the attempt and the state move together. */
export function* recordWebhookAttempt(
  taskId: string,
  attempt: WebhookAttempt,
  outcome: WebhookOutcome,
): SqlProgram<void> {
  yield* run(insertAttemptSql, {
    taskId,
    attempt: attempt.attempt,
    at: attempt.at,
    statusCode: attempt.statusCode,
    error: attempt.error,
    durationMs: attempt.durationMs,
  });
  yield* run(updateDeliverySql, {
    taskId,
    state: outcome.state,
    nextAt: outcome.state === 'pending' ? outcome.nextAt : 0,
  });
}
