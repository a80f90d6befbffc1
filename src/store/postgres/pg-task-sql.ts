import type { TimelineEntry } from '../../core/task.js';
import { parentColumns, type TaskRow, taskColumns } from '../task-rows.js';
import type { Queryable } from './pg-sql-driver.js';

export { stateIn } from '../sql/lease-terms.js';
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

type TimelineRows = ReadonlyArray<{ id: string; entry: TimelineEntry }>;

/** The timeline insert with its five array parameters numbered from `$first`. */
function timelineInsertSql(first: number): string {
  const [a, b, c, d, e] = [0, 1, 2, 3, 4].map((i) => `$${first + i}`);
  // WITH ORDINALITY + ORDER BY keeps the seq order equal to the array order.
  return `INSERT INTO task_timeline (task_id, stage, at, attempt, data)
     SELECT task_id, stage, at, attempt, data
     FROM unnest(${a}::text[], ${b}::text[], ${c}::bigint[], ${d}::int[], ${e}::text[]) WITH ORDINALITY
       AS e(task_id, stage, at, attempt, data, n)
     ORDER BY n`;
}

function timelineParams(entries: TimelineRows): unknown[] {
  return [
    entries.map((e) => e.id),
    entries.map((e) => e.entry.stage),
    entries.map((e) => e.entry.at),
    entries.map((e) => e.entry.attempt ?? null),
    entries.map((e) => (e.entry.data === undefined ? null : JSON.stringify(e.entry.data))),
  ];
}

/** Appends entries of many tasks in one statement (task creation), in array order. */
export async function insertTimelines(q: Queryable, entries: TimelineRows): Promise<void> {
  if (entries.length === 0) return;
  await q.query(timelineInsertSql(1), timelineParams(entries));
}

/**
 * The tasks and their timeline entries in one statement (one round trip): the timeline insert
 * is the outer statement, the tasks' a data-modifying CTE. The foreign key from the timeline to
 * the tasks is checked at the end of the statement, when both are in.
 */
export function insertTasksWithTimelines(
  rows: readonly TaskRow[],
  entries: TimelineRows,
): {
  text: string;
  values: unknown[];
} {
  const tasks = insertTasksParams(rows);
  return {
    text: `WITH inserted_tasks AS (${insertTasksSql} RETURNING 1) ${timelineInsertSql(tasks.length + 1)}`,
    values: [...tasks, ...timelineParams(entries)],
  };
}
