import type { SqlDialect } from '../sql/sql-dialect.js';
import type { SqlDriver } from '../sql/sql-driver.js';
import type { HistoryBucket, HistoryRequest } from '../task-stats.js';
import { type OutcomeRow, outcomeFields } from './outcome-rows.js';
import { outcomesSql } from './outcomes-sql.js';

/*
 * Both statements read the `tasks_finished_at` index range of [from, to) and nothing else of the
 * table's indexes (owner and state `unindexed`, see outcomes-sql.ts). better-sqlite3 binds a JS
 * number as REAL, so `from` and the bucket width are cast to BIGINT for the division to
 * truncate (on PostgreSQL the cast types the parameters).
 */

/** Bucket k of a finished task: ⌊(finished_at − from) / bucketMs⌋. */
const bucketOf = (finishedAt: string) =>
  `(${finishedAt} - CAST(@from AS BIGINT)) / CAST(@bucketMs AS BIGINT)`;

/** Outcomes per bucket. Parameters: `@from`, `@to`, `@bucketMs`, and `@owner` when `owner`. */
export const historySql = (d: SqlDialect, owner: boolean) =>
  outcomesSql(d, {
    key: bucketOf('finished_at'),
    as: 'b',
    where: 'finished_at >= @from AND finished_at < @to',
    owner,
    ordered: true,
  });

/**
 * Items per run per bucket: each task of a run of n items says n (its `succeeded` entry's
 * `batchSize`), so runs = Σ 1/n over the tasks. Parameters: as {@link historySql}.
 */
export const batchSql = (d: SqlDialect, owner: boolean) => `
  SELECT ${bucketOf('t.finished_at')} AS b,
    COUNT(*) / SUM(1.0 / ${d.jsonNumber('tl.data', 'batchSize')}) AS batch
  FROM tasks t JOIN task_timeline tl ON tl.task_id = t.id
  WHERE t.finished_at >= @from AND t.finished_at < @to AND ${d.unindexed('t.state')} = 'succeeded'
    ${owner ? `AND ${d.unindexed('t.owner')} = @owner` : ''}
    AND tl.stage = 'succeeded' AND ${d.jsonNumber('tl.data', 'batchSize')} > 0
  GROUP BY b`;

/** TaskStats.taskHistory. */
export async function taskHistory(driver: SqlDriver, request: HistoryRequest): Promise<HistoryBucket[]> {
  const owner = request.owner !== undefined;
  const params = {
    from: request.from,
    to: request.to,
    bucketMs: Math.max(1, Math.floor(request.bucketMs)),
    ...(owner ? { owner: request.owner } : {}),
  };
  const rows = await driver.all<OutcomeRow & { b: number }>(historySql(driver.dialect, owner), params);
  const batches = await driver.all<{ b: number; batch: number }>(batchSql(driver.dialect, owner), params);
  const batchOf = new Map(batches.map((r) => [r.b, r.batch]));
  return rows.map((row) => ({
    start: request.from + row.b * params.bucketMs,
    ...outcomeFields(row),
    batchSize: batchOf.get(row.b) ?? null,
  }));
}
