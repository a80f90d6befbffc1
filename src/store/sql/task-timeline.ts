import type { TimelineEntry } from '../../core/task.js';
import type { SqlColumns, SqlDialect } from './sql-dialect.js';
import { run, type SqlProgram } from './sql-driver.js';

/**
 * Appends the timeline entries of many tasks in one statement, in array order (their `seq`
 * follows it).
 *
 * Parameters: `@e`, rows of (task_id, stage, at, attempt, data: JSON text or NULL).
 *
 * The statements that call it have just written each task's row in the same transaction, so the
 * tasks exist (no `WHERE EXISTS` guard, unlike appendTimeline's).
 */
const columns: SqlColumns = [
  ['task_id', 'text'],
  ['stage', 'text'],
  ['at', 'bigint'],
  ['attempt', 'integer'],
  ['data', 'text'],
];

export function insertTimelineSql(d: SqlDialect): string {
  return `INSERT INTO task_timeline (task_id, stage, at, attempt, data)
    SELECT e.task_id, e.stage, e.at, e.attempt, e.data FROM ${d.rows('e', columns)} ORDER BY e.n`;
}

/**
 * As {@link insertTimelineSql}, skipping the entries of a task that no longer exists (purged
 * meanwhile), for appendTimeline, whose caller holds no write of the task's row. Parameters: `@e`.
 */
export function appendTimelineSql(d: SqlDialect): string {
  return `INSERT INTO task_timeline (task_id, stage, at, attempt, data)
    SELECT e.task_id, e.stage, e.at, e.attempt, e.data FROM ${d.rows('e', columns)}
    WHERE EXISTS (SELECT 1 FROM tasks WHERE tasks.id = e.task_id) ORDER BY e.n`;
}

export interface TaskTimelineEntry {
  id: string;
  entry: TimelineEntry;
}

/** The parameters of {@link insertTimelineSql} and {@link appendTimelineSql}. */
export function timelineParams(
  d: SqlDialect,
  entries: readonly TaskTimelineEntry[],
): Record<string, unknown> {
  const rows = entries.map(({ id, entry }) => [
    id,
    entry.stage,
    entry.at,
    entry.attempt ?? null,
    entry.data === undefined ? null : JSON.stringify(entry.data),
  ]);
  return d.rowsParam('e', columns, rows);
}

export function* insertTimeline(d: SqlDialect, entries: readonly TaskTimelineEntry[]): SqlProgram<void> {
  if (entries.length === 0) return;
  yield* run(insertTimelineSql(d), timelineParams(d, entries));
}
