import { nearestRank as percentile } from '../../core/percentile.js';
import { type TaskState, taskStates } from '../../core/task-state.js';
import type { SqliteDatabase } from '../../sqlite/open-sqlite.js';
import type { LatencyStats, TargetStats, TaskStats } from '../task-store.js';

/** Latencies are computed from at most this many recent tasks per call: stats must stay cheap. */
const maxLatencyRows = 100_000;

/**
 * Counts group on the (owner|target, state) indexes; latencies read the finished_at index over
 * the recent window only, so the cost follows the window, not the size of the table. (The
 * unary `+` on owner keeps the planner off `tasks_owner_id`: an owner looks selective to it,
 * but one tenant may own a million rows, which it would then read and sort; measured at 1M
 * tasks by bench/dashboard.ts.)
 */
export function taskStats(db: SqliteDatabase, filter: { owner?: string; since: number }): TaskStats {
  const ownerTerm = filter.owner === undefined ? '' : 'AND owner = @owner';
  const params = { owner: filter.owner ?? null, since: filter.since, limit: maxLatencyRows };
  const counts = db
    .prepare(
      `SELECT target_name || '@' || target_version AS target, state, COUNT(*) AS n
       FROM tasks WHERE 1 = 1 ${ownerTerm} GROUP BY target, state`,
    )
    .all(params) as { target: string; state: TaskState; n: number }[];
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
      `SELECT target_name || '@' || target_version AS target, state, finished_at - created_at AS ms
       FROM tasks WHERE finished_at >= @since ${filter.owner === undefined ? '' : 'AND +owner = @owner'}
       ORDER BY finished_at DESC LIMIT @limit`,
    )
    .all(params) as { target: string; state: TaskState; ms: number }[];
  const windows = new Map<string, { finished: number; latencies: number[] }>();
  for (const row of finished) {
    let window = windows.get(row.target);
    if (window === undefined) {
      window = { finished: 0, latencies: [] };
      windows.set(row.target, window);
    }
    window.finished++;
    if (row.state === 'succeeded') window.latencies.push(row.ms);
  }
  const recent: LatencyStats[] = [...windows].map(([target, window]) => {
    const sorted = window.latencies.sort((a, b) => a - b);
    return {
      target,
      finished: window.finished,
      succeeded: sorted.length,
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
