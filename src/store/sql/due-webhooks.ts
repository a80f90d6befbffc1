import type { Task } from '../../core/task.js';
import { parentColumns, rowToTask, type TaskRow, taskColumns } from '../task-rows.js';
import type { SqlDialect } from './sql-dialect.js';
import { all, run, type SqlProgram } from './sql-driver.js';

/*
 * Due webhook deliveries (WebhookDeliveries.dueWebhooks): pending, `next_at` passed, their task
 * final (the join skips the few still running), their owner not in `@excluded`; off the partial
 * `pending` index, oldest first. Parameters: `@now`, and the list `@excluded` (dialect.listParam).
 */
const dueTerms = (d: SqlDialect) =>
  `w.state = 'pending' AND w.next_at <= @now AND t.finished_at IS NOT NULL
    AND NOT (${d.inList('t.owner', 'excluded')})`;

/**
 * Whether anything is due, read without a lock or a transaction: every API host polls once a
 * second, and with nothing due (nearly always) the poll must not queue behind the task writers
 * for SQLite's write lock. Parameters: as {@link dueTerms}.
 */
export const anyDueSql = (d: SqlDialect) => `SELECT 1 AS due FROM webhook_deliveries w
  JOIN tasks t ON t.id = w.task_id WHERE ${dueTerms(d)} LIMIT 1`;

/**
 * Up to `@limit` due deliveries' tasks with their results, in due order. On PostgreSQL their
 * delivery rows are locked, and rows another host holds are skipped (`SKIP LOCKED`), so hosts
 * polling together take disjoint deliveries; SQLite's `BEGIN IMMEDIATE` serialises the claims.
 * Parameters: those of {@link dueTerms}, `@limit`.
 */
export const dueTasksSql = (d: SqlDialect) => `SELECT ${[...taskColumns, ...parentColumns]
  .map((c) => `t.${c}`)
  .join(', ')}, r.result AS result
  FROM webhook_deliveries w
  JOIN tasks t ON t.id = w.task_id
  LEFT JOIN task_results r ON r.task_id = t.id
  WHERE ${dueTerms(d)}
  ORDER BY w.next_at, t.finished_at LIMIT @limit ${d.skipLocked('w')}`;

/** The claim: hidden until `@until`. Parameters: `@until`, the list `@ids`. */
export const claimDeliveriesSql = (d: SqlDialect) =>
  `UPDATE webhook_deliveries SET next_at = @until WHERE ${d.inList('task_id', 'ids')}`;

/** The parameters of {@link anyDueSql}. */
export function dueParams(d: SqlDialect, now: number, excludeOwners: readonly string[]) {
  return { now, ...d.listParam('excluded', excludeOwners) };
}

/**
 * Claims the due deliveries (in one write transaction, after {@link anyDueSql} said there are
 * some) by moving their `next_at` past the claim: each is hidden from every other poller, on any
 * host, for `claimMs`. Their tasks, oldest due first.
 */
export function* claimDueWebhooks(
  d: SqlDialect,
  now: number,
  limit: number,
  claimMs: number,
  excludeOwners: readonly string[],
): SqlProgram<Task[]> {
  const rows = yield* all<TaskRow>(dueTasksSql(d), { ...dueParams(d, now, excludeOwners), limit });
  if (rows.length === 0) return [];
  yield* run(claimDeliveriesSql(d), {
    until: now + claimMs,
    ...d.listParam(
      'ids',
      rows.map((row) => row.id),
    ),
  });
  return rows.map(rowToTask);
}
