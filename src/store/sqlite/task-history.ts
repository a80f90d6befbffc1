import { nearestRank } from '../../core/percentile.js';
import type { SqliteDatabase } from '../../sqlite/open-sqlite.js';
import { maxBreakdownRows, type OutcomeRow, outcomeFields } from '../outcome-rows.js';
import { cacheHit, latencySample, notTransformStep } from '../task-rows.js';
import type { DurationPercentiles, HistoryBucket, HistoryRequest, LatencyBreakdown } from '../task-stats.js';

/*
 * Both queries read the `tasks_finished_at` index range of the window and nothing else of the
 * table's indexes: the owner and state terms carry a unary `+`, which keeps SQLite from
 * choosing `tasks_owner_state_id` instead — an equality on one owner looks selective to the
 * planner, but one tenant may own every row of a million-task store.
 *
 * better-sqlite3 binds a JS number as REAL, so `from` and the bucket width are cast to INTEGER for the
 * division to truncate. Percentiles are nearest-rank (the ⌈p·n⌉-th smallest), computed in SQL with window functions
 * so that only one row per bucket comes back to JavaScript.
 */

/**
 * Per group (`key`, named `as`) of the tasks that finished in `where` (a finished_at range): counts
 * by outcome and cache hits, and p50/p95/p99 of created → finished over the succeeded ones a
 * worker ran (`latencySample`: cache hits left out), rank ⌈p·n⌉ written
 * (n·p + 99) / 100 in integer arithmetic. The history and the overview's window (task-activity.ts)
 * both run it.
 */
export const rankedOutcomesSql = (o: {
  key: string;
  as: string;
  where: string;
  owner: boolean;
  ordered?: boolean;
}) => `
  WITH w AS (
    SELECT ${o.key} AS ${o.as}, state, ${cacheHit} AS hit, ${latencySample} AS sample,
      finished_at - created_at AS ms
    FROM tasks
    WHERE ${o.where} AND ${notTransformStep} ${o.owner ? 'AND +owner = @owner' : ''}
  ), ranked AS (
    SELECT ${o.as}, state, hit, sample, ms,
      ROW_NUMBER() OVER (PARTITION BY ${o.as}, sample ORDER BY ms) AS rn,
      COUNT(*) OVER (PARTITION BY ${o.as}, sample) AS n
    FROM w
  )
  SELECT ${o.as}, COUNT(*) AS finished,
    SUM(state = 'succeeded') AS succeeded, SUM(state = 'failed') AS failed,
    SUM(state = 'cancelled') AS cancelled, SUM(hit) AS cacheHits,
    MAX(CASE WHEN sample AND rn = (n * 50 + 99) / 100 THEN ms END) AS p50,
    MAX(CASE WHEN sample AND rn = (n * 95 + 99) / 100 THEN ms END) AS p95,
    MAX(CASE WHEN sample AND rn = (n * 99 + 99) / 100 THEN ms END) AS p99
  FROM ranked GROUP BY ${o.as}${o.ordered === true ? ` ORDER BY ${o.as}` : ''}`;

/** The statements, exported so that bench/dashboard.ts can print their query plans. */
export const historySql = (owner: boolean) =>
  rankedOutcomesSql({
    key: '(finished_at - CAST(@from AS INTEGER)) / CAST(@bucketMs AS INTEGER)',
    as: 'b',
    where: 'finished_at >= @from AND finished_at < @to',
    owner,
    ordered: true,
  });

/** Items per run: each task of a run of n items says n, so runs = Σ 1/n over the tasks. */
export const batchSql = (owner: boolean) => `
  SELECT (t.finished_at - CAST(@from AS INTEGER)) / CAST(@bucketMs AS INTEGER) AS b,
    COUNT(*) / SUM(1.0 / json_extract(tl.data, '$.batchSize')) AS batch
  FROM tasks t JOIN task_timeline tl ON tl.task_id = t.id
  WHERE t.finished_at >= @from AND t.finished_at < @to AND +t.state = 'succeeded'
    ${owner ? 'AND +t.owner = @owner' : ''}
    AND tl.stage = 'succeeded' AND json_extract(tl.data, '$.batchSize') > 0
  GROUP BY b`;

export function taskHistory(db: SqliteDatabase, request: HistoryRequest): HistoryBucket[] {
  const owner = request.owner !== undefined;
  const params = {
    from: request.from,
    to: request.to,
    bucketMs: Math.max(1, Math.floor(request.bucketMs)),
    ...(owner ? { owner: request.owner } : {}),
  };
  const rows = db.prepare(historySql(owner)).all(params) as Array<OutcomeRow & { b: number }>;
  const batches = new Map(
    (db.prepare(batchSql(owner)).all(params) as Array<{ b: number; batch: number }>).map((r) => [
      r.b,
      r.batch,
    ]),
  );
  return rows.map((row) => ({
    start: request.from + row.b * params.bucketMs,
    ...outcomeFields(row),
    batchSize: batches.get(row.b) ?? null,
  }));
}

interface TimingRow {
  target: string;
  queue: number | null;
  batch_wait: number | null;
  compute: number | null;
  total: number;
  size: number | null;
}

export const breakdownSql = (owner: boolean) => `
  SELECT t.target_name || '@' || t.target_version AS target,
    json_extract(tl.data, '$.queueWaitMs') AS queue,
    json_extract(tl.data, '$.batchWaitMs') AS batch_wait,
    json_extract(tl.data, '$.computeMs') AS compute,
    t.finished_at - t.created_at AS total,
    json_extract(tl.data, '$.batchSize') AS size
  FROM tasks t JOIN task_timeline tl ON tl.task_id = t.id
  WHERE t.finished_at >= @since AND +t.state = 'succeeded' ${owner ? 'AND +t.owner = @owner' : ''}
    AND tl.stage = 'succeeded' AND json_extract(tl.data, '$.computeMs') IS NOT NULL
  ORDER BY t.finished_at DESC LIMIT ${maxBreakdownRows}`;

export function latencyBreakdown(
  db: SqliteDatabase,
  filter: { owner?: string; since: number },
): LatencyBreakdown[] {
  const owner = filter.owner !== undefined;
  const rows = db
    .prepare(breakdownSql(owner))
    .all({ since: filter.since, ...(owner ? { owner: filter.owner } : {}) }) as TimingRow[];
  const byTarget = new Map<string, TimingRow[]>();
  for (const row of rows) {
    const list = byTarget.get(row.target);
    if (list === undefined) byTarget.set(row.target, [row]);
    else list.push(row);
  }
  return [...byTarget]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([target, list]) => {
      const sizes = list.map((r) => r.size).filter((n): n is number => typeof n === 'number' && n > 0);
      return {
        target,
        tasks: list.length,
        queueWaitMs: percentiles(list.map((r) => r.queue)),
        batchWaitMs: percentiles(list.map((r) => r.batch_wait)),
        computeMs: percentiles(list.map((r) => r.compute)),
        totalMs: percentiles(list.map((r) => r.total)),
        batchSize: sizes.length === 0 ? null : sizes.length / sizes.reduce((sum, n) => sum + 1 / n, 0),
      };
    });
}

/** Nearest-rank p50 and p95 of the numbers among `values`. */
export function percentiles(values: ReadonlyArray<number | null>): DurationPercentiles {
  const sorted = values.filter((v): v is number => typeof v === 'number').sort((a, b) => a - b);
  return { p50: nearestRank(sorted, 50), p95: nearestRank(sorted, 95) };
}
