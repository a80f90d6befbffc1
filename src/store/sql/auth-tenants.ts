import type { TenantLimits } from '../auth-store.js';
import type { SqlDialect } from './sql-dialect.js';

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

/**
 * Sets the limits given and keeps the others as the row has them (never as a cache has them).
 * Parameters: `@id` and, per limit, a flag (set it or not) and its value (null: the default),
 * from {@link setTenantLimitsParams}.
 */
export function setTenantLimitsSql(d: SqlDialect): string {
  return `UPDATE auth_tenants SET
      rate_limit_per_minute = CASE WHEN @setRate THEN ${d.typed('rate', 'integer')} ELSE rate_limit_per_minute END,
      max_queued_tasks = CASE WHEN @setQueued THEN ${d.typed('queued', 'integer')} ELSE max_queued_tasks END,
      max_stored_bytes = CASE WHEN @setStored THEN ${d.typed('stored', 'bigint')} ELSE max_stored_bytes END,
      weight = CASE WHEN @setWeight THEN ${d.typed('weight', 'integer')} ELSE weight END
    WHERE id = @id RETURNING *`;
}

/** The parameters of {@link setTenantLimitsSql}: an undefined limit is not set. */
export function setTenantLimitsParams(
  d: SqlDialect,
  id: string,
  limits: TenantLimits,
): Record<string, unknown> {
  return {
    id,
    setRate: d.boolean(limits.rateLimitPerMinute !== undefined),
    rate: limits.rateLimitPerMinute ?? null,
    setQueued: d.boolean(limits.maxQueuedTasks !== undefined),
    queued: limits.maxQueuedTasks ?? null,
    setStored: d.boolean(limits.maxStoredBytes !== undefined),
    stored: limits.maxStoredBytes ?? null,
    setWeight: d.boolean(limits.weight !== undefined),
    weight: limits.weight ?? null,
  };
}

/** Parameters: `@id`, `@webhookSecret` (the new one). */
export const rotateWebhookSecretSql =
  'UPDATE auth_tenants SET webhook_secret = @webhookSecret WHERE id = @id RETURNING *';
