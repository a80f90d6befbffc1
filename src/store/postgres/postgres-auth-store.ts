import type pg from 'pg';
import { InferqError } from '../../errors/index.js';
import { migratePg } from '../../postgres/migrate-pg.js';
import { openPgPool, type PgHandle } from '../../postgres/open-pg-pool.js';
import { SqlAuthStore } from '../sql/sql-auth-store.js';
import { authStoreMigrations } from './auth-migrations.js';
import { PgSqlDriver } from './pg-sql-driver.js';

/**
 * Tenants and hashed API keys on PostgreSQL, so every API host verifies the same keys. Shares
 * the task store's schema (component `auth` in `inferq_schema`); restrict access to the schema
 * with PostgreSQL grants, as the SQLite store does with file mode 0600.
 */
export class PostgresAuthStore extends SqlAuthStore {
  readonly kind = 'postgres';
  readonly #handle: PgHandle;
  #closed = false;

  private constructor(handle: PgHandle) {
    super(new PgSqlDriver(() => this.#pool));
    this.#handle = handle;
  }

  static async open(url: string, options: { schema?: string } = {}): Promise<PostgresAuthStore> {
    const handle = openPgPool(url, { purpose: 'auth store', max: 3, ...options });
    try {
      await migratePg(handle, 'auth', authStoreMigrations);
    } catch (cause) {
      await handle.pool.end().catch(() => {});
      throw new InferqError('INFERQ_STORE_UNAVAILABLE', 'cannot open the PostgreSQL auth store', { cause });
    }
    return new PostgresAuthStore(handle);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#handle.pool.end();
  }

  get #pool(): pg.Pool {
    if (this.#closed)
      throw new InferqError('INFERQ_STORE_UNAVAILABLE', 'the PostgreSQL auth store is closed');
    return this.#handle.pool;
  }
}
