import type { Task } from '../../core/task.js';
import { parentColumns, rowToTask, type TaskRow, taskColumns } from '../task-rows.js';
import type { SqlDialect } from './sql-dialect.js';
import { all, type SqlProgram } from './sql-driver.js';

/**
 * Reads many tasks, each with its result, in one statement.
 *
 * Parameters: `@ids`, a list of task ids.
 */
export function selectTasksSql(d: SqlDialect): string {
  return `SELECT ${[...taskColumns, ...parentColumns].map((c) => `t.${c}`).join(', ')}, r.result AS result
    FROM tasks t LEFT JOIN task_results r ON r.task_id = t.id WHERE ${d.inList('t.id', 'ids')}`;
}

/** The tasks of `ids` that exist, by id. */
export function* selectTasks(d: SqlDialect, ids: readonly string[]): SqlProgram<Map<string, Task>> {
  if (ids.length === 0) return new Map();
  const rows = yield* all<TaskRow>(selectTasksSql(d), d.listParam('ids', [...new Set(ids)]));
  return new Map(rows.map((row) => [row.id, rowToTask(row)]));
}
