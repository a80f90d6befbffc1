import type { Task } from '../../core/task.js';
import { type TaskState, taskStates } from '../../core/task-state.js';
import {
  decodeCursor,
  encodeCursor,
  parentColumns,
  rowToTask,
  stateList,
  type TaskRow,
  taskColumns,
} from '../task-rows.js';
import type { Page, PageRequest, TaskFilter } from '../task-store.js';
import type { SqlDialect } from './sql-dialect.js';
import type { SqlDriver, SqlParams } from './sql-driver.js';
import { filterTerms, where } from './task-filter.js';

const defaultLimit = 50;
const maxLimit = 1_000;

/**
 * A page of tasks, newest first (TaskStore.listTasks); results are not loaded.
 *
 * Parameters: the filter's (`@a0f…`, one set per arm), `@before` (the cursor's id) and `@limit`.
 * Neither planner reads several (state, id) index ranges merged in id order: with more than one
 * state it would sort every matching row. One limited range per state, merged with UNION ALL,
 * reads at most (states × page) index entries instead.
 */
export function listTasksSql(
  d: SqlDialect,
  filter: TaskFilter,
  before: string | undefined,
): { sql: string; params: SqlParams } {
  const params: SqlParams = {};
  const states = stateList(filter.state);
  const arms = (states !== undefined && states.length > 1 ? states : [undefined]).map((state, i) => {
    const terms = filterTerms(d, state === undefined ? filter : { ...filter, state }, params, `a${i}f`);
    if (before !== undefined) terms.push('id < @before');
    return `SELECT ${taskColumns.join(', ')}, ${parentColumns.join(', ')} FROM tasks ${where(terms)}
      ORDER BY id DESC LIMIT @limit`;
  });
  if (before !== undefined) params.before = before;
  const [only] = arms;
  const sql =
    arms.length === 1 && only !== undefined
      ? only
      : `${arms.map((arm, i) => `SELECT * FROM (${arm}) AS arm${i}`).join(' UNION ALL ')} ORDER BY id DESC LIMIT @limit`;
  return { sql, params };
}

export async function listTasks(
  driver: SqlDriver,
  filter: TaskFilter,
  page: PageRequest,
): Promise<Page<Task>> {
  const limit = clampLimit(page.limit);
  const before = page.cursor === undefined ? undefined : decodeCursor(page.cursor, filter);
  const { sql, params } = listTasksSql(driver.dialect, filter, before);
  const rows = await driver.all<TaskRow>(sql, { ...params, limit: limit + 1 });
  const items = rows.slice(0, limit).map(rowToTask);
  const last = items.at(-1);
  return rows.length > limit && last !== undefined
    ? { items, nextCursor: encodeCursor(last.id, filter) }
    : { items };
}

/** Tasks per state under a filter, zeros included. Parameters: the filter's. */
export async function countTasks(driver: SqlDriver, filter: TaskFilter): Promise<Record<TaskState, number>> {
  const params: SqlParams = {};
  const terms = filterTerms(driver.dialect, filter, params);
  const rows = await driver.all<{ state: TaskState; n: number }>(
    `SELECT state, COUNT(*) AS n FROM tasks ${where(terms)} GROUP BY state`,
    params,
  );
  const counts = Object.fromEntries(taskStates.map((s) => [s, 0])) as Record<TaskState, number>;
  for (const { state, n } of rows) counts[state] = n;
  return counts;
}

function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return defaultLimit;
  return Math.min(maxLimit, Math.max(1, Math.floor(limit)));
}
