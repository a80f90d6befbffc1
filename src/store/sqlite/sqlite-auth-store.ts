import { chmodSync } from 'node:fs';
import { openSqlite, type SqliteDatabase } from '../../sqlite/open-sqlite.js';
import { SqlAuthStore } from '../sql/sql-auth-store.js';
import { authStoreMigrations } from './auth-migrations.js';
import { SqliteSqlDriver } from './sqlite-sql-driver.js';

/** Tenants and hashed API keys in one SQLite file (mode 0600: it holds webhook secrets). */
export class SqliteAuthStore extends SqlAuthStore {
  readonly kind = 'sqlite';
  readonly #db: SqliteDatabase;

  private constructor(db: SqliteDatabase) {
    // Statements are prepared once per database (the driver's cachedStatement): every request authenticates.
    super(new SqliteSqlDriver(() => db));
    this.#db = db;
  }

  static open(file: string): SqliteAuthStore {
    const db = openSqlite(file, { purpose: 'auth store', migrations: authStoreMigrations });
    if (file !== ':memory:') chmodSync(file, 0o600);
    return new SqliteAuthStore(db);
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}
