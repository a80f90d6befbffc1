import type { FeedbackEntry } from '../feedback.js';
import type { SqlDriver } from './sql-driver.js';

/** Parameters: `@taskId`, `@feedback` (JSON text), `@at`. Nothing for a task that does not exist. */
export const insertFeedbackSql = `INSERT INTO task_feedback (task_id, feedback, at)
  SELECT CAST(@taskId AS TEXT), @feedback, @at WHERE EXISTS (SELECT 1 FROM tasks WHERE id = @taskId)`;

/** Parameters: `@taskId`. */
export const selectFeedbackSql =
  'SELECT feedback, at FROM task_feedback WHERE task_id = @taskId ORDER BY seq';

export async function addFeedback(driver: SqlDriver, taskId: string, entry: FeedbackEntry): Promise<boolean> {
  const params = { taskId, feedback: JSON.stringify(entry.feedback ?? null), at: entry.at };
  return (await driver.run(insertFeedbackSql, params)) > 0;
}

export async function listFeedback(driver: SqlDriver, taskId: string): Promise<FeedbackEntry[]> {
  const rows = await driver.all<{ feedback: string; at: number }>(selectFeedbackSql, { taskId });
  return rows.map((row) => ({ feedback: JSON.parse(row.feedback), at: row.at }));
}
