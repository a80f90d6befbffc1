import { maxBreakdownRows, type OutcomeRow, outcomeFields, targetActivity } from '../outcome-rows.js';
import { cacheHit, latencySample, notTransformStep } from '../task-rows.js';
import type {
  DurationPercentiles,
  HistoryBucket,
  HistoryRequest,
  LatencyBreakdown,
  TargetActivity,
} from '../task-stats.js';
import type { Queryable } from './pg-task-sql.js';

/*
 * The PostgreSQL side of the dashboard's history, overview and latency breakdown. Their windows
 * read the `tasks_finished_at` index range; percentile_disc picks the same element as the
 * SQLite store's nearest-rank percentile (the ⌈p·n⌉-th smallest). Timeline data is TEXT (see
 * task-migrations.ts), cast to json only for the `succeeded` entries of the window's tasks.
 */

const ms = 'finished_at - created_at';
const percentile = (p: number, column: string) => `percentile_disc(${p}) WITHIN GROUP (ORDER BY ${column})`;
const pct = (p: number) => `${percentile(p, ms)} FILTER (WHERE ${latencySample})`;

/**
 * Per group (`key`, named `as`, grouped by `groupBy`) of the tasks that finished in `where` (a
 * finished_at range and the owner term): counts by outcome and cache hits, and p50/p95/p99 of
 * created → finished over the succeeded ones a worker ran (`latencySample`). The history and the overview's window both run it; the SQLite store's
 * twin is `rankedOutcomesSql` (sqlite/task-history.ts).
 */
const outcomesSql = (o: { key: string; as: string; where: string; groupBy: string; ordered?: boolean }) =>
  `SELECT ${o.key} AS ${o.as}, COUNT(*) AS finished,
     COUNT(*) FILTER (WHERE state = 'succeeded') AS succeeded,
     COUNT(*) FILTER (WHERE state = 'failed') AS failed,
     COUNT(*) FILTER (WHERE state = 'cancelled') AS cancelled,
     COUNT(*) FILTER (WHERE ${cacheHit}) AS "cacheHits",
     ${pct(0.5)} AS p50, ${pct(0.95)} AS p95, ${pct(0.99)} AS p99
   FROM tasks WHERE ${o.where} AND ${notTransformStep}
   GROUP BY ${o.groupBy}${o.ordered === true ? ` ORDER BY ${o.as}` : ''}`;

export async function taskHistory(q: Queryable, request: HistoryRequest): Promise<HistoryBucket[]> {
  const bucketMs = Math.max(1, Math.floor(request.bucketMs));
  const values: unknown[] = [request.from, request.to, bucketMs];
  if (request.owner !== undefined) values.push(request.owner);
  const ownerTerm = request.owner === undefined ? '' : 'AND owner = $4';
  const buckets = await q.query<OutcomeRow & { b: number }>(
    outcomesSql({
      key: '(finished_at - $1) / $3',
      as: 'b',
      where: `finished_at >= $1 AND finished_at < $2 ${ownerTerm}`,
      groupBy: 'b',
      ordered: true,
    }),
    values,
  );
  const batches = await q.query<{ b: number; batch: number }>(
    `SELECT (t.finished_at - $1) / $3 AS b,
       COUNT(*) / SUM(1.0::float8 / (tl.data::json ->> 'batchSize')::float8) AS batch
     FROM tasks t JOIN task_timeline tl ON tl.task_id = t.id
     WHERE t.finished_at >= $1 AND t.finished_at < $2 AND t.state = 'succeeded'
       ${request.owner === undefined ? '' : 'AND t.owner = $4'}
       AND tl.stage = 'succeeded' AND (tl.data::json ->> 'batchSize')::float8 > 0
     GROUP BY b`,
    values,
  );
  const batchOf = new Map(batches.rows.map((r) => [Number(r.b), r.batch]));
  return buckets.rows.map((row) => ({
    start: request.from + Number(row.b) * bucketMs,
    ...outcomeFields(row),
    batchSize: batchOf.get(Number(row.b)) ?? null,
  }));
}

const p50p95 = (column: string) =>
  `${percentile(0.5, column)} AS ${column}_p50, ${percentile(0.95, column)} AS ${column}_p95`;

export async function latencyBreakdown(
  q: Queryable,
  filter: { owner?: string; since: number },
): Promise<LatencyBreakdown[]> {
  const values: unknown[] = [filter.since];
  if (filter.owner !== undefined) values.push(filter.owner);
  const { rows } = await q.query<Record<string, number | null> & { target: string; tasks: number }>(
    `WITH recent AS (
       SELECT t.target_name || '@' || t.target_version AS target, tl.data::json AS d, ${ms} AS total
       FROM tasks t JOIN task_timeline tl ON tl.task_id = t.id
       WHERE t.finished_at >= $1 AND t.state = 'succeeded'
         ${filter.owner === undefined ? '' : 'AND t.owner = $2'}
         AND tl.stage = 'succeeded' AND tl.data::json ->> 'computeMs' IS NOT NULL
       ORDER BY t.finished_at DESC LIMIT ${maxBreakdownRows}
     ), timings AS (
       SELECT target, total, (d ->> 'queueWaitMs')::float8 AS queue,
         (d ->> 'batchWaitMs')::float8 AS batch_wait, (d ->> 'computeMs')::float8 AS compute,
         (d ->> 'batchSize')::float8 AS size
       FROM recent
     )
     SELECT target, COUNT(*) AS tasks, ${p50p95('queue')}, ${p50p95('batch_wait')},
       ${p50p95('compute')}, ${p50p95('total')},
       COUNT(size) FILTER (WHERE size > 0) / SUM(1.0::float8 / size) FILTER (WHERE size > 0) AS batch
     FROM timings GROUP BY target`,
    values,
  );
  const pair = (row: Record<string, number | null>, column: string): DurationPercentiles => ({
    p50: row[`${column}_p50`] ?? null,
    p95: row[`${column}_p95`] ?? null,
  });
  return rows
    .map((row) => ({
      target: row.target,
      tasks: row.tasks,
      queueWaitMs: pair(row, 'queue'),
      batchWaitMs: pair(row, 'batch_wait'),
      computeMs: pair(row, 'compute'),
      totalMs: pair(row, 'total'),
      batchSize: row.batch ?? null,
    }))
    .sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
}

/** Per target: the backlog now (the state indexes) and the window (the finished_at index). */
export async function activityStats(
  q: Queryable,
  filter: { owner?: string; since: number },
): Promise<TargetActivity[]> {
  const ownerValue = filter.owner === undefined ? [] : [filter.owner];
  const active = await q.query<{ target: string; state: 'queued' | 'running'; n: number }>(
    `SELECT target_name || '@' || target_version AS target, state, COUNT(*) AS n
     FROM tasks WHERE state IN ('queued', 'running') ${filter.owner === undefined ? '' : 'AND owner = $1'}
     GROUP BY target_name, target_version, state`,
    ownerValue,
  );
  const recent = await q.query<OutcomeRow & { target: string }>(
    outcomesSql({
      key: "target_name || '@' || target_version",
      as: 'target',
      where: `finished_at >= $1 ${filter.owner === undefined ? '' : 'AND owner = $2'}`,
      groupBy: 'target_name, target_version',
    }),
    [filter.since, ...ownerValue],
  );
  return targetActivity(active.rows, recent.rows);
}
