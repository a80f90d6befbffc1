import { type BackoffPolicy, backoffDelay, defaultBackoff } from '../../core/backoff.js';
import { newId } from '../../core/ids.js';
import {
  assertQueueName,
  type BroadcastMessage,
  type DeadJob,
  type JobInput,
  type JobLease,
  type LeasedJob,
} from '../../core/job.js';
import { type TaskJobWriter, taskJobsByQueue } from '../../core/task-job.js';
import { InferqError } from '../../errors/index.js';
import { migrateSqlite, openSqlite, type SqliteDatabase } from '../../sqlite/open-sqlite.js';
import type {
  Broker,
  BrokerCapabilities,
  LeaseRequest,
  NackOutcome,
  NackRequest,
  QueueDepth,
  Unsubscribe,
} from '../broker.js';
import { checkJobInput, checkLeaseRequest, invalid, positive } from '../check-job-input.js';
import { type ClaimedJobRow, deadJob, leasedJob } from '../job-rows.js';
import { type FairShareStatements, prepareFairShareStatements, servedTenants } from './claim-fair-share.js';
import { JobState, type JobStatements, prepareJobStatements } from './job-statements.js';
import { LeaseWaiters } from './lease-waiters.js';
import { queueMigrations } from './migrations.js';
import { copyQueueFile } from './move-queue-file.js';
import { SqliteBroadcast } from './sqlite-broadcast.js';
import { ThreadNudges } from './thread-nudges.js';

export interface SqliteBrokerOptions {
  /** Retry delays for `nack` without `delayMs`. Default: `defaultBackoff`. */
  backoff?: BackoffPolicy;
  /**
   * How often a long-polling `lease` and the broadcast subscribers read the file for work and
   * messages written by other processes. In-process enqueues and publishes are seen at once.
   * Default 50 ms.
   */
  pollIntervalMs?: number;
  /** When set, `reapExpiredLeases` runs on an unref'd timer at this interval. */
  reapIntervalMs?: number;
  /** Broadcast messages older than this are pruned. Default one hour. */
  broadcastRetentionMs?: number;
}

const capabilities: BrokerCapabilities = Object.freeze({
  priorities: true,
  delayedJobs: true,
  dedupeById: true,
  deadLetterInspection: true,
  broadcast: true,
  distributed: false,
  liveJobLookup: true,
  fairShares: true,
});

/** SQLite error codes that mean "the file is unavailable right now", not "the request is wrong". */
const unavailableCodes = /^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|FULL|READONLY|PROTOCOL)/;

/**
 * The embedded broker: every queue in one SQLite file (WAL), shared by the threads and processes
 * of one host. Each operation is one short transaction of prepared statements (see
 * job-statements.ts for the SQL and why each statement is correct under concurrency).
 *
 * Trade-offs: better-sqlite3 is synchronous, so each call holds the event loop for its
 * transaction (microseconds for batches of ~100 jobs) and, under write contention from another
 * process, for up to the busy timeout; in exchange there is no server and no network hop. All
 * writers of the file are serialised, which bounds throughput per file but is what makes a claim
 * atomic without row locks.
 */
export class SqliteBroker implements Broker {
  readonly kind = 'sqlite';
  readonly capabilities = capabilities;

  private readonly sql: JobStatements;
  private readonly fair: FairShareStatements;
  private readonly broadcast: SqliteBroadcast;
  private readonly waiters = new LeaseWaiters();
  private readonly nudges: ThreadNudges;
  private readonly backoff: BackoffPolicy;
  private readonly pollIntervalMs: number;
  private readonly reapTimer: NodeJS.Timeout | undefined;
  private closed = false;

  // Transactions are wrapped once; `.immediate` takes the write lock at BEGIN, so a transaction
  // that reads then writes never fails half-way with SQLITE_BUSY on lock upgrade.
  private readonly enqueueTx;
  private readonly leaseTx;
  private readonly ackTx;
  private readonly extendTx;
  private readonly nackTx;

