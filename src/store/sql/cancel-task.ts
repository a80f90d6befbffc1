import type { Task } from '../../core/task.js';
import { endLease, stateIn } from './lease-terms.js';
import { readTask } from './read-task.js';
import type { SqlDialect } from './sql-dialect.js';
import { all, one, type SqlProgram } from './sql-driver.js';
import { insertTimeline } from './task-timeline.js';

/** queued | running → cancelled. Parameters: `@id`, `@at`. Returns the row's `attempts` when it applied. */
export const cancelSql = `UPDATE tasks SET state = 'cancelled', ${endLease}, finished_at = @at, updated_at = @at
  WHERE id = @id AND ${stateIn('cancel')} RETURNING attempts`;

/**
 * The unfinished children of a cancelled pipeline task go with it. Parameters: `@parentId`,
 * `@at`. Returns their ids.
 */
export const cancelChildrenSql = `UPDATE tasks SET state = 'cancelled', ${endLease}, finished_at = @at, updated_at = @at
  WHERE parent_id = @parentId AND ${stateIn('cancel')} RETURNING id`;

/**
 * queued | running → cancelled ({@link cancelSql}), its children with it, each with its
 * timeline entry; the task as it now is, or undefined when it was final or missing.
 */
export function* cancelTask(d: SqlDialect, id: string, at: number): SqlProgram<Task | undefined> {
  const done = yield* one<{ attempts: number }>(cancelSql, { id, at });
  if (done === undefined) return undefined;
  const children = yield* all<{ id: string }>(cancelChildrenSql, { parentId: id, at });
  yield* insertTimeline(d, [
    { id, entry: { stage: 'cancelled', at, attempt: done.attempts } },
    ...children.map((child) => ({ id: child.id, entry: { stage: 'cancelled', at, data: { parentId: id } } })),
  ]);
  return yield* readTask(id);
}
