import type { SqliteDatabase } from '../../sqlite/open-sqlite.js';
import type { IdempotencyClaim, IdempotencyRecord } from '../task-store.js';

interface IdempotencyRow {
  owner: string;
  key: string;
  fingerprint: string;
  request_id: string;
  created_at: number;
}

/**
 * Insert-or-read in one statement pair inside an immediate transaction: two concurrent requests
 * with one key cannot both claim it.
 */
export function claimIdempotencyKey(db: SqliteDatabase, record: IdempotencyRecord): IdempotencyClaim {
  return db
    .transaction((): IdempotencyClaim => {
      const inserted = db
        .prepare(
          `INSERT INTO idempotency_keys (owner, key, fingerprint, request_id, created_at)
           VALUES (?, ?, ?, ?, ?) ON CONFLICT (owner, key) DO NOTHING`,
        )
        .run(record.owner, record.key, record.fingerprint, record.requestId, record.createdAt);
      if (inserted.changes > 0) return { claimed: true };
      const row = db
        .prepare('SELECT * FROM idempotency_keys WHERE owner = ? AND key = ?')
        .get(record.owner, record.key) as IdempotencyRow;
      return {
        claimed: false,
        existing: {
          owner: row.owner,
          key: row.key,
          fingerprint: row.fingerprint,
          requestId: row.request_id,
          createdAt: row.created_at,
        },
      };
    })
    .immediate();
}

export function releaseIdempotencyKey(db: SqliteDatabase, owner: string, key: string): void {
  db.prepare('DELETE FROM idempotency_keys WHERE owner = ? AND key = ?').run(owner, key);
}

/** Keys live as long as tasks: retention drops those older than the oldest kept task. */
export function deleteIdempotencyKeysBefore(db: SqliteDatabase, before: number): void {
  db.prepare('DELETE FROM idempotency_keys WHERE created_at < ?').run(before);
}