  private constructor(
    private readonly db: SqliteDatabase,
    options: SqliteBrokerOptions,
    /** Whether `close` closes the connection (not when it is the task store's). */
    private readonly ownsDb: boolean,
  ) {
    // A small page cache, on purpose. When a B-tree rebalance reorders sibling pages, SQLite
    // parks a page under a temporary number far past the end of the file; the next commit then
    // walks the whole page cache to drop it (pcache1TruncateUnsafe), ~100 µs per commit with
    // better-sqlite3's default 16 MiB cache once the file outgrows the cache. Measured (bench/
    // broker.ts): claims with 1,000,000 jobs queued ran at 0.88x the rate with 1,000 queued at
    // 16 MiB, 0.72x at 64 MiB, and 0.93-1.0x at 2 MiB. The queue's hot pages (the ends of each
    // index and of the table) fit in 2 MiB many times over; the OS page cache holds the rest.
    // A connection shared with the task store keeps the store's cache: its reads (listings,
    // stats) are the ones a cache serves.
    if (ownsDb) db.pragma('cache_size = -2000');
    this.sql = prepareJobStatements(db);
    this.fair = prepareFairShareStatements(db);
    this.backoff = options.backoff ?? defaultBackoff;
    this.pollIntervalMs = positive(options.pollIntervalMs ?? 50, 'pollIntervalMs');
    this.broadcast = new SqliteBroadcast(db, {
      pollIntervalMs: this.pollIntervalMs,
      retentionMs: positive(options.broadcastRetentionMs ?? 3_600_000, 'broadcastRetentionMs'),
    });
    // Threads of this process that share the file wake each other at once (thread-nudges.ts).
    this.nudges = new ThreadNudges(db.name, (nudge) => {
      if (nudge.kind === 'enqueued') this.waiters.wake(nudge.queue);
      else this.broadcast.pollSoon();
    });
    this.enqueueTx = db.transaction(this.insertJobs.bind(this)).immediate;
    this.leaseTx = db.transaction(this.claimJobs.bind(this)).immediate;
    this.ackTx = db.transaction(this.ackJobs.bind(this)).immediate;
    this.extendTx = db.transaction(this.extendJobs.bind(this)).immediate;
    this.nackTx = db.transaction(this.nackJob.bind(this)).immediate;
    if (options.reapIntervalMs !== undefined) {
      const interval = positive(options.reapIntervalMs, 'reapIntervalMs');
      this.reapTimer = setInterval(() => {
        // A failed reap (file busy for longer than the busy timeout) is retried on the next tick.
        this.reapExpiredLeases().catch(() => undefined);
      }, interval);
      this.reapTimer.unref();
    }
  }

