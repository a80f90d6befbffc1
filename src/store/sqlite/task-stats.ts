import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { nearestRank as percentile } from '../../core/percentile.js';
import { type TaskState, taskStates } from '../../core/task-state.js';
import type { SqliteDatabase } from '../../sqlite/open-sqlite.js';
import { cacheHit, latencySample, notTransformStep } from '../task-rows.js';
import type { LatencyStats, StatsSummary, TargetStats } from '../task-stats.js';

/** Latencies are computed from at most this many recent tasks per call: stats must stay cheap. */
const maxLatencyRows = 100_000;

/**
 * All-time counts read every task of the tenant (all tasks, for an admin): 0.57 s at 1M tasks,
 * which on the API's event loop held every other request that long. They are read in id ranges
 * of this many tasks (about 10 ms each), yielding to the event loop between ranges.
 */
export const countChunkRows = 20_000;

/**
 * Counts read every task of the scope in id ranges ({@link countByTargetAndState}); latencies
 * read the finished_at index over the recent window only, so their cost follows the window, not
 * the size of the table. (The
 * unary `+` on owner keeps the planner off `tasks_owner_id`: an owner looks selective to it,
 * but one tenant may own a million rows, which it would then read and sort; measured at 1M
 * tasks by bench/dashboard.ts.)
 */
export async function taskStats(
  db: SqliteDatabase,
  filter: { owner?: string; since: number },
): Promise<StatsSummary> {
  const params = { owner: filter.owner ?? null, since: filter.since, limit: maxLatencyRows };
  const counts = await countByTargetAndState(db, filter.owner);
  const byTarget = new Map<string, TargetStats>();
  for (const row of counts) {
    let entry = byTarget.get(row.target);
    if (entry === undefined) {
      entry = {
        target: row.target,
        counts: Object.fromEntries(taskStates.map((s) => [s, 0])) as Record<TaskState, number>,
      };
      byTarget.set(row.target, entry);
    }
    entry.counts[row.state] = row.n;
  }

  const finished = db
    .prepare(
      `SELECT target_name || '@' || target_version AS target, state, ${cacheHit} AS hit,
         ${latencySample} AS sample, finished_at - created_at AS ms
       FROM tasks WHERE finished_at >= @since AND ${notTransformStep}
         ${filter.owner === undefined ? '' : 'AND +owner = @owner'}
       ORDER BY finished_at DESC LIMIT @limit`,
    )
    .all(params) as { target: string; state: TaskState; hit: 0 | 1; sample: 0 | 1; ms: number }[];
  const windows = new Map<
    string,
    { finished: number; succeeded: number; cacheHits: number; latencies: number[] }
  >();
  for (const row of finished) {
    let window = windows.get(row.target);
    if (window === undefined) {
      window = { finished: 0, succeeded: 0, cacheHits: 0, latencies: [] };
      windows.set(row.target, window);
    }
    window.finished++;
    if (row.state === 'succeeded') window.succeeded++;
    window.cacheHits += row.hit;
    if (row.sample === 1) window.latencies.push(row.ms);
  }
  const recent: LatencyStats[] = [...windows].map(([target, window]) => {
    const sorted = window.latencies.sort((a, b) => a - b);
    return {
      target,
      finished: window.finished,
      succeeded: window.succeeded,
      cacheHits: window.cacheHits,
      p50Ms: percentile(sorted, 50),
      p90Ms: percentile(sorted, 90),
      p99Ms: percentile(sorted, 99),
    };
  });
  return {
    byTarget: [...byTarget.values()].sort((a, b) => a.target.localeCompare(b.target)),
    recent: recent.sort((a, b) => a.target.localeCompare(b.target)),
  };
}

/** One range of {@link countByTargetAndState}: the newest `@chunk` tasks (of `@owner`) below `@before`. */
export function countRangeSql(byOwner: boolean, bounded: boolean): string {
  const terms = [
    ...(byOwner ? ['owner = @owner'] : []),
    ...(bounded ? ['id < @before'] : []),
    notTransformStep,
  ];
  return `SELECT target, state, COUNT(*) AS n, MIN(id) AS low FROM (
      SELECT id, target_name || '@' || target_version AS target, state FROM tasks
      WHERE ${terms.join(' AND ')}
      ORDER BY id DESC LIMIT @chunk
    ) GROUP BY target, state`;
}

/**
 * Counts by target and state, newest tasks first in ranges of {@link countChunkRows} ids, each
 * range one short statement (on `(owner, id)`, or the primary key for every tenant) and a yield
 * to the event loop after it. Every task is counted once, in the state it had when its range was
 * read; tasks created after the first range are not counted.
 */
export async function countByTargetAndState(
  db: SqliteDatabase,
  owner: string | undefined,
  chunkRows = countChunkRows,
): Promise<Array<{ target: string; state: TaskState; n: number }>> {
  const first = db.prepare(countRangeSql(owner !== undefined, false));
  const next = db.prepare(countRangeSql(owner !== undefined, true));
  const totals = new Map<string, { target: string; state: TaskState; n: number }>();
  let before: string | undefined;
  for (;;) {
    const statement = before === undefined ? first : next;
    const rows = statement.all({
      ...(owner === undefined ? {} : { owner }),
      ...(before === undefined ? {} : { before }),
      chunk: chunkRows,
    }) as Array<{
      target: string;
      state: TaskState;
      n: number;
      low: string;
    }>;
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
