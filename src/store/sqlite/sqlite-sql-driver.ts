import { cachedStatement } from '../../sqlite/cached-statement.js';
import type { SqliteDatabase } from '../../sqlite/open-sqlite.js';
import { type SqlDialect, sqliteDialect } from '../sql/sql-dialect.js';
import {
  runProgramSync,
  type SqlDriver,
  type SqlParams,
  type SqlProgram,
  type SqlStep,
} from '../sql/sql-driver.js';

/**
 * The shared SQL state machine's driver over better-sqlite3. Statements are prepared once per
 * database (cachedStatement); a transaction runs its program synchronously inside one
 * `BEGIN IMMEDIATE`, so nothing of this process interleaves with it and other processes wait on
 * the write lock.
 */
export class SqliteSqlDriver implements SqlDriver {
  readonly dialect: SqlDialect = sqliteDialect;

  /** `db` is asked for on every statement: the store's getter refuses once it is closed. */
  constructor(private readonly db: () => SqliteDatabase) {}

  async all<R>(sql: string, params: SqlParams = {}): Promise<R[]> {
    return this.#execute({ op: 'all', sql, params }) as R[];
  }

  async one<R>(sql: string, params: SqlParams = {}): Promise<R | undefined> {
    return this.#execute({ op: 'one', sql, params }) as R | undefined;
  }

  async run(sql: string, params: SqlParams = {}): Promise<number> {
    return this.#execute({ op: 'run', sql, params }) as number;
  }

  async tx<T>(program: () => SqlProgram<T>): Promise<T> {
    return this.db()
      .transaction(() => runProgramSync(program(), (step) => this.#execute(step)))
      .immediate();
  }

  async read<T>(program: () => SqlProgram<T>): Promise<T> {
    // A deferred transaction: its first read takes the snapshot the rest see (WAL).
    return this.db().transaction(() => runProgramSync(program(), (step) => this.#execute(step)))();
  }

  #execute(step: SqlStep): unknown {
    const statement = cachedStatement(this.db(), step.sql);
    switch (step.op) {
      case 'all':
        return statement.all(step.params);
      case 'one':
        return statement.get(step.params);
      case 'run':
        return statement.run(step.params).changes;
    }
  }
}
