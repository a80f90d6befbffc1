import type { TaskState } from '../core/task-state.js';

export interface TargetStats {
  /** `name@version`. */
  target: string;
  counts: Record<TaskState, number>;
}

export interface LatencyStats {
  target: string;
  /** Tasks that finished in the window. */
  finished: number;
  /** Succeeded tasks, cache hits included. */
  succeeded: number;
  /** Succeeded tasks served from the result cache (see `cacheHit` in task-rows.ts). */
  cacheHits: number;
  /** created → finished, in ms, over the succeeded tasks of the window a worker ran (not cache hits). */
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
}

export interface StatsSummary {
  byTarget: TargetStats[];
  /** Over tasks finished at or after `since`. */
  recent: LatencyStats[];
}

/** The tasks of a group (a target's window, a time bucket) that finished, and how. */
export interface FinishedOutcomes {
  finished: number;
  /** Succeeded tasks, cache hits included. */
  succeeded: number;
  failed: number;
  cancelled: number;
  /** Succeeded tasks served from the result cache (see `cacheHit` in task-rows.ts). */
  cacheHits: number;
  /**
   * created → finished, nearest-rank percentiles over the group's succeeded tasks that a worker
   * ran: cache hits are left out (`latencySample` in task-rows.ts).
   */
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

/**
 * One target's live activity: its backlog now, and what finished in a recent window. Unlike
 * {@link StatsSummary} (all-time counts, a scan of every task of the owner) it reads only the
 * unfinished tasks and the window, so it stays cheap however many tasks the store keeps.
 * A target's backlog now, and the tasks that finished at or after `since`.
 */
export interface TargetActivity extends FinishedOutcomes {
  /** `name@version`. */
  target: string;
  /** Tasks queued now. */
  queued: number;
  /** Tasks running now. */
  running: number;
}

/** Which tasks {@link TaskStats.taskHistory} aggregates, and how. */
export interface HistoryRequest {
  owner?: string;
  /** Tasks finished at or after (ms since epoch); the first bucket starts here. */
  from: number;
  /** Tasks finished before (ms since epoch). */
  to: number;
  /** Width of one bucket, ms (≥ 1). */
  bucketMs: number;
}

/** The tasks that finished in one time bucket. */
export interface HistoryBucket extends FinishedOutcomes {
  /** `from + k × bucketMs`. */
  start: number;
  /**
   * Items per model run, averaged over runs: of the succeeded tasks whose `succeeded` timeline
   * entry carries `batchSize` (written by the worker), count / Σ(1 / batchSize). Null when none.
   */
  batchSize: number | null;
}

/** p50 and p95 (nearest rank) of one duration, ms; null when no task had it. */
export interface DurationPercentiles {
  p50: number | null;
  p95: number | null;
}

/**
 * Where one target's time went, over the succeeded tasks of a window that a model worker ran
 * (the timings of their `succeeded` timeline entry; cached results and pipeline tasks have none).
 */
export interface LatencyBreakdown {
  /** `name@version`. */
  target: string;
  /** Tasks the figures are computed from. */
  tasks: number;
  /** Enqueued → its batch started. */
  queueWaitMs: DurationPercentiles;
  /** Batch started → its model run started (input reads, batch-mates' runs). */
  batchWaitMs: DurationPercentiles;
  /** The model run of its batch. */
  computeMs: DurationPercentiles;
  /** created → finished. */
  totalMs: DurationPercentiles;
  /** Items per model run, averaged over runs (see {@link HistoryBucket.batchSize}). */
  batchSize: number | null;
}

/**
 * The stats of the dashboard and `/v1/stats*`: counts, the live activity, the history and where
 * the time went. Read-only over the tasks and their timelines; written once over the SQL driver
 * (store/stats/).
 */
export interface TaskStats {
  /** Counts by target and state (for `owner`, or all), and latencies of tasks finished since `since`. */
  taskStats(filter: { owner?: string; since: number }): Promise<StatsSummary>;
  /**
   * Per target: queued and running tasks now, and the tasks finished at or after `since` (of
   * `owner`, or all), sorted by target. Cost follows the backlog and the window, not the store.
   */
  activityStats(filter: { owner?: string; since: number }): Promise<TargetActivity[]>;
  /**
   * Tasks finished in [from, to) (of `owner`, or all), grouped into buckets of `bucketMs` from
   * `from`: only buckets with a task, oldest first. Reads the finished_at range only, so its cost
   * follows the window, not the size of the store.
   */
  taskHistory(request: HistoryRequest): Promise<HistoryBucket[]>;
  /**
   * Queue wait, batch wait and compute per target over the succeeded tasks finished at or after
   * `since` that carry run timings, sorted by target.
   */
  latencyBreakdown(filter: { owner?: string; since: number }): Promise<LatencyBreakdown[]>;
}
