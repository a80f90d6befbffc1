import type { SqlDialect } from './sql-dialect.js';

/*
 * The statements of the auth store's API keys (table auth_api_keys), each returning whole rows
 * (KeyRow) where it returns any. Only a key's hash is ever stored.
 */

/**
 * Parameters: `@id`, `@tenant`, `@keyHash`, `@admin` (the dialect's boolean), `@name`,
 * `@createdAt`.
 */
export const insertApiKeySql = `INSERT INTO auth_api_keys (id, tenant, key_hash, admin, name, created_at)
  VALUES (@id, @tenant, @keyHash, @admin, @name, @createdAt) RETURNING *`;

/** Parameters: `@id`. */
export const selectApiKeySql = 'SELECT * FROM auth_api_keys WHERE id = @id';

/**
 * Newest first, ties by id in byte order (descending). Parameters: `@tenant` when `byTenant`
 * (then the index on tenant serves it), none otherwise.
 */
export function listApiKeysSql(d: SqlDialect, byTenant: boolean): string {
  return `SELECT * FROM auth_api_keys ${byTenant ? 'WHERE tenant = @tenant' : ''}
    ORDER BY created_at DESC, ${d.byteOrder('id')} DESC`;
}

/** Revokes a live key; changes no row when it is unknown or already revoked. Parameters: `@id`, `@at`. */
export const revokeApiKeySql =
  'UPDATE auth_api_keys SET revoked_at = @at WHERE id = @id AND revoked_at IS NULL';
