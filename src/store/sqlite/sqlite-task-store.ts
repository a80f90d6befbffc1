import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type Database from 'better-sqlite3';
import type { NewTask, ResultCacheKey, Task, TaskWithTimeline, TimelineEntry } from '../../core/task.js';
import { finalStates, type TaskState, taskStates } from '../../core/task-state.js';
import { InferqError } from '../../errors/index.js';
import { cachedStatement } from '../../sqlite/cached-statement.js';
import { openSqlite, type SqliteDatabase } from '../../sqlite/open-sqlite.js';
import { claimTasks } from '../sql/claim-tasks.js';
import { settleTasks } from '../sql/settle-tasks.js';
import { cancelSql, releaseSql, renewLeasesParams, renewLeasesSql, stateIn } from '../task-lease.js';
import {
  decodeCursor,
  encodeCursor,
  filterToSql,
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
import { cancelChildTasks, insertChildTasks, selectChildTasks, sqliteTaskColumns } from './child-tasks.js';
import { addFeedback, listFeedback } from './feedback.js';
import { claimIdempotencyKey, deleteIdempotencyKeysBefore, releaseIdempotencyKey } from './idempotency.js';
import { taskStoreMigrations } from './migrations.js';
import { SqliteSqlDriver } from './sqlite-sql-driver.js';
import { activityStats } from './task-activity.js';
import { latencyBreakdown, taskHistory } from './task-history.js';
import { taskStats } from './task-stats.js';
import {
  dueWebhooks,
  getWebhookDelivery,
  insertPendingDelivery,
  recordWebhookAttempt,
} from './webhook-deliveries.js';

export interface SqliteTaskStoreOptions {
  /** How long a write waits for another process's write lock before failing. Default 5 s. */
  busyTimeoutMs?: number;
}

/** Rows deleted per retention transaction: short transactions keep workers' writes flowing. */
const retentionBatchSize = 1_000;
/** Bound values per `IN (…)` query, well under SQLite's variable limit. */
const inListChunk = 500;
const defaultLimit = 50;
const maxLimit = 1_000;

const selectTask = `SELECT ${sqliteTaskColumns.join(', ')} FROM tasks`;
const selectTaskWithResult =
  `SELECT ${sqliteTaskColumns.map((c) => `t.${c}`).join(', ')}, r.result AS result ` +
  'FROM tasks t LEFT JOIN task_results r ON r.task_id = t.id WHERE t.id = ?';
const insertTask = `INSERT INTO tasks (${sqliteTaskColumns.join(', ')}, lease_token)
  VALUES (${sqliteTaskColumns.map((c) => `@${c}`).join(', ')}, @lease_token)`;

/**
 * The embedded task store: one SQLite file in WAL mode. better-sqlite3 is synchronous, so each
 * method runs to completion without interleaving in this process; across processes every write
 * is a `BEGIN IMMEDIATE` transaction whose transitions are conditional updates on state and
 * lease token, checked by the number of rows changed.
 *
 * Listings return tasks with `result` left `undefined` (not loaded): results can be several MB.
 */
export class SqliteTaskStore implements TaskStore {
  readonly kind = 'sqlite';
  readonly #database: SqliteDatabase;
  /** The shared SQL state machine's driver (store/sql/), over the same database. */
  readonly #driver = new SqliteSqlDriver(() => this.#db);
  #closed = false;

  private constructor(db: SqliteDatabase) {
    this.#database = db;
  }

  /**
   * Opens (creating if needed) the task store in `file`, or `':memory:'`. A file that is not a
   * sound SQLite database is refused with `INFERQ_DATABASE_CORRUPT` and left as it is.
   */
  static open(file: string, options: SqliteTaskStoreOptions = {}): SqliteTaskStore {
    const db = openSqlite(file, {
      purpose: 'task store',
      migrations: taskStoreMigrations,
      ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }),
    });
    return new SqliteTaskStore(db);
  }

  async createTasks(tasks: readonly NewTask[]): Promise<Task[]> {
    const at = Date.now();
    const prepared = tasks.map((task) => newTaskRow(task, at));
    const insert = this.#sql(insertTask);
    const insertResult = this.#sql('INSERT INTO task_results (task_id, result) VALUES (?, ?)');
    this.#db
      .transaction(() => {
        for (const { row, result } of prepared) {
          try {
            insert.run(row);
          } catch (cause) {
            if (!isSqliteCode(cause, 'SQLITE_CONSTRAINT_PRIMARYKEY')) throw cause;
            throw new InferqError(
              'INFERQ_TASK_ID_CONFLICT',
              `a task with id ${row.id} already exists; none of the ${tasks.length} tasks was created`,
              { cause, details: { id: row.id } },
            );
          }
          this.#timeline(row.id, { stage: 'created', at });
          if (row.callback_url !== null) insertPendingDelivery(this.#db, row.id);
          if (result === undefined) this.#timeline(row.id, { stage: 'queued', at });
          else {
            insertResult.run(row.id, result);
            this.#timeline(row.id, { stage: 'succeeded', at, data: { cached: true } });
          }
        }
      })
      .immediate();
    return prepared.map(({ row, result }) => rowToTask({ ...row, result: result ?? null }));
  }

  async getTask(id: string): Promise<TaskWithTimeline | undefined> {
    return this.#db.transaction(() => {
      const task = this.#readTask(id);
      if (task === undefined) return undefined;
      const rows = this.#sql(
        'SELECT stage, at, attempt, data FROM task_timeline WHERE task_id = ? ORDER BY seq',
      ).all(id) as TimelineRow[];
      return { ...task, timeline: rows.map(rowToTimelineEntry) };
    })();
  }

  async getTaskWithoutTimeline(id: string): Promise<Task | undefined> {
    return this.#readTask(id);
  }

  async listTasks(filter: TaskFilter, page: PageRequest = {}): Promise<Page<Task>> {
    const limit = clampLimit(page.limit);
    const before = page.cursor === undefined ? undefined : decodeCursor(page.cursor, filter);
    const states = stateList(filter.state);
    // SQLite reads one (state, id) index range in id order, but not several merged: with more
    // than one state it would sort every matching row. One limited range per state, merged,
    // reads at most (states × page) index entries instead.
    const arms = (states !== undefined && states.length > 1 ? states : [undefined]).map((state) => {
      const { terms, values } = filterToSql(state === undefined ? filter : { ...filter, state });
      if (before !== undefined) {
        terms.push('id < ?');
        values.push(before);
      }
      return {
        sql: `${selectTask} ${where(terms)} ORDER BY id DESC LIMIT ?`,
        values: [...values, limit + 1],
      };
    });
    const [only] = arms;
    const sql =
      arms.length === 1 && only !== undefined
        ? only.sql
        : `${arms.map((arm) => `SELECT * FROM (${arm.sql})`).join(' UNION ALL ')} ORDER BY id DESC LIMIT ?`;
    const values = arms.flatMap((arm) => arm.values);
    if (arms.length > 1) values.push(limit + 1);
    const rows = this.#sql(sql).all(...values) as TaskRow[];
    const items = rows.slice(0, limit).map(rowToTask);
    const last = items.at(-1);
    return rows.length > limit && last !== undefined
      ? { items, nextCursor: encodeCursor(last.id, filter) }
      : { items };
  }

  async countTasks(filter: TaskFilter): Promise<Record<TaskState, number>> {
    const { terms, values } = filterToSql(filter);
    const rows = this.#sql(`SELECT state, COUNT(*) AS n FROM tasks ${where(terms)} GROUP BY state`).all(
      ...values,
    ) as { state: TaskState; n: number }[];
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
    return this.#db
      .transaction(() => {
        const done = this.#sql(cancelSql).get({ id, at }) as { attempts: number } | undefined;
        if (done === undefined) return undefined;
        this.#timeline(id, { stage: 'cancelled', at, attempt: done.attempts });
        cancelChildTasks(this.#db, id, at);
        return this.#readTask(id);
      })
      .immediate();
  }

  async releaseTask(id: string, leaseToken: string, reason: string): Promise<boolean> {
    const at = Date.now();
    return this.#db
      .transaction(() => {
        // The attempt is given back: the worker never ran it to an outcome.
        const done = this.#sql(releaseSql(this.#driver.dialect)).get({ id, at, token: leaseToken }) as
          | { attempts: number }
          | undefined;
        if (done === undefined) return false;
        this.#timeline(id, { stage: 'released', at, attempt: done.attempts + 1, data: { reason } });
        return true;
      })
      .immediate();
  }

  async createChildTasks(parentId: string, tasks: readonly NewTask[]): Promise<Task[] | undefined> {
    const at = Date.now();
    return this.#db.transaction(() => insertChildTasks(this.#db, parentId, tasks, at)).immediate();
  }

  async listChildTasks(parentId: string): Promise<Task[]> {
    return selectChildTasks(this.#db, parentId);
  }

  async appendTimeline(id: string, entries: readonly TimelineEntry[]): Promise<void> {
    this.#db.transaction(() => {
      for (const entry of entries) this.#timeline(id, entry);
    })();
  }

  async getCachedResult(key: ResultCacheKey): Promise<{ result: unknown; taskId: string } | undefined> {
    // INDEXED BY: without statistics the planner would rather walk (target, id), every task of
    // the model newest first. The window bounds the walk of the tenant's (input, owner, id) range.
    const row = this.#sql(
      `SELECT t.id, r.result FROM (
         SELECT id, target_kind, target_name, target_version, params_hash, state, parent_id
         FROM tasks INDEXED BY tasks_input_owner_id WHERE input_sha256 = ? AND owner = ?
         ORDER BY id DESC LIMIT ${cacheLookupWindow}
       ) AS t JOIN task_results AS r ON r.task_id = t.id
       WHERE t.target_kind = ? AND t.target_name = ? AND t.target_version = ?
         AND t.params_hash = ? AND t.state = 'succeeded' AND t.parent_id IS NULL
       ORDER BY t.id DESC LIMIT 1`,
    ).get(key.inputSha256, key.owner, key.target.kind, key.target.name, key.target.version, key.paramsHash) as
      | { id: string; result: string }
      | undefined;
    return row === undefined ? undefined : { result: JSON.parse(row.result), taskId: row.id };
  }

  async storedInputBytes(owner: string): Promise<number> {
    return (this.#sql(storedInputBytesSql('?')).get(owner) as { bytes: number }).bytes;
  }

  async referencedInputs(sha256s: readonly string[]): Promise<Set<string>> {
    const unique = [...new Set(sha256s)];
    const found = new Set<string>();
    for (let i = 0; i < unique.length; i += inListChunk) {
      const chunk = unique.slice(i, i + inListChunk);
      const rows = this.#sql(
        `SELECT DISTINCT input_sha256 FROM tasks WHERE input_sha256 IN (${chunk.map(() => '?').join(', ')})`,
      ).all(...chunk) as { input_sha256: string }[];
      for (const row of rows) found.add(row.input_sha256);
    }
    return found;
  }

  async deleteFinishedBefore(before: number): Promise<RetentionResult> {
    // finished_at is only ever set on final states; the state test guards that invariant, and its
    // unary + keeps the planner on the finished_at index rather than scanning every final task.
    const deleteBatch = this.#db.transaction((): number => {
      const ids = this.#sql(
        `DELETE FROM tasks WHERE id IN (
           SELECT id FROM tasks WHERE finished_at < ? AND +${stateIn(finalStates)} LIMIT ${retentionBatchSize}
         ) RETURNING id`,
      ).all(before) as { id: string }[];
      return ids.length;
    });
    let deletedTasks = 0;
    for (;;) {
      const n = deleteBatch.immediate();
      deletedTasks += n;
      if (n < retentionBatchSize) {
        deleteIdempotencyKeysBefore(this.#db, before);
        return { deletedTasks };
      }
      // Millions of old rows must not freeze the event loop (the API shares it).
      await yieldToEventLoop();
    }
  }

  async deleteTask(id: string): Promise<boolean> {
    return this.#sql('DELETE FROM tasks WHERE id = ?').run(id).changes > 0;
  }

  async claimIdempotencyKey(record: IdempotencyRecord): Promise<IdempotencyClaim> {
    return claimIdempotencyKey(this.#db, record);
  }

  async releaseIdempotencyKey(owner: string, key: string): Promise<void> {
    releaseIdempotencyKey(this.#db, owner, key);
  }

  async addFeedback(taskId: string, entry: FeedbackEntry): Promise<boolean> {
    return addFeedback(this.#db, taskId, entry);
  }

  async listFeedback(taskId: string): Promise<FeedbackEntry[]> {
    return listFeedback(this.#db, taskId);
  }

  async dueWebhooks(
    now: number,
    limit: number,
    claimMs: number,
    excludeOwners: readonly string[] = [],
  ): Promise<Task[]> {
    return dueWebhooks(this.#db, now, limit, claimMs, excludeOwners);
  }

  async recordWebhookAttempt(
    taskId: string,
    attempt: WebhookAttempt,
    outcome: WebhookOutcome,
  ): Promise<void> {
    recordWebhookAttempt(this.#db, taskId, attempt, outcome);
  }

  async getWebhookDelivery(taskId: string): Promise<WebhookDelivery | undefined> {
    return getWebhookDelivery(this.#db, taskId);
  }

  async taskStats(filter: { owner?: string; since: number }): Promise<TaskStats> {
    return taskStats(this.#db, filter);
  }

  async activityStats(filter: { owner?: string; since: number }): Promise<TargetActivity[]> {
    return activityStats(this.#db, filter);
  }

  async taskHistory(request: HistoryRequest): Promise<HistoryBucket[]> {
    return taskHistory(this.#db, request);
  }

  async latencyBreakdown(filter: { owner?: string; since: number }): Promise<LatencyBreakdown[]> {
    return latencyBreakdown(this.#db, filter);
  }

  async ping(): Promise<void> {
    try {
      this.#sql('SELECT 1').get();
    } catch (cause) {
      if (cause instanceof InferqError) throw cause;
      throw new InferqError(
        'INFERQ_STORE_UNAVAILABLE',
        `the SQLite task store ${this.#database.name} is not usable`,
        { cause },
      );
    }
  }

  /** Closes the database; a second call does nothing. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      // Lets SQLite refresh the planner statistics it found worth refreshing during this session.
      this.#database.pragma('optimize');
    } finally {
      this.#database.close();
    }
  }

  /** The open database, or `INFERQ_STORE_UNAVAILABLE` once the store is closed. */
  get #db(): SqliteDatabase {
    if (this.#closed) {
      throw new InferqError(
        'INFERQ_STORE_UNAVAILABLE',
        `the SQLite task store ${this.#database.name} is closed`,
      );
    }
    return this.#database;
  }

  /** A prepared statement, cached by its text (listing filters give a small, bounded set). */
  #sql(sql: string): Database.Statement {
    return cachedStatement(this.#db, sql);
  }

  #readTask(id: string): Task | undefined {
    const row = this.#sql(selectTaskWithResult).get(id) as TaskRow | undefined;
    return row === undefined ? undefined : rowToTask(row);
  }

  /** Appends one entry; a task that no longer exists (purged meanwhile) is skipped, not an error. */
  #timeline(id: string, entry: TimelineEntry): void {
    this.#sql(
      `INSERT INTO task_timeline (task_id, stage, at, attempt, data)
       SELECT @id, @stage, @at, @attempt, @data WHERE EXISTS (SELECT 1 FROM tasks WHERE id = @id)`,
    ).run({
      id,
      stage: entry.stage,
      at: entry.at,
      attempt: entry.attempt ?? null,
      data: entry.data === undefined ? null : JSON.stringify(entry.data),
    });
  }
}

function where(terms: readonly string[]): string {
  return terms.length === 0 ? '' : `WHERE ${terms.join(' AND ')}`;
}

function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return defaultLimit;
  return Math.min(maxLimit, Math.max(1, Math.floor(limit)));
}

function isSqliteCode(err: unknown, code: string): boolean {
  return err instanceof Error && (err as Error & { code?: unknown }).code === code;
}
