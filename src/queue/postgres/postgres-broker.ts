import { createHash } from 'node:crypto';
import type pg from 'pg';
import { type BackoffPolicy, backoffDelay, defaultBackoff } from '../../core/backoff.js';
import {
  assertQueueName,
  type BroadcastMessage,
  type DeadJob,
  type JobInput,
  type JobLease,
  type LeasedJob,
} from '../../core/job.js';
import { redactUrl } from '../../core/redact-url.js';
import { taskJobsByQueue } from '../../core/task-job.js';
import { InferqError } from '../../errors/index.js';
import { migratePg } from '../../postgres/migrate-pg.js';
import { inTransaction, openPgPool, type PgHandle } from '../../postgres/open-pg-pool.js';
import { isPgConnectionError } from '../../postgres/pg-retry.js';
import type { PgStatement, PgTaskJobStatements } from '../../postgres/pg-task-jobs.js';
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
import { type ClaimedJobRow, type DeadJobRow, deadJob, leasedJob } from '../job-rows.js';
import { pgBrokerMigrations } from './broker-migrations.js';
import { claimJobsSql } from './claim-jobs-sql.js';
import {
  ackSql,
  depthSql,
  enqueueStatement,
  extendSql,
  isLiveSql,
  JobState,
  killSql,
  promoteDueSql,
  reapExpiredSql,
  requeueDeadSql,
  retrySql,
  selectDeadSql,
  selectLeasedSql,
} from './job-sql.js';
import { NotificationListener } from './notification-listener.js';
import { PostgresBroadcast } from './postgres-broadcast.js';
import { QueueWakeups } from './queue-wakeups.js';

export interface PostgresBrokerOptions {
  /** Overrides the URL's `?schema=` (default `public`). */
  schema?: string;
  /** Connections at most in the pool (the LISTEN connection is one more). Default 10. */
  maxConnections?: number;
  /** Retry delays for `nack` without `delayMs`. Default: `defaultBackoff`. */
  backoff?: BackoffPolicy;
  /**
   * How often an idle long-polling `lease` claims again without a notification, and at most how
   * often a lease promotes due delayed jobs of its queue. Default 200 ms.
   */
  pollIntervalMs?: number;
  /** When set, `reapExpiredLeases` runs on an unref'd timer at this interval. */
  reapIntervalMs?: number;
  /** Broadcast messages too large for a notification are stored this long. Default one hour. */
  broadcastRetentionMs?: number;
  /**
   * How long opening, and each statement's connect, keeps trying while the server refuses or
   * drops connections (a restart). Default 20 s (`defaultPgRetryMs`).
   */
  retryMs?: number;
  /** Run the schema migrations on open (default true). */
  migrate?: boolean;
}

const capabilities: BrokerCapabilities = Object.freeze({
  priorities: true,
  delayedJobs: true,
  dedupeById: true,
  deadLetterInspection: true,
  broadcast: true,
  distributed: true,
  liveJobLookup: true,
  fairShares: true,
});

/**
 * The PostgreSQL broker: the queue is a table (`broker_jobs`, broker-migrations.ts) in the same
 * database as the task store when both URLs name it, so a deployment can run on PostgreSQL alone.
 *
 * - Lease: one statement, `FOR UPDATE SKIP LOCKED` under the fair-share rule
 *   (claim-jobs-sql.ts): leasers on every host claim at once without blocking each other.
 * - Long poll: woken by `LISTEN/NOTIFY` (every statement that makes a job ready notifies in the
 *   same statement), one listening connection per handle (notification-listener.ts), with a
 *   poll every `pollIntervalMs` for delayed jobs and lost notifications.
 * - Everything else (the SQL in job-sql.ts) is one statement per call, except `nack`, which
 *   reads the attempt count under a row lock to compute its backoff (src/core/backoff.ts).
 *
 * Trade-offs against Redis: a claim is a few index scans and a commit (WAL flush) rather than a
 * Lua script in memory, and finished jobs leave dead row versions for autovacuum; in exchange
 * there is one server fewer to run and back up, and a job and its task commit to one database.
 */