  /** Opens (creating if needed) the queue database at `file` (`:memory:` for a private one). */
  static open(file: string, options: SqliteBrokerOptions = {}): SqliteBroker {
    const db = openSqlite(file, { purpose: 'queue', migrations: queueMigrations });
    try {
      return new SqliteBroker(db, options, true);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /**
   * Opens the queue in the task database, on the task store's own connection (the embedded
   * layout: one file, `inferq.db`): its tables (`jobs`, `broadcasts`, `queue_tenants`,
   * `queue_clocks`, `tenant_weights`) sit beside the store's, versioned as component `queue`.
   * The connection stays the store's: `close` leaves it open. Whoever opens the broker this way
   * gives {@link writeTaskJobs} to the store (`SqliteTaskStore.open`'s `jobs`), so that each task
   * is created with its job in one transaction.
   */
  static inTaskDatabase(db: SqliteDatabase, options: SqliteBrokerOptions = {}): SqliteBroker {
    migrateSqlite(db, 'queue', queueMigrations);
    return new SqliteBroker(db, options, false);
  }

  /**
   * Writes the jobs of tasks being created, inside the caller's transaction on this broker's
   * connection (core/task-job.ts `TaskJobWriter`): the same rows `enqueueMany` writes, without a
   * transaction of its own. Leasers are woken once the caller's code has run (its commit).
   */
  readonly writeTaskJobs: TaskJobWriter = (tasks, weights) => {
    if (this.closed) throw new InferqError('INFERQ_BROKER_UNAVAILABLE', 'the SQLite broker is closed');
    if (!this.db.inTransaction) {
      throw new Error('writeTaskJobs runs inside the task store transaction that creates the tasks');
    }
    const queues: string[] = [];
    for (const [queue, jobs] of taskJobsByQueue(tasks, undefined, weights)) {
      assertQueueName(queue);
      this.insertJobs(queue, jobs);
      queues.push(queue);
    }
    // After the commit: the transaction is synchronous, so this runs once it has ended (a wake
    // after a rollback finds nothing, which costs one empty read).
    if (queues.length > 0) {
      process.nextTick(() => {
        if (!this.closed) for (const queue of queues) this.wake(queue);
      });
    }
  };

  /**
   * Moves the jobs of an older layout's queue file into this broker's database (see
   * move-queue-file.ts; `retireQueueFile` then renames the file). Returns how many jobs the file
   * held, or undefined when there is none. Meant for opening, before anything leases: leasers
   * of other processes see the moved jobs on their next poll.
   */
  importQueueFile(file: string): number | undefined {
    return this.guard(() => copyQueueFile(this.db, file));
  }

  async enqueue(queue: string, job: JobInput): Promise<string> {
    return (await this.enqueueMany(queue, [job]))[0]!;
  }

  async enqueueMany(queue: string, jobs: readonly JobInput[]): Promise<string[]> {
    assertQueueName(queue);
    const ids = this.guard(() => this.enqueueTx(queue, jobs));
    if (ids.length > 0) this.wake(queue);
    return ids;
  }

  async lease(queue: string, request: LeaseRequest): Promise<LeasedJob[]> {
    assertQueueName(queue);
    const max = request.max;
    checkLeaseRequest(max, request.leaseMs);
    this.nudges.listen({ kind: 'enqueued', queue });
    const deadline = Date.now() + Math.max(0, request.waitMs ?? 0);
    for (;;) {
      const jobs = this.guard(() => this.leaseTx(queue, max, request.leaseMs));
      const remaining = deadline - Date.now();
      if (jobs.length > 0 || remaining <= 0) return jobs;
      await this.waiters.wait(queue, Math.min(remaining, this.pollIntervalMs));
      if (this.closed) return [];
    }
  }

  async extendLeases(leases: readonly JobLease[], leaseMs: number): Promise<string[]> {
    if (!(leaseMs > 0)) throw invalid(`leaseMs must be positive, got ${leaseMs}`);
    if (leases.length === 0) return [];
    return this.guard(() => this.extendTx(leases, Date.now() + leaseMs));
  }

  async ack(leases: readonly JobLease[]): Promise<number> {
    if (leases.length === 0) return 0;
    return this.guard(() => this.ackTx(leases));
  }

  async nack(lease: JobLease, request: NackRequest): Promise<NackOutcome> {
    const outcome = this.guard(() => this.nackTx(lease, request));
    if (outcome.queue !== undefined) this.wake(outcome.queue);
    return outcome.outcome;
  }

  async reapExpiredLeases(): Promise<number> {
    const now = Date.now();
    const rows = this.guard(() => this.sql.reapExpired.all(now, now, now));
    for (const queue of new Set(rows.map((r) => r.queue))) this.wake(queue);
    return rows.length;
  }

  async depth(queue: string): Promise<QueueDepth> {
    assertQueueName(queue);
    return this.guard(() => ({
      waiting: this.sql.countWaiting.get(queue)!.n,
      delayed: this.sql.countDelayed.get(queue)!.n,
      leased: this.sql.countLeased.get(queue)!.n,
      dead: this.sql.countDead.get(queue)!.n,
    }));
  }

  async deadJobs(queue: string, limit = 100): Promise<DeadJob[]> {
    assertQueueName(queue);
    const rows = this.guard(() => this.sql.selectDead.all(queue, Math.max(0, Math.floor(limit))));
    return rows.map(deadJob);
  }

  async requeueDead(queue: string, id: string): Promise<boolean> {
    assertQueueName(queue);
    const changed = this.guard(() => this.sql.requeueDead.run(Date.now(), queue, id).changes) > 0;
    if (changed) this.wake(queue);
    return changed;
  }

  async hasLiveJob(queue: string, id: string): Promise<boolean> {
    assertQueueName(queue);
    return this.guard(() => this.sql.isLive.get(id, queue) !== undefined);
  }

  async publish(channel: string, message: BroadcastMessage): Promise<void> {
    this.guard(() => this.broadcast.publish(channel, message));
    this.nudges.post({ kind: 'published', channel });
  }

  async subscribe(channel: string, handler: (message: BroadcastMessage) => void): Promise<Unsubscribe> {
    return this.guard(() => {
      this.nudges.listen({ kind: 'published', channel });
      return this.broadcast.subscribe(channel, handler);
    });
  }

  async ping(): Promise<void> {
    this.guard(() => this.db.pragma('user_version', { simple: true }));
  }

  /** Stops the reaper and pollers, ends pending long polls with no jobs, and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.reapTimer !== undefined) clearInterval(this.reapTimer);
    this.broadcast.close();
    this.nudges.close();
    this.waiters.wakeAll();
    if (this.ownsDb) this.db.close();
  }

  /** Wakes the queue's leasers in this thread and, through a nudge, in the process's others. */
  private wake(queue: string): void {
    this.waiters.wake(queue);
    this.nudges.post({ kind: 'enqueued', queue });
  }

  // --- transaction bodies (run inside BEGIN IMMEDIATE) ---

  private insertJobs(queue: string, jobs: readonly JobInput[]): string[] {
    const now = Date.now();
    const ids: string[] = [];
    // One weight upsert per tenant of the batch that gives one, not per job.
    const weights = new Map<string, number>();
    for (const job of jobs) {
      const checked = checkJobInput(job);
      if (checked.weight !== undefined) weights.set(checked.tenant, checked.weight);
      const id = checked.id ?? newId();
      const delayed = checked.delayMs > 0;
      this.sql.upsertJob.run(
        queue,
        id,
        checked.tenant,
        delayed ? JobState.delayed : JobState.waiting,
        checked.priority,
        delayed ? now + checked.delayMs : now,
        checked.payload,
        checked.maxAttempts,
        now,
      );
      ids.push(id);
    }
    for (const [tenant, weight] of weights) this.fair.setWeight.run({ tenant, weight });
    return ids;
  }

  private claimJobs(queue: string, max: number, leaseMs: number): LeasedJob[] {
    const now = Date.now();
    this.sql.promoteDue.run(queue, now);
    const leaseExpiresAt = now + leaseMs;
    const rows = this.fair.claimFair.all({ queue, n: max, expires: leaseExpiresAt });
    if (rows.length === 0) return [];
    this.fair.advanceTenants.run({ queue, served: servedTenants(rows) });
    this.fair.advanceClock.run({ queue, vstart: Math.max(...rows.map((row) => row.vstart)) });
    rows.sort(leaseOrder);
    return rows.map((row) => leasedJob(row, queue, leaseExpiresAt));
  }

  private ackJobs(leases: readonly JobLease[]): number {
    let acked = 0;
    for (const lease of leases) acked += this.sql.ackJob.run(lease.id, lease.token).changes;
    return acked;
  }

  private extendJobs(leases: readonly JobLease[], leaseExpiresAt: number): string[] {
    const extended: string[] = [];
    for (const lease of leases) {
      const { changes } = this.sql.extendLease.run(leaseExpiresAt, lease.id, lease.token);
      if (changes > 0) extended.push(lease.id);
    }
    return extended;
  }

  private nackJob(lease: JobLease, request: NackRequest): { outcome: NackOutcome; queue?: string } {
    const row = this.sql.selectLeased.get(lease.id, lease.token);
    if (row === undefined) return { outcome: 'stale' };
    const now = Date.now();
    if (request.retryable === false || row.attempts >= row.max_attempts) {
      this.sql.killJob.run(request.error, now, row.seq);
      return { outcome: 'dead' };
    }
    const delayMs = Math.max(0, request.delayMs ?? backoffDelay(row.attempts, this.backoff));
    const state = delayMs > 0 ? JobState.delayed : JobState.waiting;
    this.sql.retryJob.run(state, now + delayMs, request.error, row.seq);
    // Only a job that is ready now is worth waking leasers for; a delayed one is seen by polling.
    return state === JobState.waiting ? { outcome: 'retried', queue: row.queue } : { outcome: 'retried' };
  }

  /** Refuses calls after close, and reports a busy or broken file as the broker being unavailable. */
  private guard<T>(fn: () => T): T {
    if (this.closed) throw new InferqError('INFERQ_BROKER_UNAVAILABLE', 'the SQLite broker is closed');
    try {
      return fn();
    } catch (cause) {
      const code = (cause as { code?: unknown }).code;
      if (typeof code === 'string' && unavailableCodes.test(code)) {
        throw new InferqError(
          'INFERQ_BROKER_UNAVAILABLE',
          `the SQLite queue ${this.db.name} is unavailable (${code})`,
          {
            cause,
            details: { file: this.db.name, sqliteCode: code },
          },
        );
      }
      throw cause;
    }
  }
}

/** The order the claim chose: start tag, then FIFO (claim-fair-share.ts). */
function leaseOrder(a: ClaimedJobRow, b: ClaimedJobRow): number {
  return a.vstart - b.vstart || a.seq - b.seq;
}
