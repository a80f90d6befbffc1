import type { FinishedOutcomes } from '../task-stats.js';

/**
 * One row of {@link outcomesSql} (outcomes-sql.ts): the tasks of a group that finished, by
 * outcome, its cache hits, and the nearest-rank created → finished percentiles of its succeeded
 * ones a worker ran.
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

/** A group with no finished task. */
export const noOutcomes: FinishedOutcomes = Object.freeze({
  finished: 0,
  succeeded: 0,
  failed: 0,
  cancelled: 0,
  cacheHits: 0,
  p50Ms: null,
  p95Ms: null,
  p99Ms: null,
});

/** Binary order of target refs (`name@version`), the same whatever the database's collation. */
export const byTarget = (a: { target: string }, b: { target: string }): number =>
  a.target < b.target ? -1 : a.target > b.target ? 1 : 0;
