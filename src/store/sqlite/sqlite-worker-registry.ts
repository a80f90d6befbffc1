import { openSqlite, type SqliteDatabase } from '../../sqlite/open-sqlite.js';
import { SqlWorkerRegistry } from '../sql/sql-worker-registry.js';
import { SqliteSqlDriver } from './sqlite-sql-driver.js';

const migrations = [
  `CREATE TABLE workers (
     id TEXT PRIMARY KEY,
     info TEXT NOT NULL,
     last_seen_at INTEGER NOT NULL
   )`,
];

/** Worker heartbeats in a SQLite file (by default the task store's file, as its own component). */
export class SqliteWorkerRegistry extends SqlWorkerRegistry {
  private constructor(private readonly db: SqliteDatabase) {
    super(new SqliteSqlDriver(() => db));
  }

  static open(file: string): SqliteWorkerRegistry {
    return new SqliteWorkerRegistry(openSqlite(file, { purpose: 'worker registry', migrations }));
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
