import type pg from 'pg';
import { inTransaction, type PgHandle } from './open-pg-pool.js';

/**
 * Brings one component's tables (`tasks`, `auth`, `workers`, `blobs`) up to date in the pool's
 * schema. Versions are rows of `inferq_schema` (one per component, so components version
 * independently and can share a schema). Migrations are append only, index + 1 = version.
 *
 * Everything runs in one transaction behind a transaction-scoped advisory lock keyed by the
 * schema: when several hosts start at once, one migrates and the others wait, then find the
 * version current and do nothing. PostgreSQL DDL is transactional, so a failed migration leaves
 * the previous version intact.
 *
 * @returns the version before and after.
 */
export async function migratePg(
  handle: PgHandle,
  component: string,
  migrations: readonly string[],
): Promise<{ from: number; to: number }> {
  return inTransaction(handle.pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`inferq:${handle.schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${handle.schema}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${handle.schema}.inferq_schema (
         component  TEXT PRIMARY KEY,
         version    INTEGER NOT NULL,
         applied_at BIGINT NOT NULL
       )`,
    );
    const from = await currentVersion(client, handle.schema, component);
    for (let version = from + 1; version <= migrations.length; version++) {
      await client.query(migrations[version - 1]!);
    }
    if (migrations.length > from) {
      await client.query(
        `INSERT INTO ${handle.schema}.inferq_schema (component, version, applied_at) VALUES ($1, $2, $3)
         ON CONFLICT (component) DO UPDATE SET version = excluded.version, applied_at = excluded.applied_at`,
        [component, migrations.length, Date.now()],
      );
    }
    return { from, to: Math.max(from, migrations.length) };
  });
}

async function currentVersion(client: pg.PoolClient, schema: string, component: string): Promise<number> {
  const { rows } = await client.query<{ version: number }>(
    `SELECT version FROM ${schema}.inferq_schema WHERE component = $1`,
    [component],
  );
  return rows[0]?.version ?? 0;
}
