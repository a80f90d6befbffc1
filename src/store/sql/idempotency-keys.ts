import type { IdempotencyClaim, IdempotencyRecord } from '../idempotency-keys.js';
import type { SqlDriver } from './sql-driver.js';

/**
 * Claims an idempotency key, or reads who holds it. Parameters: `@owner`, `@key`,
 * `@fingerprint`, `@requestId`, `@createdAt`.
 *
 * Two concurrent claims of one key serialise on the primary key: exactly one inserts. The
 * insert is one statement (the common case costs one round trip, no transaction); a claim
 * that lost reads the holder, and tries again in the rare case that the key was released
 * between the two.
 */
export const insertKeySql = `INSERT INTO idempotency_keys (owner, key, fingerprint, request_id, created_at)
  VALUES (@owner, @key, @fingerprint, @requestId, @createdAt) ON CONFLICT (owner, key) DO NOTHING RETURNING key`;

/** Parameters: `@owner`, `@key`. */
export const selectKeySql = `SELECT fingerprint, request_id, created_at FROM idempotency_keys
  WHERE owner = @owner AND key = @key`;

export async function claimIdempotencyKey(
  driver: SqlDriver,
  record: IdempotencyRecord,
): Promise<IdempotencyClaim> {
  const { owner, key } = record;
  for (;;) {
    const inserted = await driver.one(insertKeySql, {
      owner,
      key,
      fingerprint: record.fingerprint,
      requestId: record.requestId,
      createdAt: record.createdAt,
    });
    if (inserted !== undefined) return { claimed: true };
    const row = await driver.one<{ fingerprint: string; request_id: string; created_at: number }>(
      selectKeySql,
      {
        owner,
        key,
      },
    );
    if (row !== undefined) {
      const existing = {
        owner,
        key,
        fingerprint: row.fingerprint,
        requestId: row.request_id,
        createdAt: row.created_at,
      };
      return { claimed: false, existing };
    }
  }
}

/** Parameters: `@owner`, `@key`. */
export const deleteKeySql = 'DELETE FROM idempotency_keys WHERE owner = @owner AND key = @key';

/** Keys live as long as tasks: retention drops those older than the oldest kept task. Parameters: `@before`. */
export const deleteKeysBeforeSql = 'DELETE FROM idempotency_keys WHERE created_at < @before';
