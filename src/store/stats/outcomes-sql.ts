import type { SqlDialect } from '../sql/sql-dialect.js';
import { cacheHit, latencySample, notTransformStep } from '../task-rows.js';

/** A task's target as the stats name it: `name@version`. */
export const targetRef = "target_name || '@' || target_version";

/**
 * Per group (`key`, named `as`) of the tasks that finished in `where` (a finished_at range; of
 * `@owner` when `owner`): counts by outcome and cache hits, and the nearest-rank percentiles of
 * created → finished over the succeeded ones a worker ran (`latencySample`: cache hits left out),
 * one column `p<N>` per entry of `percentiles`. The history, the overview's window and the
 * summary's recent latencies all run it, on SQLite and PostgreSQL alike.
 *
 * The rank ⌈p·n⌉ is written (n·p + 99) / 100 in integer arithmetic over ROW_NUMBER: one row per
 * group comes back, and both databases pick the same element (SQLite's percentile_disc does not:
 * it takes the element at p·(n − 1)). The window reads the `tasks_finished_at` index range and
 * nothing else of the table's indexes: the owner term is `unindexed`, since an equality on one
 * owner looks selective to SQLite's planner, but one tenant may own every row of a million-task
 * store. `newest` bounds the rows read to the window's newest N (stats must stay cheap).
 *
 * Parameters: those of `where`, and `@owner` when `owner`.
 */
export function outcomesSql(
  d: SqlDialect,
  o: {
    key: string;
    as: string;
    where: string;
    owner: boolean;
    percentiles?: readonly number[];
    newest?: number;
    ordered?: boolean;
  },
): string {
  const percentiles = (o.percentiles ?? [50, 95, 99]).map(
    (p) => `MAX(CASE WHEN sample AND rn = (n * ${p} + 99) / 100 THEN ms END) AS p${p}`,
  );
  return `
  WITH w AS (
    SELECT ${o.key} AS ${o.as}, state, ${cacheHit} AS hit, ${latencySample} AS sample,
      finished_at - created_at AS ms
    FROM tasks
    WHERE ${o.where} AND ${notTransformStep} ${o.owner ? `AND ${d.unindexed('owner')} = @owner` : ''}
    ${o.newest === undefined ? '' : `ORDER BY finished_at DESC LIMIT ${o.newest}`}
  ), ranked AS (
    SELECT ${o.as}, state, hit, sample, ms,
      ROW_NUMBER() OVER (PARTITION BY ${o.as}, sample ORDER BY ms) AS rn,
      COUNT(*) OVER (PARTITION BY ${o.as}, sample) AS n
    FROM w
  )
  SELECT ${o.as}, COUNT(*) AS finished,
    COUNT(*) FILTER (WHERE state = 'succeeded') AS succeeded,
    COUNT(*) FILTER (WHERE state = 'failed') AS failed,
    COUNT(*) FILTER (WHERE state = 'cancelled') AS cancelled,
    COUNT(*) FILTER (WHERE hit) AS "cacheHits",
    ${percentiles.join(',\n    ')}
  FROM ranked GROUP BY ${o.as}${o.ordered === true ? ` ORDER BY ${o.as}` : ''}`;
}
