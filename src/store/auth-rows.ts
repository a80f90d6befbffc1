import type { ApiKeyRecord, Tenant } from './auth-store.js';

/** Row shapes and mapping shared by the SQLite and PostgreSQL auth stores (same columns). */
export interface TenantRow {
  id: string;
  created_at: number;
  webhook_secret: string;
  rate_limit_per_minute: number | null;
  max_queued_tasks: number | null;
  max_stored_bytes: number | null;
  /** Null: the default weight, 1. */
  weight: number | null;
}

export interface KeyRow {
  id: string;
  tenant: string;
  key_hash: string;
  /** SQLite stores booleans as 0/1, PostgreSQL as booleans. */
  admin: boolean | number;
  name: string | null;
  created_at: number;
  revoked_at: number | null;
}

const tenantIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Tenant ids appear in logs, metrics labels and URLs: keep them plain. */
export function isValidTenantId(id: string): boolean {
  return tenantIdPattern.test(id);
}

export function toTenant(row: TenantRow): Tenant {
  return {
    id: row.id,
    createdAt: row.created_at,
    webhookSecret: row.webhook_secret,
    rateLimitPerMinute: row.rate_limit_per_minute,
    maxQueuedTasks: row.max_queued_tasks,
    maxStoredBytes: row.max_stored_bytes ?? null,
    weight: row.weight ?? 1,
  };
}

export function toKey(row: KeyRow): ApiKeyRecord {
  return {
    id: row.id,
    tenant: row.tenant,
    admin: row.admin === true || row.admin === 1,
    name: row.name,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}
