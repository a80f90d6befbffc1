import { idUpperBound } from '../../core/ids.js';
import type { TimelineEntry } from '../../core/task.js';
import { parentColumns, stateList, type TaskRow, taskColumns } from '../task-rows.js';
import type { TaskFilter } from '../task-store.js';
import type { Queryable } from './pg-sql-driver.js';

export { stateIn } from '../task-lease.js';
export type { Queryable } from './pg-sql-driver.js';

/** Every column a task row is written and read with: the shared ones plus the pipeline step ones. */
export const pgTaskColumns = [...taskColumns, ...parentColumns] as const;

/** PostgreSQL types of `pgTaskColumns`, for the `unnest` bulk insert. */
const columnTypes: Record<(typeof pgTaskColumns)[number], string> = {
  id: 'text',
  request_id: 'text',
  owner: 'text',
  target_kind: 'text',
  target_name: 'text',
  target_version: 'text',
  input_sha256: 'text',
  input_size: 'bigint',
  input_media_type: 'text',
  input_name: 'text',
  params: 'text',
  params_hash: 'text',
  priority: 'integer',
  state: 'text',
  attempts: 'integer',
  max_attempts: 'integer',
  error: 'text',
  cached: 'smallint',
  callback_url: 'text',
  created_at: 'bigint',
  updated_at: 'bigint',
  finished_at: 'bigint',
  worker_id: 'text',
  parent_id: 'text',
  step_id: 'text',
  item_index: 'integer',
};

/**
 * One INSERT for any number of tasks: each column travels as one array parameter and `unnest`
 * zips them back into rows. Unlike a multi-row VALUES list this never nears the 65,535
 * parameter limit, and the statement text is the same for every batch size.
 */
export const insertTasksSql = `INSERT INTO tasks (${pgTaskColumns.join(', ')})
  SELECT * FROM unnest(${pgTaskColumns.map((c, i) => `$${i + 1}::${columnTypes[c]}[]`).join(', ')})`;

export function insertTasksParams(rows: readonly TaskRow[]): unknown[] {
  return pgTaskColumns.map((column) => rows.map((row) => row[column] ?? null));
}

export const selectTask = `SELECT ${pgTaskColumns.join(', ')} FROM tasks`;
export const selectTaskWithResult =
  `SELECT ${pgTaskColumns.map((c) => `t.${c}`).join(', ')}, r.result AS result ` +
  'FROM tasks t LEFT JOIN task_results r ON r.task_id = t.id WHERE t.id = $1';

/** The `WHERE` terms of a listing or count filter; values are appended to `values` ($n numbering). */
export function filterTerms(filter: TaskFilter, values: unknown[]): string[] {
  const terms: string[] = [];
  const bind = (value: unknown): string => {
    values.push(value);
    return `$${values.length}`;
  };
  if (filter.owner !== undefined) terms.push(`owner = ${bind(filter.owner)}`);
  if (filter.requestId !== undefined) terms.push(`request_id = ${bind(filter.requestId)}`);
  if (filter.inputSha256 !== undefined) terms.push(`input_sha256 = ${bind(filter.inputSha256)}`);
  if (filter.target !== undefined) {
    // Model and pipeline names cannot contain '@': the first '@' splits name from version.
    const at = filter.target.indexOf('@');
    if (at < 0) terms.push(`target_name = ${bind(filter.target)}`);
    else {
      terms.push(`target_name = ${bind(filter.target.slice(0, at))}`);
      terms.push(`target_version = ${bind(filter.target.slice(at + 1))}`);
    }
  }
  const states = stateList(filter.state);
  if (states !== undefined) {
    // An empty state list matches nothing (every filter field narrows), not everything. One state
    // is an equality, not `= ANY(array)`: only then does the planner walk (owner, state, id) or
    // (state, id) in id order and stop at LIMIT, instead of collecting and sorting every match
    // (bench/postgres-explain.ts, 1M rows: 15 ms → under 1 ms). listTasks splits several states
    // into one such arm each.
    if (states.length === 0) terms.push('FALSE');
    else if (states.length === 1) terms.push(`state = ${bind(states[0])}`);
    else terms.push(`state = ANY(${bind(states)}::text[])`);
  }
  if (filter.createdFrom !== undefined) terms.push(`created_at >= ${bind(filter.createdFrom)}`);
  if (filter.createdTo !== undefined) {
    // The id bound only narrows the walk (see idUpperBound); the time term decides.
    terms.push(`created_at < ${bind(filter.createdTo)}`, `id < ${bind(idUpperBound(filter.createdTo))}`);
  }
  if (filter.topLevel === true) terms.push('parent_id IS NULL');
  if (filter.ids !== undefined) {
    terms.push(filter.ids.length === 0 ? 'FALSE' : `id = ANY(${bind(filter.ids)}::text[])`);
  }
  return terms;
}

export function where(terms: readonly string[]): string {
  return terms.length === 0 ? '' : `WHERE ${terms.join(' AND ')}`;
}

/** Appends one entry; a task that no longer exists (purged meanwhile) is skipped, not an error. */
export async function insertTimeline(q: Queryable, id: string, entry: TimelineEntry): Promise<void> {
  await q.query(
    `INSERT INTO task_timeline (task_id, stage, at, attempt, data)
     SELECT $1::text, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM tasks WHERE id = $1::text)`,
    [
      id,
      entry.stage,
      entry.at,
      entry.attempt ?? null,
      entry.data === undefined ? null : JSON.stringify(entry.data),
    ],
  );
}

/** Appends entries of many tasks in one statement (task creation), in array order. */
export async function insertTimelines(
  q: Queryable,
  entries: ReadonlyArray<{ id: string; entry: TimelineEntry }>,
): Promise<void> {
  if (entries.length === 0) return;
  // WITH ORDINALITY + ORDER BY keeps the seq order equal to the array order.
  await q.query(
    `INSERT INTO task_timeline (task_id, stage, at, attempt, data)
     SELECT task_id, stage, at, attempt, data
     FROM unnest($1::text[], $2::text[], $3::bigint[], $4::int[], $5::text[]) WITH ORDINALITY
       AS e(task_id, stage, at, attempt, data, n)
     ORDER BY n`,
    [
      entries.map((e) => e.id),
      entries.map((e) => e.entry.stage),
      entries.map((e) => e.entry.at),
      entries.map((e) => e.entry.attempt ?? null),
      entries.map((e) => (e.entry.data === undefined ? null : JSON.stringify(e.entry.data))),
    ],
  );
}
