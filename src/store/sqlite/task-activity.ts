import type { SqliteDatabase } from '../../sqlite/open-sqlite.js';
import type { TargetActivity } from '../task-store.js';

/*
 * The live overview's numbers, without touching the finished history of the store: the
 * backlog is read off the (owner, state, id) / (state, id) indexes for the two unfinished
 * states, the window off the finished_at index (its owner and state terms carry a unary `+`,
 * see task-history.ts for why). Percentiles are nearest-rank, computed in SQL.
 */

/** The statements, exported so that bench/dashboard.ts can print their query plans. */
export const activeSql = (owner: boolean) => `
  SELECT target_name || '@' || target_version AS target, state, COUNT(*) AS n
  FROM tasks WHERE state IN ('queued', 'running') ${owner ? 'AND owner = @owner' : ''}
  GROUP BY target_name, target_version, state`;

export const recentSql = (owner: boolean) => `
  WITH w AS (
    SELECT target_name || '@' || target_version AS target, state, finished_at - created_at AS ms
    FROM tasks WHERE finished_at >= @since ${owner ? 'AND +owner = @owner' : ''}
  ), ranked AS (
    SELECT target, state, ms,
      ROW_NUMBER() OVER (PARTITION BY target, state = 'succeeded' ORDER BY ms) AS rn,
      COUNT(*) OVER (PARTITION BY target, state = 'succeeded') AS n
    FROM w
  )
  SELECT target, COUNT(*) AS finished,
    SUM(state = 'succeeded') AS succeeded, SUM(state = 'failed') AS failed,
    SUM(state = 'cancelled') AS cancelled,
    MAX(CASE WHEN state = 'succeeded' AND rn = (n * 50 + 99) / 100 THEN ms END) AS p50,
    MAX(CASE WHEN state = 'succeeded' AND rn = (n * 95 + 99) / 100 THEN ms END) AS p95,
    MAX(CASE WHEN state = 'succeeded' AND rn = (n * 99 + 99) / 100 THEN ms END) AS p99
  FROM ranked GROUP BY target`;

/** An empty activity row for `target`. */
export function emptyActivity(target: string): TargetActivity {
  return {
    target,
    queued: 0,
    running: 0,
    finished: 0,
    succeeded: 0,
    failed: 0,
    cancelled: 0,
    p50Ms: null,
    p95Ms: null,
    p99Ms: null,
  };
}

export function activityStats(
  db: SqliteDatabase,
  filter: { owner?: string; since: number },
): TargetActivity[] {
  const owner = filter.owner !== undefined;
  const ownerParam = owner ? { owner: filter.owner } : {};
  const byTarget = new Map<string, TargetActivity>();
  const entry = (target: string): TargetActivity => {
    const found = byTarget.get(target);
    if (found !== undefined) return found;
    const created = emptyActivity(target);
    byTarget.set(target, created);
    return created;
  };
  const active = db.prepare(activeSql(owner)).all(ownerParam) as Array<{
    target: string;
    state: 'queued' | 'running';
    n: number;
  }>;
  for (const row of active) entry(row.target)[row.state] = row.n;
  const recent = db.prepare(recentSql(owner)).all({ since: filter.since, ...ownerParam }) as Array<{
    target: string;
    finished: number;
    succeeded: number;
    failed: number;
    cancelled: number;
    p50: number | null;
    p95: number | null;
    p99: number | null;
  }>;
  for (const row of recent) {
    Object.assign(entry(row.target), {
      finished: row.finished,
      succeeded: row.succeeded,
      failed: row.failed,
      cancelled: row.cancelled,
      p50Ms: row.p50,
      p95Ms: row.p95,
      p99Ms: row.p99,
    });
  }
  return [...byTarget.values()].sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
}
