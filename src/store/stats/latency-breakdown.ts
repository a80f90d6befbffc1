import { nearestRank } from '../../core/percentile.js';
import type { SqlDialect } from '../sql/sql-dialect.js';
import type { SqlDriver } from '../sql/sql-driver.js';
import type { DurationPercentiles, LatencyBreakdown } from '../task-stats.js';
import { byTarget } from './outcome-rows.js';

/** The latency breakdown reads at most this many recent tasks: it must stay cheap on a busy store. */
export const maxBreakdownRows = 50_000;

interface TimingRow {
  target: string;
  queue: number | null;
  batch_wait: number | null;
  compute: number | null;
  total: number;
  size: number | null;
}

/**
 * The newest {@link maxBreakdownRows} succeeded tasks finished since `@since` whose `succeeded`
 * entry carries run timings, with those timings; off the finished_at index (owner and state
 * `unindexed`). The ranking is done on the rows in JavaScript, on both databases: measured at a
 * 60,000-task window it is the cheaper way on each (SQLite's window functions took twice as
 * long, PostgreSQL's four percentile_disc sorts longer than sending the rows). Parameters:
 * `@since`, and `@owner` when `owner`.
 */
export const breakdownSql = (d: SqlDialect, owner: boolean) => `
  SELECT t.target_name || '@' || t.target_version AS target,
    ${d.jsonNumber('tl.data', 'queueWaitMs')} AS queue,
    ${d.jsonNumber('tl.data', 'batchWaitMs')} AS batch_wait,
    ${d.jsonNumber('tl.data', 'computeMs')} AS compute,
    t.finished_at - t.created_at AS total,
    ${d.jsonNumber('tl.data', 'batchSize')} AS size
  FROM tasks t JOIN task_timeline tl ON tl.task_id = t.id
  WHERE t.finished_at >= @since AND ${d.unindexed('t.state')} = 'succeeded'
    ${owner ? `AND ${d.unindexed('t.owner')} = @owner` : ''}
    AND tl.stage = 'succeeded' AND ${d.jsonNumber('tl.data', 'computeMs')} IS NOT NULL
  ORDER BY t.finished_at DESC LIMIT ${maxBreakdownRows}`;

/**
 * TaskStats.latencyBreakdown, sorted by target: per target, nearest-rank p50 and p95 of each
 * measure over the tasks that carry it, and items per run (count / Σ 1/batchSize over the tasks
 * that carry one).
 */
export async function latencyBreakdown(
  driver: SqlDriver,
  filter: { owner?: string; since: number },
): Promise<LatencyBreakdown[]> {
  const owner = filter.owner !== undefined;
  const rows = await driver.all<TimingRow>(breakdownSql(driver.dialect, owner), {
    since: filter.since,
    ...(owner ? { owner: filter.owner } : {}),
  });
  const targets = new Map<string, TimingRow[]>();
  for (const row of rows) {
    const list = targets.get(row.target);
    if (list === undefined) targets.set(row.target, [row]);
    else list.push(row);
  }
  return [...targets]
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
    })
    .sort(byTarget);
}

/** Nearest-rank p50 and p95 of the numbers among `values`. */
export function percentiles(values: ReadonlyArray<number | null>): DurationPercentiles {
  const sorted = values.filter((v): v is number => typeof v === 'number').sort((a, b) => a - b);
  return { p50: nearestRank(sorted, 50), p95: nearestRank(sorted, 95) };
}
