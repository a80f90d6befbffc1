import type pg from 'pg';
import type { NewTask, Task } from '../../core/task.js';
import { finalStates } from '../../core/task-state.js';
import { InferqError } from '../../errors/index.js';
import { migratePg } from '../../postgres/migrate-pg.js';
import { inTransaction, openPgPool, type PgHandle, pgErrorCode } from '../../postgres/open-pg-pool.js';
import type { PgTaskJobStatements } from '../../postgres/pg-task-jobs.js';
import { deleteKeysBeforeSql } from '../sql/idempotency-keys.js';
import { SqlTaskStore } from '../sql/sql-task-store.js';
import type { TaskDatabase } from '../task-database.js';
import { newTaskRow, rowToTask } from '../task-rows.js';
import type { ChildTasksRead, CreateTasksOptions, RetentionResult } from '../task-store.js';
import { insertChildTasks, selectChildTasks, selectChildTasksChangedSince } from './pg-child-tasks.js';
import { PgSqlDriver } from './pg-sql-driver.js';
import { insertTasksWithTimelines, stateIn } from './pg-task-sql.js';
import { pgTaskStoreMigrations } from './task-migrations.js';

export interface PostgresTaskStoreOptions {
  /** Overrides the URL's `?schema=`. */
  schema?: string;
  /** Pool size (default 10). */
  maxConnections?: number;
  /** Apply pending migrations on open (default true; `inferq migrate` does it ahead of time). */
  migrate?: boolean;
  /**
   * The statements writing the queued tasks' jobs, run inside each `createTasks` transaction
   * on its client (postgres/pg-task-jobs.ts): the postgres broker on this store's own database
   * and schema (PostgreSQL alone, `PostgresBroker.taskJobStatements`). Each task then commits
   * with its job, and the caller enqueues nothing.
   */
  jobs?: PgTaskJobStatements;
}

/** Rows deleted per retention statement: short transactions keep workers' writes flowing. */
const retentionBatchSize = 1_000;

/**
 * The distributed task store on PostgreSQL. Every transition is one conditional UPDATE on
 * (state, lease_token) checked through RETURNING; the claim, which must choose between a fresh
 * lease and a take-over, first locks the row (`FOR UPDATE`) so two workers that received the
 * same job serialise on it, and the loser sees the winner's token.
 *
 * Listings return tasks with `result` left `undefined` (not loaded), as the SQLite store does.
 */
export class PostgresTaskStore extends SqlTaskStore implements TaskDatabase {
  readonly kind = 'postgres';
  readonly #handle: PgHandle;
  readonly #jobs: PgTaskJobStatements | undefined;
  #closed = false;

  private constructor(handle: PgHandle, jobs: PgTaskJobStatements | undefined) {
    // The shared SQL state machine (store/sql/) runs on the same pool, refused once closed.
    super(new PgSqlDriver(() => this.#pool));
    this.#handle = handle;
    this.#jobs = jobs;
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
    return new PostgresTaskStore(handle, options.jobs);
  }

  async createTasks(tasks: readonly NewTask[], options: CreateTasksOptions = {}): Promise<Task[]> {
    if (tasks.length === 0) return [];
    const at = Date.now();
    const prepared = tasks.map((task) => newTaskRow(task, at));
    const rows = prepared.map((p) => p.row);
    const created = prepared.map(({ row, result }) => rowToTask({ ...row, result: result ?? null }));
    const timeline = prepared.flatMap(({ row, result }) => [
      { id: row.id, entry: { stage: 'created', at } },
      result === undefined
        ? { id: row.id, entry: { stage: 'queued', at } }
        : { id: row.id, entry: { stage: 'succeeded', at, data: { cached: true } } },
    ]);
    const insert = insertTasksWithTimelines(rows, timeline);
    await inTransaction(this.#pool, async (client) => {
      try {
        await client.query(insert.text, insert.values);
      } catch (cause) {
        if (pgErrorCode(cause) !== '23505') throw cause;
        const id = /\(id\)=\((.*)\)/.exec(String((cause as { detail?: unknown }).detail))?.[1] ?? '?';
        throw new InferqError(
          'INFERQ_TASK_ID_CONFLICT',
          `a task with id ${id} already exists; none of the ${tasks.length} tasks was created`,
          { cause, details: { id } },
        );
      }
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
      // The jobs last: their NOTIFY goes out with this COMMIT, and a job that cannot be written
      // rolls its tasks back.
      for (const job of this.#jobs?.(created, options.weights) ?? [])
        await client.query(job.text, job.values);
    });
    return created;
  }

  async createChildTasks(parentId: string, tasks: readonly NewTask[]): Promise<Task[] | undefined> {
    const at = Date.now();
    // As in createTasks: on PostgreSQL alone the new children's jobs commit with them (so the
    // advance enqueues none of them: AdvancePipelineDeps.jobsWrittenByStore).
    return inTransaction(this.#pool, async (client) => {
      const created = await insertChildTasks(client, parentId, tasks, at);
      if (created !== undefined) {
        for (const job of this.#jobs?.(created) ?? []) await client.query(job.text, job.values);
      }
      return created;
    });
  }

  async listChildTasks(parentId: string): Promise<Task[]> {
    return selectChildTasks(this.#pool, parentId);
  }

  async listChildTasksChangedSince(parentId: string, cursor?: string): Promise<ChildTasksRead> {
    return selectChildTasksChangedSince(this.#pool, parentId, cursor);
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
    await this.driver.run(deleteKeysBeforeSql, { before });
    return { deletedTasks };
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

function unavailable(message: string, cause?: unknown): InferqError {
  return new InferqError('INFERQ_STORE_UNAVAILABLE', message, cause === undefined ? {} : { cause });
}
