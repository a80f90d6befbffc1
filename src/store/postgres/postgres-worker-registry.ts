import { migratePg } from '../../postgres/migrate-pg.js';
import { openPgPool, type PgHandle } from '../../postgres/open-pg-pool.js';
import { SqlWorkerRegistry } from '../sql/sql-worker-registry.js';
import { PgSqlDriver } from './pg-sql-driver.js';

const migrations: readonly string[] = [
  `CREATE TABLE workers (
     id           TEXT PRIMARY KEY,
     info         TEXT NOT NULL,
     last_seen_at BIGINT NOT NULL
   )`,
];

/** Worker heartbeats on PostgreSQL: every API host sees the workers of every worker host. */
export class PostgresWorkerRegistry extends SqlWorkerRegistry {
  #closed = false;

  private constructor(private readonly handle: PgHandle) {
    super(new PgSqlDriver(() => handle.pool));
  }

  static async open(url: string, options: { schema?: string } = {}): Promise<PostgresWorkerRegistry> {
    const handle = openPgPool(url, { purpose: 'worker registry', max: 2, ...options });
    try {
      await migratePg(handle, 'workers', migrations);
    } catch (err) {
      await handle.pool.end().catch(() => {});
      throw err;
    }
    return new PostgresWorkerRegistry(handle);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.handle.pool.end();
  }
}
