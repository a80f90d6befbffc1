import type { FinishedOutcomes, TargetActivity } from './task-stats.js';

/** The latency breakdown reads at most this many recent tasks: it must stay cheap on a busy store. */
export const maxBreakdownRows = 50_000;

/**
 * One row of an outcomes query (`rankedOutcomesSql` in sqlite/task-history.ts, `outcomesSql` in
 * postgres/pg-task-history.ts): the tasks of a group that finished, by outcome, and the
 * nearest-rank created → finished percentiles of its succeeded ones a worker ran, and its cache hits.
 */
export interface OutcomeRow {
  finished: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  cacheHits: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/** The row's figures under the names of {@link FinishedOutcomes}. */
export function outcomeFields(row: OutcomeRow): FinishedOutcomes {
  return {
    finished: row.finished,
    succeeded: row.succeeded,
    failed: row.failed,
    cancelled: row.cancelled,
    cacheHits: row.cacheHits,
    p50Ms: row.p50,
    p95Ms: row.p95,
    p99Ms: row.p99,
  };
}

const noOutcomes: FinishedOutcomes = Object.freeze({
  finished: 0,
  succeeded: 0,
  failed: 0,
  cancelled: 0,
  cacheHits: 0,
  p50Ms: null,
  p95Ms: null,
  p99Ms: null,
});

/**
 * Per target, in target order: its backlog (`active`, a row per target and unfinished state) and
 * its window (`recent`, a row per target). A target absent from either has zeros and null
 * percentiles there.
 */
export function targetActivity(
  active: ReadonlyArray<{ target: string; state: 'queued' | 'running'; n: number }>,
  recent: ReadonlyArray<OutcomeRow & { target: string }>,
): TargetActivity[] {
  const byTarget = new Map<string, TargetActivity>();
  const entry = (target: string): TargetActivity => {
    let found = byTarget.get(target);
    if (found === undefined) {
      found = { target, queued: 0, running: 0, ...noOutcomes };
      byTarget.set(target, found);
    }
    return found;
  };
  for (const row of active) entry(row.target)[row.state] = row.n;
  for (const row of recent) Object.assign(entry(row.target), outcomeFields(row));
  return [...byTarget.values()].sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
}
