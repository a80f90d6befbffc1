import type pg from 'pg';
import type { NewTask, ResultCacheKey, Task, TaskWithTimeline, TimelineEntry } from '../../core/task.js';
import { finalStates, type TaskState, taskStates } from '../../core/task-state.js';
import { InferqError } from '../../errors/index.js';
import { migratePg } from '../../postgres/migrate-pg.js';
import { inTransaction, openPgPool, type PgHandle, pgErrorCode } from '../../postgres/open-pg-pool.js';
import { claimTasks } from '../sql/claim-tasks.js';
import { settleTasks } from '../sql/settle-tasks.js';
import { cancelSql, releaseSql, renewLeasesParams, renewLeasesSql } from '../task-lease.js';
import {
  decodeCursor,
  encodeCursor,
  newTaskRow,
  rowToTask,
  rowToTimelineEntry,
  stateList,
  storedInputBytesSql,
  type TaskRow,
  type TimelineRow,
} from '../task-rows.js';
import {
  type BatchClaim,
  type ClaimRequest,
  type ClaimResult,
  type CompleteRequest,
  cacheLookupWindow,
  type FailRequest,
  type FeedbackEntry,
  type HistoryBucket,
  type HistoryRequest,
  type IdempotencyClaim,
  type IdempotencyRecord,
  type LatencyBreakdown,
  type Page,
  type PageRequest,
  type RetentionResult,
  type Settlement,
  type TargetActivity,
  type TaskFilter,
  type TaskLease,
  type TaskStats,
  type TaskStore,
  type WebhookAttempt,
  type WebhookDelivery,
  type WebhookOutcome,
} from '../task-store.js';
import { cancelChildTasks, insertChildTasks, selectChildTasks } from './pg-child-tasks.js';
import { PgSqlDriver, queryNamed } from './pg-sql-driver.js';
import * as extras from './pg-task-extras.js';
import { activityStats, latencyBreakdown, taskHistory } from './pg-task-history.js';
import {
  filterTerms,
  insertTasksParams,
  insertTasksSql,
  insertTimeline,
  insertTimelines,
  type Queryable,
  selectTask,
  selectTaskWithResult,
  stateIn,
  where,
} from './pg-task-sql.js';
import { pgTaskStoreMigrations } from './task-migrations.js';

export interface PostgresTaskStoreOptions {
  /** Overrides the URL's `?schema=`. */
  schema?: string;
  /** Pool size (default 10). */
  maxConnections?: number;
  /** Apply pending migrations on open (default true; `inferq migrate` does it ahead of time). */
  migrate?: boolean;
}

/** Rows deleted per retention statement: short transactions keep workers' writes flowing. */
const retentionBatchSize = 1_000;
const defaultLimit = 50;
const maxLimit = 1_000;

/**
 * The distributed task store on PostgreSQL. Every transition is one conditional UPDATE on
 * (state, lease_token) checked through RETURNING; the claim, which must choose between a fresh
 * lease and a take-over, first locks the row (`FOR UPDATE`) so two workers that received the
 * same job serialise on it, and the loser sees the winner's token.
 *
 * Listings return tasks with `result` left `undefined` (not loaded), as the SQLite store does.
 */
export class PostgresTaskStore implements TaskStore {
  readonly kind = 'postgres';
  readonly #handle: PgHandle;
  /** The shared SQL state machine's driver (store/sql/), over the same pool. */
  readonly #driver = new PgSqlDriver(() => this.#pool);
  #closed = false;

  private constructor(handle: PgHandle) {
    this.#handle = handle;
  }

  /** Connects, and (unless `migrate: false`) brings the schema up to date under an advisory lock. */
  static async open(url: string, options: PostgresTaskStoreOptions = {}): Promise<PostgresTaskStore> {
    const handle = openPgPool(url, {
      purpose: 'task store',
      max: options.maxConnections ?? 10,
      ...(options.schema === undefined ? {} : { schema: options.schema }),
    });
    try {
      if (options.migrate !== false) await migratePg(handle, 'tasks', pgTaskStoreMigrations);
    } catch (cause) {
      await handle.pool.end().catch(() => {});
      throw unavailable(`cannot open the PostgreSQL task store (schema ${handle.schema})`, cause);
    }
    return new PostgresTaskStore(handle);
  }

