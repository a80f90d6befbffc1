import type { TenantLimits } from '../auth-store.js';
import type { SqlDialect, SqlType } from './sql-dialect.js';

/*
 * The statements of the auth store's tenants (table auth_tenants), each returning whole rows
 * (TenantRow) where it returns any.
 */

/**
 * Creates the tenant if missing; a tenant already there is left as it is, unwritten (webhook
 * deliveries ensure their tenant every time). Parameters: `@id`, `@createdAt`, `@webhookSecret`.
 */
export const insertTenantSql = `INSERT INTO auth_tenants (id, created_at, webhook_secret)
  VALUES (@id, @createdAt, @webhookSecret) ON CONFLICT (id) DO NOTHING`;

/** Parameters: `@id`. */
export const selectTenantSql = 'SELECT * FROM auth_tenants WHERE id = @id';

/** Every tenant, in byte order of id. No parameters. */
export function listTenantsSql(d: SqlDialect): string {
  return `SELECT * FROM auth_tenants ORDER BY ${d.byteOrder('id')}`;
}

/** Each limit's column, its key in TenantLimits and its type: the one list setTenantLimits reads. */
const limitColumns = [
  ['rate_limit_per_minute', 'rateLimitPerMinute', 'integer'],
  ['max_queued_tasks', 'maxQueuedTasks', 'integer'],
  ['max_stored_bytes', 'maxStoredBytes', 'bigint'],
  ['weight', 'weight', 'integer'],
] as const satisfies ReadonlyArray<readonly [string, keyof TenantLimits, SqlType]>;

/**
 * Sets the limits given and keeps the others as the row has them (never as a cache has them).
 * Parameters: `@id` and, per limit, `@set_<key>` (set it or not) and `@<key>` (its value, null:
 * the default), from {@link setTenantLimitsParams}.
 */
export function setTenantLimitsSql(d: SqlDialect): string {
  const sets = limitColumns.map(
    ([column, key, type]) =>
      `${column} = CASE WHEN @set_${key} THEN ${d.typed(key, type)} ELSE ${column} END`,
  );
  return `UPDATE auth_tenants SET ${sets.join(',\n      ')} WHERE id = @id RETURNING *`;
}

/** The parameters of {@link setTenantLimitsSql}: an undefined limit is not set. */
export function setTenantLimitsParams(
  d: SqlDialect,
  id: string,
  limits: TenantLimits,
): Record<string, unknown> {
  const params: Record<string, unknown> = { id };
  for (const [, key] of limitColumns) {
    params[`set_${key}`] = d.boolean(limits[key] !== undefined);
    params[key] = limits[key] ?? null;
  }
  return params;
}

/** Parameters: `@id`, `@webhookSecret` (the new one). */
export const rotateWebhookSecretSql =
  'UPDATE auth_tenants SET webhook_secret = @webhookSecret WHERE id = @id RETURNING *';
