import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { type TaskState, taskStates } from '../../core/task-state.js';
import type { SqlDialect } from '../sql/sql-dialect.js';
import type { SqlDriver } from '../sql/sql-driver.js';
import { notTransformStep } from '../task-rows.js';
import type { LatencyStats, StatsSummary, TargetStats } from '../task-stats.js';
import { outcomesSql, targetRef } from './outcomes-sql.js';

/** Latencies are computed from at most this many recent tasks per call: stats must stay cheap. */
export const maxLatencyRows = 100_000;

/**
 * All-time counts read every task of the tenant (all tasks, for an admin): 0.57 s at 1M tasks on
 * SQLite, which on the API's event loop (better-sqlite3 is synchronous) held every other request
 * that long. They are read in id ranges of this many tasks (about 10 ms each), yielding to the
 * event loop between ranges.
 */
export const countChunkRows = 20_000;

/** The recent window's latencies per target. Parameters: `@since`, and `@owner` when `owner`. */
export const summaryRecentSql = (d: SqlDialect, owner: boolean) =>
  outcomesSql(d, {
    key: targetRef,
    as: 'target',
    where: 'finished_at >= @since',
    owner,
    percentiles: [50, 90, 99],
    newest: maxLatencyRows,
  });

/**
 * TaskStats.taskStats: counts by target and state in id ranges ({@link countByTargetAndState}),
 * and the latencies of the newest {@link maxLatencyRows} tasks finished since `since`, read off
 * the finished_at index.
 */
export async function taskStats(
  driver: SqlDriver,
  filter: { owner?: string; since: number },
): Promise<StatsSummary> {
  const owner = filter.owner !== undefined;
  const targets = new Map<string, TargetStats>();
  for (const row of await countByTargetAndState(driver, filter.owner)) {
    let entry = targets.get(row.target);
    if (entry === undefined) {
      entry = {
        target: row.target,
        counts: Object.fromEntries(taskStates.map((s) => [s, 0])) as Record<TaskState, number>,
      };
      targets.set(row.target, entry);
    }
    entry.counts[row.state] = row.n;
  }
  const rows = await driver.all<{
    target: string;
    finished: number;
    succeeded: number;
    cacheHits: number;
    p50: number | null;
    p90: number | null;
    p99: number | null;
  }>(summaryRecentSql(driver.dialect, owner), {
    since: filter.since,
    ...(owner ? { owner: filter.owner } : {}),
  });
  const recent: LatencyStats[] = rows.map((row) => ({
    target: row.target,
    finished: row.finished,
    succeeded: row.succeeded,
    cacheHits: row.cacheHits,
    p50Ms: row.p50,
    p90Ms: row.p90,
    p99Ms: row.p99,
  }));
  const inLocaleOrder = (a: { target: string }, b: { target: string }) => a.target.localeCompare(b.target);
  return { byTarget: [...targets.values()].sort(inLocaleOrder), recent: recent.sort(inLocaleOrder) };
}

/**
 * One range of {@link countByTargetAndState}: the newest `@chunk` tasks (of `@owner`) below
 * `@before`, on `(owner, id)` or the primary key, read in index order (only the GROUP BY sorts).
 * Parameters: `@chunk`, `@owner` when `byOwner`, `@before` when `bounded`.
 */
export function countRangeSql(byOwner: boolean, bounded: boolean): string {
  const terms = [
    ...(byOwner ? ['owner = @owner'] : []),
    ...(bounded ? ['id < @before'] : []),
    notTransformStep,
  ];
  return `SELECT target, state, COUNT(*) AS n, MIN(id) AS low FROM (
      SELECT id, ${targetRef} AS target, state FROM tasks
      WHERE ${terms.join(' AND ')}
      ORDER BY id DESC LIMIT @chunk
    ) AS r GROUP BY target, state`;
}

/**
 * Counts by target and state, newest tasks first in ranges of `chunkRows` ids, each range one
 * short statement and a yield to the event loop after it. Every task is counted once, in the
 * state it had when its range was read; tasks created after the first range are not counted.
 */
export async function countByTargetAndState(
  driver: SqlDriver,
  owner: string | undefined,
  chunkRows = countChunkRows,
): Promise<Array<{ target: string; state: TaskState; n: number }>> {
  const first = countRangeSql(owner !== undefined, false);
  const next = countRangeSql(owner !== undefined, true);
  const totals = new Map<string, { target: string; state: TaskState; n: number }>();
  let before: string | undefined;
  for (;;) {
    const rows = await driver.all<{ target: string; state: TaskState; n: number; low: string }>(
      before === undefined ? first : next,
      {
        ...(owner === undefined ? {} : { owner }),
        ...(before === undefined ? {} : { before }),
        chunk: chunkRows,
      },
    );
    let read = 0;
    for (const row of rows) {
      read += row.n;
      if (before === undefined || row.low < before) before = row.low;
      const key = `${row.target}\u0000${row.state}`;
      const total = totals.get(key);
      if (total === undefined) totals.set(key, { target: row.target, state: row.state, n: row.n });
      else total.n += row.n;
    }
    if (read < chunkRows) return [...totals.values()];
    await yieldToEventLoop();
  }
}
