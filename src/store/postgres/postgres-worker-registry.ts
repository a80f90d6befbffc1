import { migratePg } from '../../postgres/migrate-pg.js';
import { openPgPool, type PgHandle } from '../../postgres/open-pg-pool.js';
import type { WorkerHeartbeat, WorkerInfo, WorkerRegistry } from '../worker-registry.js';

const migrations: readonly string[] = [
  `CREATE TABLE workers (
     id           TEXT PRIMARY KEY,
     info         TEXT NOT NULL,
     last_seen_at BIGINT NOT NULL
   )`,
];

/** Worker heartbeats on PostgreSQL: every API host sees the workers of every worker host. */
export class PostgresWorkerRegistry implements WorkerRegistry {
  #closed = false;

  private constructor(private readonly handle: PgHandle) {}

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

  async heartbeat(beat: WorkerHeartbeat, at: number = Date.now()): Promise<void> {
    await this.handle.pool.query(
      `INSERT INTO workers (id, info, last_seen_at) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET info = excluded.info, last_seen_at = excluded.last_seen_at`,
      [beat.id, JSON.stringify(beat), at],
    );
  }

  async list(): Promise<WorkerInfo[]> {
    const { rows } = await this.handle.pool.query<{ info: string; last_seen_at: number }>(
      'SELECT info, last_seen_at FROM workers ORDER BY id COLLATE "C"',
    );
    return rows.map((row) => ({
      ...(JSON.parse(row.info) as WorkerHeartbeat),
      lastSeenAt: row.last_seen_at,
    }));
  }

  async remove(id: string): Promise<void> {
    await this.handle.pool.query('DELETE FROM workers WHERE id = $1', [id]);
  }

  async prune(before: number): Promise<number> {
    const { rowCount } = await this.handle.pool.query('DELETE FROM workers WHERE last_seen_at < $1', [
      before,
    ]);
    return rowCount ?? 0;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.handle.pool.end();
  }
}
