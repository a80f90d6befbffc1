import type { SqlDialect } from '../sql/sql-dialect.js';
import type { SqlDriver } from '../sql/sql-driver.js';
import type { DurationPercentiles, LatencyBreakdown } from '../task-stats.js';
import { byTarget } from './outcome-rows.js';

/** The latency breakdown reads at most this many recent tasks: it must stay cheap on a busy store. */
export const maxBreakdownRows = 50_000;

/** The timings of a `succeeded` entry the breakdown ranks, as the worker writes them (ms). */
const durations = [
  ['queue', 'queueWaitMs'],
  ['batch_wait', 'batchWaitMs'],
  ['compute', 'computeMs'],
] as const;

/** The ranked columns: the entry's timings, and created → finished. */
const measures = [...durations.map(([column]) => column), 'total'] as const;
type Measure = (typeof measures)[number];

/**
 * Per target, over the newest {@link maxBreakdownRows} succeeded tasks finished since `@since`
 * whose `succeeded` entry carries run timings: nearest-rank p50 and p95 of each measure (rank
 * ⌈p·n⌉ over its non-null values, NULLs ranked last, as in outcomes-sql.ts), and items per run
 * (count / Σ 1/batchSize over the tasks that carry one). The window reads the finished_at index
 * (owner and state `unindexed`). Parameters: `@since`, and `@owner` when `owner`.
 */
export const breakdownSql = (d: SqlDialect, owner: boolean) => `
  WITH recent AS (
    SELECT t.target_name || '@' || t.target_version AS target,
      ${durations.map(([column, key]) => `${d.jsonNumber('tl.data', key)} AS ${column}`).join(', ')},
      t.finished_at - t.created_at AS total,
      ${d.jsonNumber('tl.data', 'batchSize')} AS size
    FROM tasks t JOIN task_timeline tl ON tl.task_id = t.id
    WHERE t.finished_at >= @since AND ${d.unindexed('t.state')} = 'succeeded'
      ${owner ? `AND ${d.unindexed('t.owner')} = @owner` : ''}
      AND tl.stage = 'succeeded' AND ${d.jsonNumber('tl.data', 'computeMs')} IS NOT NULL
    ORDER BY t.finished_at DESC LIMIT ${maxBreakdownRows}
  ), ranked AS (
    SELECT target, size, ${measures.join(', ')},
      ${measures
        .map(
          (m) => `ROW_NUMBER() OVER (PARTITION BY target ORDER BY ${m} IS NULL, ${m}) AS ${m}_rn,
      COUNT(${m}) OVER (PARTITION BY target) AS ${m}_n`,
        )
        .join(',\n      ')}
    FROM recent
  )
  SELECT target, COUNT(*) AS tasks,
    ${measures
      .flatMap((m) =>
        [50, 95].map(
          (p) => `MAX(CASE WHEN ${m}_rn = (${m}_n * ${p} + 99) / 100 THEN ${m} END) AS ${m}_p${p}`,
        ),
      )
      .join(',\n    ')},
    COUNT(size) FILTER (WHERE size > 0) / SUM(1.0 / size) FILTER (WHERE size > 0) AS batch
  FROM ranked GROUP BY target`;

type BreakdownRow = { target: string; tasks: number; batch: number | null } & Record<
  `${Measure}_p${50 | 95}`,
  number | null
>;

/** TaskStats.latencyBreakdown, sorted by target. */
export async function latencyBreakdown(
  driver: SqlDriver,
  filter: { owner?: string; since: number },
): Promise<LatencyBreakdown[]> {
  const owner = filter.owner !== undefined;
  const rows = await driver.all<BreakdownRow>(breakdownSql(driver.dialect, owner), {
    since: filter.since,
    ...(owner ? { owner: filter.owner } : {}),
  });
  const pair = (row: BreakdownRow, m: Measure): DurationPercentiles => ({
    p50: row[`${m}_p50`] ?? null,
    p95: row[`${m}_p95`] ?? null,
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
    .sort(byTarget);
}
