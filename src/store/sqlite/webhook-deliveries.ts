import type { Task } from '../../core/task.js';
import type { SqliteDatabase } from '../../sqlite/open-sqlite.js';
import { rowToTask, type TaskRow, taskColumns } from '../task-rows.js';
import type { WebhookAttempt, WebhookOutcome } from '../webhook-deliveries.js';

/** Called inside createTasks' transaction for each task with a callback URL. */
export function insertPendingDelivery(db: SqliteDatabase, taskId: string): void {
  db.prepare(
    `INSERT INTO webhook_deliveries (task_id, state, attempts, next_at) VALUES (?, 'pending', 0, 0)`,
  ).run(taskId);
}

/**
 * Due deliveries come off the partial `pending` index; those whose task is still running are
 * skipped by the join (they are few: at most the tasks in flight with a callback). Claimed by
 * moving `next_at` past the claim, in the same write transaction as the read. Every API host
 * polls once a second, so a read without the write lock comes first: with nothing due (nearly
 * always) the poll never queues behind the task writers for the lock.
 */
export function dueWebhooks(
  db: SqliteDatabase,
  now: number,
  limit: number,
  claimMs: number,
  excludeOwners: readonly string[],
): Task[] {
  const notExcluded = 't.owner NOT IN (SELECT value FROM json_each(?))';
  const excluded = JSON.stringify(excludeOwners);
  const anyDue = db
    .prepare(
      `SELECT 1 FROM webhook_deliveries w JOIN tasks t ON t.id = w.task_id
       WHERE w.state = 'pending' AND w.next_at <= ? AND t.finished_at IS NOT NULL AND ${notExcluded} LIMIT 1`,
    )
    .get(now, excluded);
  if (anyDue === undefined) return [];
  return db
    .transaction(() => {
      const rows = db
        .prepare(
          `SELECT ${taskColumns.map((c) => `t.${c}`).join(', ')}, r.result AS result
           FROM webhook_deliveries w
           JOIN tasks t ON t.id = w.task_id
           LEFT JOIN task_results r ON r.task_id = t.id
           WHERE w.state = 'pending' AND w.next_at <= ? AND t.finished_at IS NOT NULL AND ${notExcluded}
           ORDER BY w.next_at, t.finished_at LIMIT ?`,
        )
        .all(now, excluded, limit) as TaskRow[];
      const claim = db.prepare('UPDATE webhook_deliveries SET next_at = ? WHERE task_id = ?');
      for (const row of rows) claim.run(now + claimMs, row.id);
      return rows.map(rowToTask);
    })
    .immediate();
}

export function recordWebhookAttempt(
  db: SqliteDatabase,
  taskId: string,
  attempt: WebhookAttempt,
  outcome: WebhookOutcome,
): void {
  db.transaction(() => {
    db.prepare(
      `INSERT INTO webhook_attempts (task_id, attempt, at, status_code, error, duration_ms)
       SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM tasks WHERE id = ?)`,
    ).run(taskId, attempt.attempt, attempt.at, attempt.statusCode, attempt.error, attempt.durationMs, taskId);
    db.prepare(
      `UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, next_at = ? WHERE task_id = ?`,
    ).run(outcome.state, outcome.state === 'pending' ? outcome.nextAt : 0, taskId);
  }).immediate();
}
