import type {
  NewTask,
  ResultCacheKey,
  Task,
  TaskError,
  TaskWithTimeline,
  TimelineEntry,
} from '../core/task.js';
import type { TaskState } from '../core/task-state.js';

/** Filters for listing tasks; every field narrows the result (AND). */
export interface TaskFilter {
  owner?: string;
  state?: TaskState | readonly TaskState[];
  /** `name@version`, or a bare `name` for every version. */
  target?: string;
  requestId?: string;
  inputSha256?: string;
  /** Created at or after (ms since epoch). */
  createdFrom?: number;
  /** Created before (ms since epoch). */
  createdTo?: number;
}

export interface PageRequest {
  /** 1..1000, default 50. */
  limit?: number;
  /** Opaque cursor from a previous page's `nextCursor`. */
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  /** Present when more items follow. */
  nextCursor?: string;
}

/** Outcome of trying to start (lease) a task in the store. */
export type ClaimResult =
  | { claimed: true; task: Task }
  /** The task is final (done by someone else, or cancelled) or missing: ack the job and move on. */
  | { claimed: false; task: Task | undefined };

export interface ClaimRequest {
  /** The broker lease token: it fences every later write of this attempt. */
  leaseToken: string;
  workerId: string;
  at?: number;
}

export interface CompleteRequest {
  leaseToken: string;
  result: unknown;
  at?: number;
  /** Extra timeline data for the `finished` entry (timings, batch size…). */
  timing?: Record<string, unknown>;
}

export interface FailRequest {
  leaseToken: string;
  error: TaskError;
  /** true: back to `queued` for another attempt; false: final `failed`. */
  retry: boolean;
  at?: number;
}

export interface RetentionResult {
  deletedTasks: number;
}

/**
 * Durable task state. Every transition is a conditional update (current state, and the lease
 * token where a worker acts), so a late or duplicate worker can never overwrite a newer
 * outcome: the method returns false/undefined instead.
 */
export interface TaskStore {
  readonly kind: string;

  /** Creates all tasks in one transaction (all or none). Tasks with `cachedResult` start `succeeded`. */
  createTasks(tasks: readonly NewTask[]): Promise<Task[]>;
  getTask(id: string): Promise<TaskWithTimeline | undefined>;
  /** Newest first (by id, which is time-ordered). */
  listTasks(filter: TaskFilter, page?: PageRequest): Promise<Page<Task>>;
  countTasks(filter: TaskFilter): Promise<Record<TaskState, number>>;

  /**
   * queued → running under `leaseToken`, attempts + 1. A task still `running` under another
   * token is taken over (its lease expired and the broker delivered the job again): the
   * timeline records `lease-expired` then `running`.
   */
  claimTask(id: string, request: ClaimRequest): Promise<ClaimResult>;
  /** running(leaseToken) → succeeded. False when the token is stale or the task is not running. */
  completeTask(id: string, request: CompleteRequest): Promise<boolean>;
  /** running(leaseToken) → queued (retry) or failed. False when stale. */
  failTask(id: string, request: FailRequest): Promise<boolean>;
  /** queued | running → cancelled. Returns the cancelled task, or undefined if it was not cancellable. */
  cancelTask(id: string, at?: number): Promise<Task | undefined>;
  /** running(leaseToken) → queued with no attempt charged, e.g. a draining worker giving work back. */
  releaseTask(id: string, leaseToken: string, reason: string): Promise<boolean>;
  /** Appends stage entries to a task's timeline. */
  appendTimeline(id: string, entries: readonly TimelineEntry[]): Promise<void>;

  getCachedResult(key: ResultCacheKey): Promise<{ result: unknown; taskId: string } | undefined>;
  putCachedResult(key: ResultCacheKey, value: { result: unknown; taskId: string }): Promise<void>;

  /** Of `sha256s`, those that a stored task still references as input (for blob GC). */
  referencedInputs(sha256s: readonly string[]): Promise<Set<string>>;
  /** Deletes final tasks finished before `before` (their timelines and cache entries with them). */
  deleteFinishedBefore(before: number): Promise<RetentionResult>;
  /** Deletes one task whatever its state (purge). */
  deleteTask(id: string): Promise<boolean>;

  /** Throws when the backing database is unreachable (for /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
