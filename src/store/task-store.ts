import type {
  NewTask,
  ResultCacheKey,
  Task,
  TaskError,
  TaskWithTimeline,
  TimelineEntry,
} from '../core/task.js';
import type { TenantWeights } from '../core/task-job.js';
import type { TaskState } from '../core/task-state.js';

/**
 * How many of a tenant's newest tasks of an input a result-cache lookup reads. A repeat is nearly
 * always among them; one older than that only runs again. Without a bound, a miss on an input the
 * tenant submitted 100,000 times (a probe with varying params, to many models) read every one of
 * those tasks, on every submission. Other tenants' tasks of the input are never read.
 */
export const cacheLookupWindow = 256;

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
  /** Only these tasks (at most 1,000 ids): re-reading the open tasks of a known set. */
  ids?: readonly string[];
  /**
   * Only the tasks a client submitted, not the steps of pipeline tasks (their child tasks, which
   * a listing by `requestId` = the pipeline task's id shows).
   */
  topLevel?: boolean;
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
  /**
   * Not claimed. Without `heldUntil`: the task is final (done by someone else, or cancelled) or
   * missing: ack the job and move on; `lost` when this claim failed it, its last attempt lost
   * (`INFERQ_WORKER_LOST`). With `heldUntil`: another worker holds a live lease on it (this
   * delivery is a duplicate, or a redelivery that came before the row's lease ran out); nothing
   * was written.
   */
  | { claimed: false; task: Task | undefined; heldUntil?: number; lost?: true };

export interface ClaimRequest {
  /** The lease token (the broker's, for a model job): it fences every later write of this attempt. */
  leaseToken: string;
  workerId: string;
  /** How long the lease on the row lasts from `at` unless renewed (default 30 s, `defaultTaskLeaseMs`). */
  leaseMs?: number;
  at?: number;
}

/** One lease a worker holds on a task row. */
export interface TaskLease {
  id: string;
  leaseToken: string;
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

/** One item of {@link TaskStore.claimTasks}. */
export interface BatchClaim extends ClaimRequest {
  id: string;
}

/** One item of {@link TaskStore.settleTasks}: a success or a failure, as completeTask/failTask take. */
export type Settlement =
  | ({ id: string; outcome: 'succeeded' } & CompleteRequest)
  | ({ id: string; outcome: 'failed' } & FailRequest);

export interface RetentionResult {
  deletedTasks: number;
}

/** An idempotency key held by one owner, and the request it produced. */
export interface IdempotencyRecord {
  owner: string;
  key: string;
  /** A hash of what was asked (the caller decides what counts as the same request). */
  fingerprint: string;
  requestId: string;
  createdAt: number;
}

export type IdempotencyClaim = { claimed: true } | { claimed: false; existing: IdempotencyRecord };

export interface FeedbackEntry {
  feedback: unknown;
  at: number;
}

/** One try at delivering a final task to its callback URL. */
export interface WebhookAttempt {
  attempt: number;
  at: number;
  /** HTTP status answered, or null when no answer came (refused, timed out). */
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

export type WebhookDeliveryState = 'pending' | 'delivered' | 'failed';

export interface WebhookDelivery {
  state: WebhookDeliveryState;
  attempts: WebhookAttempt[];
  nextAt: number | null;
}

/** What happened after one attempt: delivered, given up, or try again at `nextAt`. */
export type WebhookOutcome =
  | { state: 'delivered' }
  | { state: 'failed' }
  | { state: 'pending'; nextAt: number };

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

export interface TaskStats {
  byTarget: TargetStats[];
  /** Over tasks finished at or after `since`. */
  recent: LatencyStats[];
}

/**
 * One target's live activity: its backlog now, and what finished in a recent window. Unlike
 * {@link TaskStats} (all-time counts, a scan of every task of the owner) it reads only the
 * unfinished tasks and the window, so it stays cheap however many tasks the store keeps.
 */
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

/** A target's backlog now, and the tasks that finished at or after `since`. */
export interface TargetActivity extends FinishedOutcomes {
  /** `name@version`. */
  target: string;
  /** Tasks queued now. */
  queued: number;
  /** Tasks running now. */
  running: number;
}

/** Which tasks {@link TaskStore.taskHistory} aggregates, and how. */
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

/** What {@link TaskStore.listChildTasksChangedSince} read. */
export interface ChildTasksRead {
  tasks: Task[];
  /** Opaque: where the next read starts. */
  cursor: string;
}

/** What {@link TaskStore.createTasks} passes to a job writer. */
export interface CreateTasksOptions {
  /** The owners' fair-share weights, carried by their jobs (`JobInput.weight`). */
  weights?: TenantWeights;
}

/**
 * Durable task state. Every transition is a conditional update (current state, and the lease
 * token where a worker acts), so a late or duplicate worker can never overwrite a newer
 * outcome: the method returns false/undefined instead.
 */
export interface TaskStore {
  readonly kind: string;