  async createTasks(tasks: readonly NewTask[]): Promise<Task[]> {
    if (tasks.length === 0) return [];
    const at = Date.now();
    const prepared = tasks.map((task) => newTaskRow(task, at));
    const rows = prepared.map((p) => p.row);
    await inTransaction(this.#pool, async (client) => {
      try {
        await client.query(insertTasksSql, insertTasksParams(rows));
      } catch (cause) {
        if (pgErrorCode(cause) !== '23505') throw cause;
        const id = /\(id\)=\((.*)\)/.exec(String((cause as { detail?: unknown }).detail))?.[1] ?? '?';
        throw new InferqError(
          'INFERQ_TASK_ID_CONFLICT',
          `a task with id ${id} already exists; none of the ${tasks.length} tasks was created`,
          { cause, details: { id } },
        );
      }
      const timeline = prepared.flatMap(({ row, result }) => [
        { id: row.id, entry: { stage: 'created', at } },
        result === undefined
          ? { id: row.id, entry: { stage: 'queued', at } }
          : { id: row.id, entry: { stage: 'succeeded', at, data: { cached: true } } },
      ]);
      await insertTimelines(client, timeline);
      const cached = prepared.filter((p) => p.result !== undefined);
      if (cached.length > 0) {
        await client.query(
          'INSERT INTO task_results (task_id, result) SELECT * FROM unnest($1::text[], $2::text[])',
          [cached.map((p) => p.row.id), cached.map((p) => p.result)],
        );
      }
      const hooks = rows.filter((row) => row.callback_url !== null).map((row) => row.id);
      if (hooks.length > 0) {
        await client.query(
          `INSERT INTO webhook_deliveries (task_id, state, attempts, next_at)
           SELECT id, 'pending', 0, 0 FROM unnest($1::text[]) AS ids(id)`,
          [hooks],
        );
      }
    });
    return prepared.map(({ row, result }) => rowToTask({ ...row, result: result ?? null }));
  }

  async getTask(id: string): Promise<TaskWithTimeline | undefined> {
    // REPEATABLE READ: the task and its timeline come from one snapshot.
    return inTransaction(this.#pool, async (client) => {
      await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const task = await readTask(client, id);
      if (task === undefined) return undefined;
      const { rows } = await client.query<TimelineRow>(
        'SELECT stage, at, attempt, data FROM task_timeline WHERE task_id = $1 ORDER BY seq',
        [id],
      );
      return { ...task, timeline: rows.map(rowToTimelineEntry) };
    });
  }

  async getTaskWithoutTimeline(id: string): Promise<Task | undefined> {
    // One statement: no transaction round trips (getTask needs five for its snapshot).
    return readTask(this.#pool, id);
  }

  async listTasks(filter: TaskFilter, page: PageRequest = {}): Promise<Page<Task>> {
    const limit = clampLimit(page.limit);
    const before = page.cursor === undefined ? undefined : decodeCursor(page.cursor, filter);
    const states = stateList(filter.state);
    const values: unknown[] = [];
    // As in SQLite: one index range per state, each limited, merged — instead of one scan that
    // would have to sort every matching row when several states are asked for.
    const arms = (states !== undefined && states.length > 1 ? states : [undefined]).map((state) => {
      const terms = filterTerms(state === undefined ? filter : { ...filter, state }, values);
      if (before !== undefined) {
        values.push(before);
        terms.push(`id < $${values.length}`);
      }
      return `(${selectTask} ${where(terms)} ORDER BY id DESC LIMIT ${limit + 1})`;
    });
    const sql =
      arms.length === 1 ? arms[0]! : `${arms.join(' UNION ALL ')} ORDER BY id DESC LIMIT ${limit + 1}`;
    const { rows } = await this.#pool.query<TaskRow>(sql, values);
    const items = rows.slice(0, limit).map(rowToTask);
    const last = items.at(-1);
    return rows.length > limit && last !== undefined
      ? { items, nextCursor: encodeCursor(last.id, filter) }
      : { items };
  }

  async countTasks(filter: TaskFilter): Promise<Record<TaskState, number>> {
    const values: unknown[] = [];
    const terms = filterTerms(filter, values);
    const { rows } = await this.#pool.query<{ state: TaskState; n: number }>(
      `SELECT state, COUNT(*) AS n FROM tasks ${where(terms)} GROUP BY state`,
      values,
    );
    const counts = Object.fromEntries(taskStates.map((s) => [s, 0])) as Record<TaskState, number>;
    for (const { state, n } of rows) counts[state] = n;
    return counts;
  }

  async claimTask(id: string, request: ClaimRequest): Promise<ClaimResult> {
    const [result] = await this.claimTasks([{ ...request, id }]);
    return result!;
  }

  async completeTask(id: string, request: CompleteRequest): Promise<boolean> {
    const [written] = await this.settleTasks([{ ...request, id, outcome: 'succeeded' }]);
    return written!;
  }

  async failTask(id: string, request: FailRequest): Promise<boolean> {
    const [written] = await this.settleTasks([{ ...request, id, outcome: 'failed' }]);
    return written!;
  }

  async claimTasks(claims: readonly BatchClaim[]): Promise<ClaimResult[]> {
    if (claims.length === 0) return [];
    return this.#driver.tx(claimTasks(this.#driver.dialect, claims));
  }

  async settleTasks(settlements: readonly Settlement[]): Promise<boolean[]> {
    if (settlements.length === 0) return [];
    return this.#driver.tx(settleTasks(this.#driver.dialect, settlements));
  }

  async renewLeases(
    leases: readonly TaskLease[],
    leaseMs: number,
    at: number = Date.now(),
  ): Promise<string[]> {
    if (leases.length === 0) return [];
    const rows = await this.#driver.all<{ id: string }>(renewLeasesSql(this.#driver.dialect), {
      until: at + leaseMs,
      ...renewLeasesParams(this.#driver.dialect, leases),
    });
    return rows.map((row) => row.id);
  }

  async cancelTask(id: string, at: number = Date.now()): Promise<Task | undefined> {
    return inTransaction(this.#pool, async (client) => {
      const [done] = await queryNamed<{ attempts: number }>(client, cancelSql, { id, at });
      if (done === undefined) return undefined;
      await insertTimeline(client, id, { stage: 'cancelled', at, attempt: done.attempts });
      await cancelChildTasks(client, id, at);
      return readTask(client, id);
    });
  }

  async releaseTask(id: string, leaseToken: string, reason: string): Promise<boolean> {
    const at = Date.now();
    return inTransaction(this.#pool, async (client) => {
      // The attempt is given back: the worker never ran it to an outcome.
      const [done] = await queryNamed<{ attempts: number }>(client, releaseSql(this.#driver.dialect), {
        id,
        at,
        token: leaseToken,
      });
      if (done === undefined) return false;
      await insertTimeline(client, id, {
        stage: 'released',
        at,
        attempt: done.attempts + 1,
        data: { reason },
      });
      return true;
    });
  }

  async createChildTasks(parentId: string, tasks: readonly NewTask[]): Promise<Task[] | undefined> {
    const at = Date.now();
    return inTransaction(this.#pool, (client) => insertChildTasks(client, parentId, tasks, at));
  }

  async listChildTasks(parentId: string): Promise<Task[]> {
    return selectChildTasks(this.#pool, parentId);
  }

  async appendTimeline(id: string, entries: readonly TimelineEntry[]): Promise<void> {
    await insertTimelines(
      this.#pool,
      entries.map((entry) => ({ id, entry })),
    ).catch((err: unknown) => {
      // A task purged meanwhile: its timeline goes with it, as in SQLite.
      if (pgErrorCode(err) !== '23503') throw err;
    });
  }

  async getCachedResult(key: ResultCacheKey): Promise<{ result: unknown; taskId: string } | undefined> {
    // The materialised CTE keeps the planner on (input_sha256, owner, id), the tenant's tasks of
    // the input read newest first and no further than the window, while (owner, target, id)
    // would walk every task of the tenant on that model when the input was never seen.
    const { rows } = await this.#pool.query<{ id: string; result: string }>(
      `WITH same_input AS MATERIALIZED (
         SELECT id, target_kind, target_name, target_version, params_hash, state, parent_id
         FROM tasks WHERE input_sha256 = $1 AND owner = $2 ORDER BY id DESC LIMIT ${cacheLookupWindow}
       )
       SELECT t.id, r.result FROM same_input AS t JOIN task_results AS r ON r.task_id = t.id
       WHERE t.target_kind = $3 AND t.target_name = $4 AND t.target_version = $5
         AND t.params_hash = $6 AND t.state = 'succeeded' AND t.parent_id IS NULL
       ORDER BY t.id DESC LIMIT 1`,
      [key.inputSha256, key.owner, key.target.kind, key.target.name, key.target.version, key.paramsHash],
    );
    const row = rows[0];
    return row === undefined ? undefined : { result: JSON.parse(row.result), taskId: row.id };
  }

  async storedInputBytes(owner: string): Promise<number> {
    const { rows } = await this.#pool.query<{ bytes: number }>(storedInputBytesSql('$1'), [owner]);
    return rows[0]?.bytes ?? 0;
  }

  async referencedInputs(sha256s: readonly string[]): Promise<Set<string>> {
    if (sha256s.length === 0) return new Set();
    // One array parameter, however many hashes: no IN-list chunking needed.
    const { rows } = await this.#pool.query<{ input_sha256: string }>(
      'SELECT DISTINCT input_sha256 FROM tasks WHERE input_sha256 = ANY($1::text[])',
      [[...new Set(sha256s)]],
    );
    return new Set(rows.map((row) => row.input_sha256));
  }

  async deleteFinishedBefore(before: number): Promise<RetentionResult> {
    let deletedTasks = 0;
    for (;;) {
      // One statement per batch: the tasks (cascading to results, timelines, webhooks, feedback)
      // and their cache entries. SKIP LOCKED leaves rows a worker holds to the next run.
      const { rows } = await this.#pool.query<{ n: number }>(
        `WITH gone AS (
           DELETE FROM tasks WHERE id IN (
             SELECT id FROM tasks WHERE finished_at < $1 AND ${stateIn(finalStates)}
             LIMIT ${retentionBatchSize} FOR UPDATE SKIP LOCKED
           ) RETURNING id
         )
         SELECT COUNT(*) AS n FROM gone`,
        [before],
      );
      const n = rows[0]?.n ?? 0;
      deletedTasks += n;
      if (n < retentionBatchSize) break;
    }
    // Keys live as long as tasks: those older than the oldest kept task go.
    await this.#pool.query('DELETE FROM idempotency_keys WHERE created_at < $1', [before]);
    return { deletedTasks };
  }

  async deleteTask(id: string): Promise<boolean> {
    const { rows } = await this.#pool.query<{ n: number }>(
      `WITH gone AS (DELETE FROM tasks WHERE id = $1 RETURNING id) SELECT COUNT(*) AS n FROM gone`,
      [id],
    );
    return (rows[0]?.n ?? 0) > 0;
  }

  async claimIdempotencyKey(record: IdempotencyRecord): Promise<IdempotencyClaim> {
    return extras.claimIdempotencyKey(this.#pool, record);
  }

  async releaseIdempotencyKey(owner: string, key: string): Promise<void> {
    await this.#pool.query('DELETE FROM idempotency_keys WHERE owner = $1 AND key = $2', [owner, key]);
  }

  async addFeedback(taskId: string, entry: FeedbackEntry): Promise<boolean> {
    return extras.addFeedback(this.#pool, taskId, entry);
  }

  async listFeedback(taskId: string): Promise<FeedbackEntry[]> {
    return extras.listFeedback(this.#pool, taskId);
  }

  async dueWebhooks(
    now: number,
    limit: number,
    claimMs: number,
    excludeOwners: readonly string[] = [],
  ): Promise<Task[]> {
    return extras.dueWebhooks(this.#pool, now, limit, claimMs, excludeOwners);
  }

  async recordWebhookAttempt(
    taskId: string,
    attempt: WebhookAttempt,
    outcome: WebhookOutcome,
  ): Promise<void> {
    await extras.recordWebhookAttempt(this.#pool, taskId, attempt, outcome);
  }

  async getWebhookDelivery(taskId: string): Promise<WebhookDelivery | undefined> {
    return extras.getWebhookDelivery(this.#pool, taskId);
  }

  async taskStats(filter: { owner?: string; since: number }): Promise<TaskStats> {
    return extras.taskStats(this.#pool, filter);
  }

  async activityStats(filter: { owner?: string; since: number }): Promise<TargetActivity[]> {
    return activityStats(this.#pool, filter);
  }

  async taskHistory(request: HistoryRequest): Promise<HistoryBucket[]> {
    return taskHistory(this.#pool, request);
  }

  async latencyBreakdown(filter: { owner?: string; since: number }): Promise<LatencyBreakdown[]> {
    return latencyBreakdown(this.#pool, filter);
  }

  async ping(): Promise<void> {
    try {
      await this.#pool.query('SELECT 1');
    } catch (cause) {
      if (cause instanceof InferqError) throw cause;
      throw unavailable(`the PostgreSQL task store (schema ${this.#handle.schema}) is unreachable`, cause);
    }
  }

  /** Closes the pool; a second call does nothing. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#handle.pool.end();
  }

  /** The pool, or `INFERQ_STORE_UNAVAILABLE` once the store is closed. */
  get #pool(): pg.Pool {
    if (this.#closed)
      throw unavailable(`the PostgreSQL task store (schema ${this.#handle.schema}) is closed`);
    return this.#handle.pool;
  }
}

async function readTask(q: Queryable, id: string): Promise<Task | undefined> {
  const row = (await q.query<TaskRow>(selectTaskWithResult, [id])).rows[0];
  return row === undefined ? undefined : rowToTask(row);
}

function unavailable(message: string, cause?: unknown): InferqError {
  return new InferqError('INFERQ_STORE_UNAVAILABLE', message, cause === undefined ? {} : { cause });
}

function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return defaultLimit;
  return Math.min(maxLimit, Math.max(1, Math.floor(limit)));
}
