import type { Task } from '../../core/task.js';
import { rowToTask, type TaskRow } from '../task-rows.js';
import type { WebhookAttempt, WebhookOutcome } from '../webhook-deliveries.js';
import { pgTaskColumns, type Queryable } from './pg-task-sql.js';

// The side tables of the PostgreSQL task store (webhooks, stats), kept
// out of the store class so that it holds only the task state machine.

/**
 * Due deliveries come off the partial `pending` index; unfinished tasks are skipped by the join.
 * Claimed in one statement (`FOR UPDATE … SKIP LOCKED`, then `next_at` moved past the claim), so
 * hosts polling together take disjoint deliveries.
 */
export async function dueWebhooks(
  q: Queryable,
  now: number,
  limit: number,
  claimMs: number,
  excludeOwners: readonly string[],
): Promise<Task[]> {
  const { rows } = await q.query<TaskRow>(
    `WITH due AS (
       SELECT w.task_id, w.next_at FROM webhook_deliveries w JOIN tasks t ON t.id = w.task_id
       WHERE w.state = 'pending' AND w.next_at <= $1 AND t.finished_at IS NOT NULL
         AND t.owner <> ALL($4::text[])
       ORDER BY w.next_at, t.finished_at LIMIT $2
       FOR UPDATE OF w SKIP LOCKED
     ), claimed AS (
       UPDATE webhook_deliveries w SET next_at = $3 FROM due WHERE w.task_id = due.task_id
       RETURNING w.task_id, due.next_at AS due_at
     )
     SELECT ${pgTaskColumns.map((c) => `t.${c}`).join(', ')}, r.result AS result
     FROM claimed c JOIN tasks t ON t.id = c.task_id
     LEFT JOIN task_results r ON r.task_id = t.id
     ORDER BY c.due_at, t.finished_at`,
    [now, limit, now + claimMs, excludeOwners],
  );
  return rows.map(rowToTask);
}

export async function recordWebhookAttempt(
  q: Queryable,
  taskId: string,
  attempt: WebhookAttempt,
  outcome: WebhookOutcome,
): Promise<void> {
  // One statement, so the attempt and the delivery state move together without a transaction.
  await q.query(
    `WITH attempt AS (
       INSERT INTO webhook_attempts (task_id, attempt, at, status_code, error, duration_ms)
       SELECT $1::text, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM tasks WHERE id = $1::text)
     )
     UPDATE webhook_deliveries SET state = $7, attempts = attempts + 1, next_at = $8 WHERE task_id = $1::text`,
    [
      taskId,
      attempt.attempt,
      attempt.at,
      attempt.statusCode,
      attempt.error,
      attempt.durationMs,
      outcome.state,
      outcome.state === 'pending' ? outcome.nextAt : 0,
    ],
  );
}