  /**
   * Creates all tasks in one transaction (all or none). Tasks with `cachedResult` start
   * `succeeded`. A store opened with a job writer (the embedded SQLite store, whose file holds
   * the queue: `SqliteTaskStore.open`'s `jobs`; the PostgreSQL store on PostgreSQL alone:
   * `PostgresTaskStore.open`'s `jobs`) writes the queued tasks' jobs in the same transaction,
   * with `options.weights`; any other store ignores the options and the caller enqueues.
   */
  createTasks(tasks: readonly NewTask[], options?: CreateTasksOptions): Promise<Task[]>;
  getTask(id: string): Promise<TaskWithTimeline | undefined>;
  /**
   * The task with its result, without its timeline: one read, for paths that poll a task until
   * it is final (the result route, long-polling reads) and never show the timeline.
   */
  getTaskWithoutTimeline(id: string): Promise<Task | undefined>;
  /** Newest first (by id, which is time-ordered). */
  listTasks(filter: TaskFilter, page?: PageRequest): Promise<Page<Task>>;
  countTasks(filter: TaskFilter): Promise<Record<TaskState, number>>;

  /**
   * queued → running under `leaseToken` until `at + leaseMs`, attempts + 1. The same token again
   * extends its lease (same attempt). A task `running` under another token is refused while that
   * lease is live (`heldUntil`), and taken over once it has expired: the timeline records
   * `lease-expired` then `running`, attempts + 1; or, when every attempt is used, the task
   * fails `INFERQ_WORKER_LOST` (`lease-expired` then `failed`). Two claims racing for one expired
   * lease: exactly one wins. The rule: `task-lease.ts`.
   */
  claimTask(id: string, request: ClaimRequest): Promise<ClaimResult>;
  /**
   * Extends, in one statement, the lease of every task still running under its token to
   * `at + leaseMs`; returns the ids renewed (a lease taken over, settled or released is not).
   */
  renewLeases(leases: readonly TaskLease[], leaseMs: number, at?: number): Promise<string[]>;
  /** running(leaseToken) → succeeded. False when the token is stale or the task is not running. */
  completeTask(id: string, request: CompleteRequest): Promise<boolean>;
  /** running(leaseToken) → queued (retry) or failed. False when stale. */
  failTask(id: string, request: FailRequest): Promise<boolean>;
  /**
   * claimTask for each item, in one transaction: a worker claims a whole batch with one commit.
   * Results are in the order of `claims`; one item that cannot be claimed does not stop the others.
   */
  claimTasks(claims: readonly BatchClaim[]): Promise<ClaimResult[]>;
  /**
   * completeTask or failTask for each item, in one transaction. Results (written or stale) are
   * in the order of `settlements`.
   */
  settleTasks(settlements: readonly Settlement[]): Promise<boolean[]>;
  /**
   * queued | running → cancelled. Returns the cancelled task, or undefined if it was not
   * cancellable. Its unfinished child tasks (pipeline steps) are cancelled with it, in the same
   * transaction, each with a `cancelled` timeline entry whose data is `{ parentId }`.
   */
  cancelTask(id: string, at?: number): Promise<Task | undefined>;
  /** running(leaseToken) → queued with no attempt charged, e.g. a draining worker giving work back. */
  releaseTask(id: string, leaseToken: string, reason: string): Promise<boolean>;
  /**
   * Creates the steps of a pipeline task, idempotently: a draft whose id already exists is
   * skipped (not an error, not overwritten), so a coordinator that crashed and redoes its work
   * never creates a step twice. Nothing is created unless `parentId` is `running` (a cancelled
   * or finished pipeline starts no more steps): then undefined. Every draft must carry
   * `parent.id === parentId` and an `id`. Returns the tasks this call created (timeline
   * `created` + `queued`, or `succeeded` for a `cachedResult`), in draft order. In the same
   * transaction the parent's timeline gets one entry per step that got new children, in the
   * order the steps first appear: stage `step-queued` (data `{ step, items, target }`, target
   * `name@version`) when they are queued, `step-computed` (data `{ step, items }`) when they
   * were created `succeeded`.
   */
  createChildTasks(parentId: string, tasks: readonly NewTask[]): Promise<Task[] | undefined>;
  /** Every child of a pipeline task, results loaded, ordered by step id then item index. */
  listChildTasks(parentId: string): Promise<Task[]>;
  /**
   * The children of a pipeline task created or changed since the read that returned `cursor`
   * (every child when `cursor` is undefined), results loaded, ordered by step id then item
   * index; and the cursor to pass next time. It may return children that did not change (a
   * PostgreSQL read re-reads rows written by transactions still open at the previous read),
   * never fewer: a coordinator that keeps what it read reads each step's row about once, where
   * re-reading every child on every wake-up read about N²/B rows for N lines in batches of B.
   */
  listChildTasksChangedSince(parentId: string, cursor?: string): Promise<ChildTasksRead>;
  /** Appends stage entries to a task's timeline. */
  appendTimeline(id: string, entries: readonly TimelineEntry[]): Promise<void>;

