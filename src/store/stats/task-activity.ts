import type { SqlDialect } from '../sql/sql-dialect.js';
import type { SqlDriver } from '../sql/sql-driver.js';
import type { TargetActivity } from '../task-stats.js';
import { byTarget, noOutcomes, type OutcomeRow, outcomeFields } from './outcome-rows.js';
import { outcomesSql, targetRef } from './outcomes-sql.js';

/*
 * The live overview's numbers, without touching the finished history of the store: the
 * backlog is read off the (owner, state, id) / (state, id) indexes for the two unfinished
 * states, the window off the finished_at index (outcomes-sql.ts). The backlog groups by the
 * `target` expression, not the columns: grouped by columns, SQLite's planner would walk a
 * tenant's whole (owner, target, …) index to skip the sort, every row it owns (0.5 s at 1M rows,
 * bench/dashboard.ts), instead of the few unfinished ones.
 */

/** The backlog per target and unfinished state. Parameters: `@owner` when `owner`. */
export const activeSql = (owner: boolean) => `
  SELECT ${targetRef} AS target, state, COUNT(*) AS n
  FROM tasks WHERE state IN ('queued', 'running') ${owner ? 'AND owner = @owner' : ''}
  GROUP BY target, state`;

/** The window's outcomes per target. Parameters: `@since`, and `@owner` when `owner`. */
export const recentSql = (d: SqlDialect, owner: boolean) =>
  outcomesSql(d, { key: targetRef, as: 'target', where: 'finished_at >= @since', owner });

/** TaskStats.activityStats. */
export async function activityStats(
  driver: SqlDriver,
  filter: { owner?: string; since: number },
): Promise<TargetActivity[]> {
  const owner = filter.owner !== undefined;
  const ownerParam = owner ? { owner: filter.owner } : {};
  const active = await driver.all<{ target: string; state: 'queued' | 'running'; n: number }>(
    activeSql(owner),
    ownerParam,
  );
  const recent = await driver.all<OutcomeRow & { target: string }>(recentSql(driver.dialect, owner), {
    since: filter.since,
    ...ownerParam,
  });
  return targetActivity(active, recent);
}

/**
 * Per target, in target order: its backlog (`active`, a row per target and unfinished state) and
 * its window (`recent`, a row per target). A target absent from either has zeros and null
 * percentiles there.
 */
export function targetActivity(
  active: ReadonlyArray<{ target: string; state: 'queued' | 'running'; n: number }>,
  recent: ReadonlyArray<OutcomeRow & { target: string }>,
): TargetActivity[] {
  const targets = new Map<string, TargetActivity>();
  const entry = (target: string): TargetActivity => {
    let found = targets.get(target);
    if (found === undefined) {
      found = { target, queued: 0, running: 0, ...noOutcomes };
      targets.set(target, found);
    }
    return found;
  };
  for (const row of active) entry(row.target)[row.state] = row.n;
  for (const row of recent) Object.assign(entry(row.target), outcomeFields(row));
  return [...targets.values()].sort(byTarget);
}
