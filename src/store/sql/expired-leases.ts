import type { Task } from '../../core/task.js';
import { parentColumns, rowToTask, type TaskRow, taskColumns } from '../task-rows.js';
import type { SqlDriver } from './sql-driver.js';

/**
 * Model tasks `running` whose row lease ran out at or before `@before` (ms): their worker died,
 * was cut off or stopped renewing. Oldest first, at most `@limit`. A lease with no expiry (written
 * before rows carried one) counts as expired, as `leaseExpired` (task-lease.ts) has it.
 *
 * Pipeline tasks are left out: a pipeline task stays `running` while its steps run, under a
 * lease nobody renews, and its wake-ups are the pipeline sweeper's (worker/housekeeping).
 * `running` rows are few (at most the batches in flight), so `tasks_state_id` is index enough.
 * A running task has no result: none is read (the tasks' `result` is left not loaded).
 *
 * Parameters: `@before`, `@limit`.
 */
export const expiredLeasesSql = `SELECT ${[...taskColumns, ...parentColumns].join(', ')}
  FROM tasks
  WHERE state = 'running' AND target_kind = 'model'
    AND (lease_expires_at IS NULL OR lease_expires_at <= @before)
  ORDER BY id
  LIMIT @limit`;

export async function listExpiredLeases(driver: SqlDriver, before: number, limit: number): Promise<Task[]> {
  const rows = await driver.all<TaskRow>(expiredLeasesSql, { before, limit });
  return rows.map(rowToTask);
}
