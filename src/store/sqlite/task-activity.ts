import type { SqliteDatabase } from '../../sqlite/open-sqlite.js';
import { type OutcomeRow, targetActivity } from '../outcome-rows.js';
import type { TargetActivity } from '../task-stats.js';
import { rankedOutcomesSql } from './task-history.js';

/*
 * The live overview's numbers, without touching the finished history of the store: the
 * backlog is read off the (owner, state, id) / (state, id) indexes for the two unfinished
 * states, the window off the finished_at index (its owner and state terms carry a unary `+`,
 * see task-history.ts for why). Percentiles are nearest-rank, computed in SQL. The backlog groups
 * by the `target` expression, not the columns: grouped by columns, the planner would walk a
 * tenant's whole (owner, target, …) index to skip the sort, every row it owns (0.5 s at 1M rows,
 * bench/dashboard.ts), instead of the few unfinished ones.
 */

/** The statements, exported so that bench/dashboard.ts can print their query plans. */
export const activeSql = (owner: boolean) => `
  SELECT target_name || '@' || target_version AS target, state, COUNT(*) AS n
  FROM tasks WHERE state IN ('queued', 'running') ${owner ? 'AND owner = @owner' : ''}
  GROUP BY target, state`;

export const recentSql = (owner: boolean) =>
  rankedOutcomesSql({
    key: "target_name || '@' || target_version",
    as: 'target',
    where: 'finished_at >= @since',
    owner,
  });

export function activityStats(
  db: SqliteDatabase,
  filter: { owner?: string; since: number },
): TargetActivity[] {
  const owner = filter.owner !== undefined;
  const ownerParam = owner ? { owner: filter.owner } : {};
  const active = db.prepare(activeSql(owner)).all(ownerParam) as Array<{
    target: string;
    state: 'queued' | 'running';
    n: number;
  }>;
  const recent = db.prepare(recentSql(owner)).all({ since: filter.since, ...ownerParam }) as Array<
    OutcomeRow & { target: string }
  >;
  return targetActivity(active, recent);
}
