import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type Database from 'better-sqlite3';
import type { NewTask, Task, TimelineEntry } from '../../core/task.js';
import type { TaskJobWriter } from '../../core/task-job.js';
import { finalStates } from '../../core/task-state.js';
import { InferqError } from '../../errors/index.js';
import { cachedStatement } from '../../sqlite/cached-statement.js';
import { openSqlite, type SqliteDatabase } from '../../sqlite/open-sqlite.js';
import { deleteKeysBeforeSql } from '../sql/idempotency-keys.js';
import { stateIn } from '../sql/lease-terms.js';
import { SqlTaskStore } from '../sql/sql-task-store.js';
import type { TaskDatabase } from '../task-database.js';
import { newTaskRow, rowToTask } from '../task-rows.js';
import type { ChildTasksRead, CreateTasksOptions, RetentionResult } from '../task-store.js';
import {
  insertChildTasks,
  selectChildTasks,
  selectChildTasksChangedSince,
  sqliteTaskColumns,
} from './child-tasks.js';
import { taskStoreMigrations } from './migrations.js';
import { SqliteSqlDriver } from './sqlite-sql-driver.js';
import { insertPendingDelivery } from './webhook-deliveries.js';

export interface SqliteTaskStoreOptions {
  /** How long a write waits for another process's write lock before failing. Default 5 s. */
  busyTimeoutMs?: number;
  /**
   * Given this store's connection, the writer of the queued tasks' jobs, run inside each
   * `createTasks` transaction (core/task-job.ts): the embedded broker opened in the same file on
   * the same connection (`SqliteBroker.inTaskDatabase`). One connection, because a second one's
   * write inside this connection's `BEGIN IMMEDIATE` would wait on the lock this one holds.
   */
  jobs?: (db: SqliteDatabase) => TaskJobWriter;
}

/** Rows deleted per retention transaction: short transactions keep workers' writes flowing. */
const retentionBatchSize = 1_000;

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
export class SqliteTaskStore extends SqlTaskStore implements TaskDatabase {
  readonly kind = 'sqlite';
  readonly #database: SqliteDatabase;
  readonly #writeJobs: TaskJobWriter | undefined;
  #closed = false;

  private constructor(db: SqliteDatabase, jobs: SqliteTaskStoreOptions['jobs']) {
    // The shared SQL state machine (store/sql/) runs on the same database, refused once closed.
    super(new SqliteSqlDriver(() => this.#db));
    this.#database = db;
    this.#writeJobs = jobs?.(db);
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
    try {
      return new SqliteTaskStore(db, options.jobs);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  async createTasks(tasks: readonly NewTask[], options: CreateTasksOptions = {}): Promise<Task[]> {
    const at = Date.now();
    const prepared = tasks.map((task) => newTaskRow(task, at));
    const created = prepared.map(({ row, result }) => rowToTask({ ...row, result: result ?? null }));
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
        this.#writeJobs?.(created, options.weights);
      })
      .immediate();
    return created;
  }

  async createChildTasks(parentId: string, tasks: readonly NewTask[]): Promise<Task[] | undefined> {
    const at = Date.now();
    // As in createTasks: embedded, the new children's jobs commit with them (so the
    // advance enqueues none of them: AdvancePipelineDeps.jobsWrittenByStore).
    return this.#db
      .transaction(() => {
        const created = insertChildTasks(this.#db, parentId, tasks, at);
        if (created !== undefined) this.#writeJobs?.(created);
        return created;
      })
      .immediate();
  }

  async listChildTasks(parentId: string): Promise<Task[]> {
    return selectChildTasks(this.#db, parentId);
  }

  async listChildTasksChangedSince(parentId: string, cursor?: string): Promise<ChildTasksRead> {
    return selectChildTasksChangedSince(this.#db, parentId, cursor);
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
        this.#sql(deleteKeysBeforeSql).run({ before });
        return { deletedTasks };
      }
      // Millions of old rows must not freeze the event loop (the API shares it).
      await yieldToEventLoop();
    }
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

function isSqliteCode(err: unknown, code: string): boolean {
  return err instanceof Error && (err as Error & { code?: unknown }).code === code;
}
