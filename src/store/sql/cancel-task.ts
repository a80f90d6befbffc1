import type { Task } from '../../core/task.js';
import { cancelSql, endLease, releaseSql, stateIn } from '../task-lease.js';
import { readTask } from './read-task.js';
import type { SqlDialect } from './sql-dialect.js';
import { all, one, type SqlProgram } from './sql-driver.js';
import { insertTimeline } from './task-timeline.js';

/**
 * The unfinished children of a cancelled pipeline task go with it. Parameters: `@parentId`,
 * `@at`. Returns their ids.
 */
export const cancelChildrenSql = `UPDATE tasks SET state = 'cancelled', ${endLease}, finished_at = @at, updated_at = @at
  WHERE parent_id = @parentId AND ${stateIn('cancel')} RETURNING id`;

/**
 * queued | running → cancelled (task-lease.ts's cancelSql), its children with it, each with its
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

/** running(token) → queued with the attempt given back (a draining worker never ran it). */
export function* releaseTask(
  d: SqlDialect,
  id: string,
  leaseToken: string,
  reason: string,
  at: number,
): SqlProgram<boolean> {
  const done = yield* one<{ attempts: number }>(releaseSql(d), { id, at, token: leaseToken });
  if (done === undefined) return false;
  yield* insertTimeline(d, [
    { id, entry: { stage: 'released', at, attempt: done.attempts + 1, data: { reason } } },
  ]);
  return true;
}