export class PostgresBroker implements Broker {
  readonly kind = 'postgres';
  readonly capabilities = capabilities;

  readonly #handle: PgHandle;
  readonly #channel: string;
  readonly #backoff: BackoffPolicy;
  readonly #pollMs: number;
  readonly #wakeups = new QueueWakeups();
  readonly #broadcast: PostgresBroadcast;
  /** When each queue last had its due delayed jobs promoted by this handle. */
  readonly #promotedAt = new Map<string, number>();
  #listener: NotificationListener | undefined;
  #createdQueue = false;
  #reapTimer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(handle: PgHandle, options: PostgresBrokerOptions) {
    this.#handle = handle;
    this.#channel = notifyChannel(handle.schema);
    this.#backoff = options.backoff ?? defaultBackoff;
    this.#pollMs = positive(options.pollIntervalMs ?? 200, 'pollIntervalMs');
    this.#broadcast = new PostgresBroadcast(
      () => this.#pool,
      () => this.#listener!,
      this.#channel,
      positive(options.broadcastRetentionMs ?? 3_600_000, 'broadcastRetentionMs'),
    );
    if (options.reapIntervalMs !== undefined) {
      const interval = positive(options.reapIntervalMs, 'reapIntervalMs');
      this.#reapTimer = setInterval(() => {
        // A failed reap (server restarting) is tried again on the next tick.
        this.reapExpiredLeases().catch(() => undefined);
      }, interval);
      this.#reapTimer.unref();
    }
  }

  /**
   * Opens the broker on `url` (`postgres://user:pass@host:port/db?schema=name`), migrating its
   * tables (component `queue`) and listening for wake-ups; INFERQ_BROKER_UNAVAILABLE when the
   * server cannot be reached.
   */
  static async open(url: string, options: PostgresBrokerOptions = {}): Promise<PostgresBroker> {
    const handle = openPgPool(url, {
      purpose: 'broker',
      max: options.maxConnections ?? 10,
      ...(options.retryMs === undefined ? {} : { retryMs: options.retryMs }),
      ...(options.schema === undefined ? {} : { schema: options.schema }),
    });
    const broker = new PostgresBroker(handle, options);
    try {
      if (options.migrate !== false) {
        broker.#createdQueue = (await migratePg(handle, 'queue', pgBrokerMigrations)).from === 0;
      }
      broker.#listener = await NotificationListener.start({
        connection: handle.pool.options,
        channel: broker.#channel,
        onNotification: (payload) => broker.#notified(payload),
        onReconnect: () => broker.#wakeups.wakeAll(),
        ...(options.retryMs === undefined ? {} : { retryMs: options.retryMs }),
      });
    } catch (cause) {
      await broker.close().catch(() => {});
      throw new InferqError(
        'INFERQ_BROKER_UNAVAILABLE',
        `cannot open the PostgreSQL broker at ${redactUrl(url)} (schema ${handle.schema})`,
        { cause, details: { schema: handle.schema } },
      );
    }
    return broker;
  }

  /**
   * Whether this open created the queue's tables (migrated from version 0): a new deployment,
   * or one moving to PostgreSQL alone from another broker, whose `queued` tasks have no job
   * here yet. Of hosts opening at once, exactly one sees it.
   */
  get createdQueue(): boolean {
    return this.#createdQueue;
  }

  async enqueue(queue: string, job: JobInput): Promise<string> {
    return (await this.enqueueMany(queue, [job]))[0]!;
  }

  async enqueueMany(queue: string, jobs: readonly JobInput[]): Promise<string[]> {
    assertQueueName(queue);
    const checked = jobs.map(checkJobInput);
    if (checked.length === 0) return [];
    const { statement, ids, ready } = enqueueStatement(queue, checked, Date.now(), this.#channel);
    await this.#run((pool) => pool.query(statement.text, statement.values));
    // This handle's own leasers need not wait for the notification's round trip.
    if (ready) this.#wakeups.wake(queue);
    return ids;
  }

  /**
   * The statements that write the jobs of tasks being created, for a task store on this
   * broker's own database and schema (PostgreSQL alone) to run inside the transaction that
   * creates them (postgres/pg-task-jobs.ts): `enqueueMany`'s statement, one per queue, with the
   * owners' weights. Their NOTIFY reaches leasers when the store commits (this handle's own
   * leasers through its listener too). Refused once the broker is closed, as `enqueueMany` is.
   */
  readonly taskJobStatements: PgTaskJobStatements = (tasks, weights) => {
    if (this.#closed) throw new InferqError('INFERQ_BROKER_UNAVAILABLE', 'the PostgreSQL broker is closed');
    const now = Date.now();
    const statements: PgStatement[] = [];
    for (const [queue, jobs] of taskJobsByQueue(tasks, undefined, weights)) {
      assertQueueName(queue);
      statements.push(enqueueStatement(queue, jobs.map(checkJobInput), now, this.#channel).statement);
    }
    return statements;
  };

  async lease(queue: string, request: LeaseRequest): Promise<LeasedJob[]> {
    assertQueueName(queue);
    checkLeaseRequest(request.max, request.leaseMs);
    this.#wakeups.watch(queue);
    const deadline = Date.now() + Math.max(0, request.waitMs ?? 0);
    for (;;) {
      const seen = this.#wakeups.generation(queue);
      await this.#promoteDue(queue);
      const jobs = await this.#claim(queue, request.max, request.leaseMs);
      const remaining = deadline - Date.now();
      if (jobs.length > 0 || remaining <= 0) return jobs;
      await this.#wakeups.wait(queue, seen, Math.min(remaining, this.#pollMs));
      if (this.#closed) return [];
    }
  }

  async extendLeases(leases: readonly JobLease[], leaseMs: number): Promise<string[]> {
    if (!(leaseMs > 0)) throw invalid(`leaseMs must be positive, got ${leaseMs}`);
    if (leases.length === 0) return [];
    const { rows } = await this.#run((pool) =>
      pool.query<{ id: string }>(extendSql, [
        leases.map((l) => l.id),
        leases.map((l) => l.token),
        Date.now() + leaseMs,
      ]),
    );
    const extended = new Set(rows.map((r) => r.id));
    return leases.filter((l) => extended.has(l.id)).map((l) => l.id);
  }

  async ack(leases: readonly JobLease[]): Promise<number> {
    if (leases.length === 0) return 0;
    const result = await this.#run((pool) =>
      pool.query(ackSql, [leases.map((l) => l.id), leases.map((l) => l.token)]),
    );
    return result.rowCount ?? 0;
  }

  async nack(lease: JobLease, request: NackRequest): Promise<NackOutcome> {
    return this.#run((pool) =>
      inTransaction(pool, async (client) => {
        const { rows } = await client.query<{ seq: number; attempts: number; max_attempts: number }>(
          selectLeasedSql,
          [lease.id, lease.token],
        );
        const row = rows[0];
        if (row === undefined) return 'stale';
        const now = Date.now();
        if (request.retryable === false || row.attempts >= row.max_attempts) {
          await client.query(killSql, [row.seq, request.error, now]);
          return 'dead';
        }
        const delayMs = Math.max(0, request.delayMs ?? backoffDelay(row.attempts, this.#backoff));
        const state = delayMs > 0 ? JobState.delayed : JobState.waiting;
        await client.query(retrySql, [row.seq, state, now + delayMs, request.error, this.#channel]);
        return 'retried';
      }),
    );
  }

  async reapExpiredLeases(): Promise<number> {
    const { rows } = await this.#run((pool) =>
      pool.query<{ reaped: number }>(reapExpiredSql, [Date.now(), this.#channel]),
    );
    return rows[0]?.reaped ?? 0;
  }

  async depth(queue: string): Promise<QueueDepth> {
    assertQueueName(queue);
    const { rows } = await this.#run((pool) => pool.query<QueueDepth>(depthSql, [queue]));
    const row = rows[0]!;
    return { waiting: row.waiting, delayed: row.delayed, leased: row.leased, dead: row.dead };
  }

  async deadJobs(queue: string, limit = 100): Promise<DeadJob[]> {
    assertQueueName(queue);
    const { rows } = await this.#run((pool) =>
      pool.query<DeadJobRow>(selectDeadSql, [queue, Math.max(0, Math.floor(limit))]),
    );
    return rows.map(deadJob);
  }

  async requeueDead(queue: string, id: string): Promise<boolean> {
    assertQueueName(queue);
    const { rows } = await this.#run((pool) =>
      pool.query<{ n: number }>(requeueDeadSql, [queue, id, Date.now(), this.#channel]),
    );
    return (rows[0]?.n ?? 0) > 0;
  }

  async hasLiveJob(queue: string, id: string): Promise<boolean> {
    assertQueueName(queue);
    const { rows } = await this.#run((pool) => pool.query(isLiveSql, [id, queue]));
    return rows.length > 0;
  }

  async publish(channel: string, message: BroadcastMessage): Promise<void> {
    await this.#run(() => this.#broadcast.publish(channel, message));
  }

  async subscribe(channel: string, handler: (message: BroadcastMessage) => void): Promise<Unsubscribe> {
    return this.#run(() => this.#broadcast.subscribe(channel, handler));
  }

  async ping(): Promise<void> {
    await this.#run((pool) => pool.query('SELECT 1'));
  }

  /** Stops the reaper and the listener, ends pending long polls with no jobs, and closes the pool. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#reapTimer !== undefined) clearInterval(this.#reapTimer);
    this.#broadcast.close();
    this.#wakeups.wakeAll();
    await this.#listener?.close();
    await this.#handle.pool.end().catch(() => {});
  }

  #notified(payload: string): void {
    if (payload.startsWith('j')) this.#wakeups.wake(payload.slice(1));
    else this.#broadcast.received(payload);
  }

  /** Due delayed jobs of `queue` become waiting, at most once per poll interval per handle. */
  async #promoteDue(queue: string): Promise<void> {
    const now = Date.now();
    if (now - (this.#promotedAt.get(queue) ?? 0) < this.#pollMs) return;
    this.#promotedAt.set(queue, now);
    await this.#run((pool) => pool.query(promoteDueSql, [queue, now, this.#channel]));
  }

  async #claim(queue: string, max: number, leaseMs: number): Promise<LeasedJob[]> {
    const leaseExpiresAt = Date.now() + leaseMs;
    const { rows } = await this.#run((pool) =>
      pool.query<ClaimedJobRow>({
        name: 'inferq-broker-claim',
        text: claimJobsSql,
        values: [queue, max, leaseExpiresAt],
      }),
    );
    return rows.map((row) => leasedJob(row, queue, leaseExpiresAt));
  }

  get #pool(): pg.Pool {
    if (this.#closed) throw new InferqError('INFERQ_BROKER_UNAVAILABLE', 'the PostgreSQL broker is closed');
    return this.#handle.pool;
  }

  /** Refuses calls after close, and reports a lost server as the broker being unavailable. */
  async #run<T>(body: (pool: pg.Pool) => Promise<T>): Promise<T> {
    const pool = this.#pool;
    try {
      return await body(pool);
    } catch (cause) {
      if (isPgConnectionError(cause) || this.#closed) {
        throw new InferqError(
          'INFERQ_BROKER_UNAVAILABLE',
          `the PostgreSQL broker (schema ${this.#handle.schema}) is unreachable`,
          { cause, details: { schema: this.#handle.schema } },
        );
      }
      throw cause;
    }
  }
}

/**
 * The NOTIFY channel of the broker in `schema`: one per schema (deployments sharing a database
 * never wake each other), within PostgreSQL's 63-byte identifier limit whatever the schema name.
 */
export function notifyChannel(schema: string): string {
  return `inferq_broker_${createHash('sha256').update(schema).digest('hex').slice(0, 16)}`;
}
