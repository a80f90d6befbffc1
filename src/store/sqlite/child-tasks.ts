import type { NewTask, Task } from '../../core/task.js';
import { InferqError } from '../../errors/index.js';
// Statements compiled once per database: a pipeline creates steps several times per task, and
// compiling the wide task INSERT and the timeline INSERT for every row cost more than running them.
import { cachedStatement as sql } from '../../sqlite/cached-statement.js';
import type { SqliteDatabase } from '../../sqlite/open-sqlite.js';
import {
  newTaskRow,
  parentColumns,
  rowToTask,
  stepEntries,
  type TaskRow,
  taskColumns,
} from '../task-rows.js';

/** Every column a SQLite task row is read with (the shared ones plus the pipeline step ones). */
export const sqliteTaskColumns = [...taskColumns, ...parentColumns] as const;

function timeline(db: SqliteDatabase, id: string, stage: string, at: number, data?: unknown): void {
  sql(db, 'INSERT INTO task_timeline (task_id, stage, at, attempt, data) VALUES (?, ?, ?, NULL, ?)').run(
    id,
    stage,
    at,
    data === undefined ? null : JSON.stringify(data),
  );
}

/**
 * Inserts the drafts whose id is new, only while the parent is `running`; runs inside the
 * caller's write transaction. `ON CONFLICT DO NOTHING` makes a redo after a crash a no-op.
 */
export function insertChildTasks(
  db: SqliteDatabase,
  parentId: string,
  drafts: readonly NewTask[],
  at: number,
): Task[] | undefined {
  const parent = sql(db, 'SELECT state FROM tasks WHERE id = ?').get(parentId) as
    | { state: string }
    | undefined;
  if (parent?.state !== 'running') return undefined;
  const insert = sql(
    db,
    `INSERT INTO tasks (${sqliteTaskColumns.join(', ')}, lease_token)
     VALUES (${sqliteTaskColumns.map((c) => `@${c}`).join(', ')}, @lease_token)
     ON CONFLICT (id) DO NOTHING`,
  );
  const insertResult = sql(db, 'INSERT INTO task_results (task_id, result) VALUES (?, ?)');
  const created: Task[] = [];
  for (const draft of drafts) {
    if (draft.parent?.id !== parentId || draft.id === undefined) {
      throw new InferqError(
        'INFERQ_INTERNAL',
        `a child task of ${parentId} needs an id and parent.id ${parentId}`,
        { details: { parentId, id: draft.id ?? null, parent: draft.parent ?? null } },
      );
    }
    const { row, result } = newTaskRow(draft, at);
    if (insert.run(row).changes === 0) continue;
    timeline(db, row.id, 'created', at);
    if (result === undefined) timeline(db, row.id, 'queued', at);
    else {
      insertResult.run(row.id, result);
      timeline(db, row.id, 'succeeded', at, { cached: true });
    }
    created.push(rowToTask({ ...row, result: result ?? null }));
  }
  for (const entry of stepEntries(created, at)) timeline(db, parentId, entry.stage, at, entry.data);
  return created;
}

/** Every child of `parentId`, results joined, by step then item. */
export function selectChildTasks(db: SqliteDatabase, parentId: string): Task[] {
  const rows = sql(
    db,
    `SELECT ${sqliteTaskColumns.map((c) => `t.${c}`).join(', ')}, r.result AS result
     FROM tasks t LEFT JOIN task_results r ON r.task_id = t.id
     WHERE t.parent_id = ? ORDER BY t.step_id, t.item_index`,
  ).all(parentId) as TaskRow[];
  return rows.map(rowToTask);
}

/**
 * The children of `parentId` stamped after `cursor` (every child without one), results joined,
 * by step then item; the cursor is the highest stamp read (migration: change_seq). One
 * statement, so the rows and the cursor come from one snapshot.
 */
export function selectChildTasksChangedSince(
  db: SqliteDatabase,
  parentId: string,
  cursor: string | undefined,
): { tasks: Task[]; cursor: string } {
  const since = cursor === undefined ? -1 : Number(cursor);
  const rows = sql(
    db,
    `SELECT ${sqliteTaskColumns.map((c) => `t.${c}`).join(', ')}, r.result AS result, t.change_seq AS change_seq
     FROM tasks t LEFT JOIN task_results r ON r.task_id = t.id
     WHERE t.parent_id = ? AND coalesce(t.change_seq, 0) > ? ORDER BY t.step_id, t.item_index`,
  ).all(parentId, Number.isFinite(since) ? since : -1) as Array<TaskRow & { change_seq: number | null }>;
  let next = Number.isFinite(since) ? Math.max(since, 0) : 0;
  for (const row of rows) next = Math.max(next, row.change_seq ?? 0);
  return { tasks: rows.map(rowToTask), cursor: String(next) };
}
