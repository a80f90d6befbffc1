import type { NewTask, Task } from '../../core/task.js';
import { InferqError } from '../../errors/index.js';
import { newTaskRow, rowToTask, stepEntries, type TaskRow } from '../task-rows.js';
import {
  insertTasksParams,
  insertTasksSql,
  insertTimelines,
  pgTaskColumns,
  type Queryable,
} from './pg-task-sql.js';

/**
 * Inserts the drafts whose id is new, only while the parent is `running`; runs inside the
 * caller's transaction. The parent row is locked first (`FOR SHARE` would let two coordinators
 * both pass, then a cancel slip between: `FOR UPDATE` serialises them with `cancelTask`), and
 * `ON CONFLICT (id) DO NOTHING` makes a redo after a crash a no-op.
 */
export async function insertChildTasks(
  q: Queryable,
  parentId: string,
  drafts: readonly NewTask[],
  at: number,
): Promise<Task[] | undefined> {
  for (const draft of drafts) {
    if (draft.parent?.id !== parentId || draft.id === undefined) {
      throw new InferqError(
        'INFERQ_INTERNAL',
        `a child task of ${parentId} needs an id and parent.id ${parentId}`,
        {
          details: { parentId, id: draft.id ?? null, parent: draft.parent ?? null },
        },
      );
    }
  }
  const parent = await q.query<{ state: string }>('SELECT state FROM tasks WHERE id = $1 FOR UPDATE', [
    parentId,
  ]);
  if (parent.rows[0]?.state !== 'running') return undefined;
  if (drafts.length === 0) return [];
  const prepared = drafts.map((draft) => newTaskRow(draft, at));
  const inserted = await q.query<{ id: string }>(
    `${insertTasksSql} ON CONFLICT (id) DO NOTHING RETURNING id`,
    [...insertTasksParams(prepared.map((p) => p.row))],
  );
  const fresh = new Set(inserted.rows.map((r) => r.id));
  const created = prepared.filter((p) => fresh.has(p.row.id));
  await insertTimelines(
    q,
    created.flatMap(({ row, result }) => [
      { id: row.id, entry: { stage: 'created', at } },
      result === undefined
        ? { id: row.id, entry: { stage: 'queued', at } }
        : { id: row.id, entry: { stage: 'succeeded', at, data: { cached: true } } },
    ]),
  );
  const cached = created.filter((p) => p.result !== undefined);
  if (cached.length > 0) {
    await q.query('INSERT INTO task_results (task_id, result) SELECT * FROM unnest($1::text[], $2::text[])', [
      cached.map((p) => p.row.id),
      cached.map((p) => p.result),
    ]);
  }
  const tasks = created.map(({ row, result }) => rowToTask({ ...row, result: result ?? null }));
  await insertTimelines(
    q,
    stepEntries(tasks, at).map((entry) => ({ id: parentId, entry })),
  );
  return tasks;
}

/** Every child of `parentId`, results joined, by step then item (off the partial index). */
export async function selectChildTasks(q: Queryable, parentId: string): Promise<Task[]> {
  const { rows } = await q.query<TaskRow>(
    `SELECT ${pgTaskColumns.map((c) => `t.${c}`).join(', ')}, r.result AS result
     FROM tasks t LEFT JOIN task_results r ON r.task_id = t.id
     WHERE t.parent_id = $1 ORDER BY t.step_id, t.item_index`,
    [parentId],
  );
  return rows.map(rowToTask);
}

/**
 * The children of `parentId` whose row was written by a transaction that was still open, or
 * not yet begun, at the read that returned `cursor` (every child without one), results
 * joined, by step then item. No column to keep: a row's `xmin` is the transaction that wrote
 * its version, and the cursor is the oldest transaction open at this read (its snapshot's
 * xmin), so a write that commits after the read, in whatever order, is found next time. Both
 * are 32-bit transaction ids compared modulo 2³², as PostgreSQL compares them; a row frozen by
 * VACUUM reads as old, which it is. Transactions open elsewhere in the cluster make a read
 * return a few unchanged rows again, never miss one.
 */
export async function selectChildTasksChangedSince(
  q: Queryable,
  parentId: string,
  cursor: string | undefined,
): Promise<{ tasks: Task[]; cursor: string }> {
  const since = cursor === undefined || !/^\d+$/.test(cursor) ? null : cursor;
  const { rows } = await q.query<TaskRow & { horizon: string; id: string | null }>(
    `SELECT h.horizon, c.* FROM
       (SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::bigint % 4294967296)::text AS horizon) h
     LEFT JOIN LATERAL (
       SELECT ${pgTaskColumns.map((c) => `t.${c}`).join(', ')}, r.result AS result
       FROM tasks t LEFT JOIN task_results r ON r.task_id = t.id
       WHERE t.parent_id = $1
         AND ($2::bigint IS NULL OR (t.xmin::text::bigint - $2::bigint + 4294967296) % 4294967296 < 2147483648)
     ) c ON true
     ORDER BY c.step_id, c.item_index`,
    [parentId, since],
  );
  const horizon = rows[0]?.horizon ?? since ?? '0';
  return { tasks: rows.filter((r) => r.id !== null).map(rowToTask), cursor: horizon };
}
