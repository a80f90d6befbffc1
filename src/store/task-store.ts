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
 * Durable task state: create, claim, settle, read, list, cancel, retention. Every transition is a conditional update (current state, and the lease
 * token where a worker acts), so a late or duplicate worker can never overwrite a newer
 * outcome: the method returns false/undefined instead.
 *
 * The other roles of the same database have contracts of their own, so each caller asks for the
 * one it uses: `WebhookDeliveries` (webhook-deliveries.ts), `IdempotencyKeys`
 * (idempotency-keys.ts), `Feedback` (feedback.ts), `TaskStats` (task-stats.ts). The SQL stores
 * play them all (`TaskDatabase`, task-database.ts).
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
   * Model tasks `running` whose row lease expired at or before `before` (ms since epoch), oldest
   * first, at most `limit` (default 500): their worker is gone. The outbox sweeper enqueues their
   * job again; the claim that job brings takes the lease over (or fails the task
   * `INFERQ_WORKER_LOST` when every attempt is used). Pipeline tasks are not listed.
   */
  listExpiredLeases(before: number, limit?: number): Promise<Task[]>;
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

  /** Throws when the backing database is unreachable (for /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
