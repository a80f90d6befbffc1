import { openSqlite, type SqliteDatabase } from '../../sqlite/open-sqlite.js';
import type { WorkerHeartbeat, WorkerInfo, WorkerRegistry } from '../worker-registry.js';

const migrations = [
  `CREATE TABLE workers (
     id TEXT PRIMARY KEY,
     info TEXT NOT NULL,
     last_seen_at INTEGER NOT NULL
   )`,
];

/** Worker heartbeats in a SQLite file (by default the task store's file, as its own component). */
export class SqliteWorkerRegistry implements WorkerRegistry {
  private constructor(private readonly db: SqliteDatabase) {}

  static open(file: string): SqliteWorkerRegistry {
    return new SqliteWorkerRegistry(openSqlite(file, { purpose: 'worker registry', migrations }));
  }

  async heartbeat(beat: WorkerHeartbeat, at: number = Date.now()): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO workers (id, info, last_seen_at) VALUES (?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET info = excluded.info, last_seen_at = excluded.last_seen_at`,
      )
      .run(beat.id, JSON.stringify(beat), at);
  }

  async list(): Promise<WorkerInfo[]> {
    const rows = this.db
      .prepare<[], { info: string; last_seen_at: number }>(
        'SELECT info, last_seen_at FROM workers ORDER BY id',
      )
      .all();
    return rows.map((row) => ({
      ...(JSON.parse(row.info) as WorkerHeartbeat),
      lastSeenAt: row.last_seen_at,
    }));
  }

  async remove(id: string): Promise<void> {
    this.db.prepare('DELETE FROM workers WHERE id = ?').run(id);
  }

  async prune(before: number): Promise<number> {
    return this.db.prepare('DELETE FROM workers WHERE last_seen_at < ?').run(before).changes;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
