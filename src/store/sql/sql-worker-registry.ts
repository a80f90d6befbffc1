import type { WorkerHeartbeat, WorkerInfo, WorkerRegistry } from '../worker-registry.js';
import type { SqlDialect } from './sql-dialect.js';
import type { SqlDriver } from './sql-driver.js';

/**
 * A worker's heartbeat, its row replaced whole (table workers: `info` is the heartbeat as JSON
 * text, read back as it was written). Parameters: `@id`, `@info`, `@at` (the worker's clock, ms).
 */
export const heartbeatSql = `INSERT INTO workers (id, info, last_seen_at) VALUES (@id, @info, @at)
  ON CONFLICT (id) DO UPDATE SET info = excluded.info, last_seen_at = excluded.last_seen_at`;

/** Every worker, in byte order of id. No parameters. */
export function listWorkersSql(d: SqlDialect): string {
  return `SELECT info, last_seen_at FROM workers ORDER BY ${d.byteOrder('id')}`;
}

/** Parameters: `@id`. */
export const removeWorkerSql = 'DELETE FROM workers WHERE id = @id';

/** Parameters: `@before` (ms). */
export const pruneWorkersSql = 'DELETE FROM workers WHERE last_seen_at < @before';

/**
 * `WorkerRegistry` written once over a {@link SqlDriver}. SqliteWorkerRegistry and
 * PostgresWorkerRegistry extend it and add only opening (migrations) and closing.
 */
export abstract class SqlWorkerRegistry implements WorkerRegistry {
  protected constructor(protected readonly driver: SqlDriver) {}

  async heartbeat(beat: WorkerHeartbeat, at: number = Date.now()): Promise<void> {
    await this.driver.run(heartbeatSql, { id: beat.id, info: JSON.stringify(beat), at });
  }

  async list(): Promise<WorkerInfo[]> {
    const rows = await this.driver.all<{ info: string; last_seen_at: number }>(
      listWorkersSql(this.driver.dialect),
    );
    return rows.map((row) => ({
      ...(JSON.parse(row.info) as WorkerHeartbeat),
      lastSeenAt: row.last_seen_at,
    }));
  }

  async remove(id: string): Promise<void> {
    await this.driver.run(removeWorkerSql, { id });
  }

  async prune(before: number): Promise<number> {
    return this.driver.run(pruneWorkersSql, { before });
  }

  abstract close(): Promise<void>;
}