  /**
   * The result cache: the newest `succeeded` task of `key.owner` on that target version, input
   * and params hash, with its result. The stored tasks are the cache, so it costs no write, and
   * an entry lives exactly as long as its task (retention, purge). Only the tenant's newest
   * {@link cacheLookupWindow} tasks of the input are looked at, so a lookup costs the same
   * however often that input was submitted (with other params, to other models), and other
   * tenants' tasks of the input neither slow it nor push its answer out.
   */
  getCachedResult(key: ResultCacheKey): Promise<{ result: unknown; taskId: string } | undefined>;

  /** Input bytes the tenant's stored tasks reference, each distinct input once (storage quota). */
  storedInputBytes(owner: string): Promise<number>;
  /** Of `sha256s`, those that a stored task still references as input (for blob GC). */
  referencedInputs(sha256s: readonly string[]): Promise<Set<string>>;
  /** Deletes final tasks finished before `before` (their timelines and results with them). */
  deleteFinishedBefore(before: number): Promise<RetentionResult>;
  /** Deletes one task whatever its state (purge). */
  deleteTask(id: string): Promise<boolean>;

  /**
   * Reserves an idempotency key for `record.requestId`. When the owner already holds the key,
   * nothing is written and the existing record is returned (same fingerprint: a retry).
   */
  claimIdempotencyKey(record: IdempotencyRecord): Promise<IdempotencyClaim>;
  /** Frees a key whose request failed before creating anything, so a retry can succeed. */
  releaseIdempotencyKey(owner: string, key: string): Promise<void>;

  /** Records a user's feedback on a task (e.g. the candidate they chose). False when no task. */
  addFeedback(taskId: string, entry: FeedbackEntry): Promise<boolean>;
  listFeedback(taskId: string): Promise<FeedbackEntry[]>;

  /**
   * Claims up to `limit` final tasks with a callback URL whose delivery is due at `now` (never
   * delivered, or a retry whose backoff has passed), oldest first: each is hidden from every
   * other caller, on any host, for `claimMs`, so one delivery is made once however many API
   * hosts poll. Recording the attempt sets what follows; a claimer that dies instead leaves the
   * delivery due again when the claim runs out. Tasks owned by `excludeOwners` are left for later
   * (a dispatcher skips tenants already at their concurrency, so they cannot crowd out others).
   */
  dueWebhooks(
    now: number,
    limit: number,
    claimMs: number,
    excludeOwners?: readonly string[],
  ): Promise<Task[]>;
  /** Records one attempt and what follows it. */
  recordWebhookAttempt(taskId: string, attempt: WebhookAttempt, outcome: WebhookOutcome): Promise<void>;
  /** The delivery of a task's callback, or undefined when it has no callback URL. */
  getWebhookDelivery(taskId: string): Promise<WebhookDelivery | undefined>;

  /** Counts by target and state (for `owner`, or all), and latencies of tasks finished since `since`. */
  taskStats(filter: { owner?: string; since: number }): Promise<TaskStats>;
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

  /** Throws when the backing database is unreachable (for /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
