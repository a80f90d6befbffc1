import type { SqliteDatabase } from '../../sqlite/open-sqlite.js';
import type { FeedbackEntry } from '../task-store.js';

export function addFeedback(db: SqliteDatabase, taskId: string, entry: FeedbackEntry): boolean {
  const result = db
    .prepare(
      `INSERT INTO task_feedback (task_id, feedback, at)
       SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM tasks WHERE id = ?)`,
    )
    .run(taskId, JSON.stringify(entry.feedback ?? null), entry.at, taskId);
  return result.changes > 0;
}

export function listFeedback(db: SqliteDatabase, taskId: string): FeedbackEntry[] {
  const rows = db
    .prepare('SELECT feedback, at FROM task_feedback WHERE task_id = ? ORDER BY seq')
    .all(taskId) as { feedback: string; at: number }[];
  return rows.map((row) => ({ feedback: JSON.parse(row.feedback), at: row.at }));
}
