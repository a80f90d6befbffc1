import { endLease, stateIn } from './lease-terms.js';
import type { SqlDialect } from './sql-dialect.js';
import { one, type SqlProgram } from './sql-driver.js';
import { insertTimeline } from './task-timeline.js';

/**
 * running(@token) → queued with the attempt given back (a draining worker never ran it).
 * Parameters: `@id`, `@token`, `@at`. Returns the row's `attempts` when it applied.
 */
export function releaseSql(d: SqlDialect): string {
  return `UPDATE tasks SET state = 'queued', attempts = ${d.max('attempts - 1', '0')}, ${endLease},
      updated_at = @at
    WHERE id = @id AND ${stateIn('lease-expired')} AND lease_token = @token RETURNING attempts`;
}

/** TaskStore.releaseTask: {@link releaseSql} and its `released` timeline entry; false when stale. */
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
