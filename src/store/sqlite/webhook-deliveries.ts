import type { SqliteDatabase } from '../../sqlite/open-sqlite.js';

/** Called inside createTasks' transaction for each task with a callback URL. */
export function insertPendingDelivery(db: SqliteDatabase, taskId: string): void {
  db.prepare(
    `INSERT INTO webhook_deliveries (task_id, state, attempts, next_at) VALUES (?, 'pending', 0, 0)`,
  ).run(taskId);
}
