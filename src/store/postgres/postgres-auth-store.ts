import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { apiKeyId, apiKeyMatches, newApiKey } from '../../core/api-key.js';
import { InferqError } from '../../errors/index.js';
import { migratePg } from '../../postgres/migrate-pg.js';
import { openPgPool, type PgHandle } from '../../postgres/open-pg-pool.js';
import { isValidTenantId, type KeyRow, type TenantRow, toKey, toTenant } from '../auth-rows.js';
import type {
  ApiKeyRecord,
  AuthStore,
  CreateApiKeyRequest,
  CreatedApiKey,
  Tenant,
  TenantLimits,
} from '../auth-store.js';
import { tenantCacheTtlMs } from '../auth-store.js';
import { TtlCache } from '../ttl-cache.js';

const migrations: readonly string[] = [
  `
  CREATE TABLE auth_tenants (
    id                     TEXT PRIMARY KEY,
    created_at             BIGINT NOT NULL,
    webhook_secret         TEXT NOT NULL,
    rate_limit_per_minute  INTEGER,
    max_queued_tasks       INTEGER
  );
  CREATE TABLE auth_api_keys (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL REFERENCES auth_tenants (id),
    key_hash    TEXT NOT NULL,
    admin       BOOLEAN NOT NULL,
    name        TEXT,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
  );
  CREATE INDEX auth_api_keys_tenant ON auth_api_keys (tenant, created_at);
  `,
  `
  -- Deployment-wide settings, one row each: the token signing secret ('signing-secret'), which
  -- every API host must share.
  CREATE TABLE auth_settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
  `
  -- The tenant's storage quota: input bytes its tasks may keep stored (null: api.maxStoredBytes).
  ALTER TABLE auth_tenants ADD COLUMN max_stored_bytes BIGINT;
  `,
  `
  -- The tenant's fair-share weight (null: 1), see Tenant.weight.
  ALTER TABLE auth_tenants ADD COLUMN weight INTEGER;
  `,
];

/**
 * Tenants and hashed API keys on PostgreSQL, so every API host verifies the same keys. Shares
 * the task store's schema (component `auth` in `inferq_schema`); restrict access to the schema
 * with PostgreSQL grants, as the SQLite store does with file mode 0600.
 */
export class PostgresAuthStore implements AuthStore {
  readonly kind = 'postgres';
  readonly #handle: PgHandle;
  /** Read on every request (rate limit, queue limit); see tenantCacheTtlMs. */
  readonly #tenants = new TtlCache<Tenant | undefined>(tenantCacheTtlMs);
  #closed = false;

  private constructor(handle: PgHandle) {
    this.#handle = handle;
  }

  static async open(url: string, options: { schema?: string } = {}): Promise<PostgresAuthStore> {
    const handle = openPgPool(url, { purpose: 'auth store', max: 3, ...options });
    try {
      await migratePg(handle, 'auth', migrations);
    } catch (cause) {
      await handle.pool.end().catch(() => {});
      throw new InferqError('INFERQ_STORE_UNAVAILABLE', 'cannot open the PostgreSQL auth store', { cause });
    }
    return new PostgresAuthStore(handle);
  }

  async ensureTenant(id: string, at: number = Date.now()): Promise<Tenant> {
    if (!isValidTenantId(id)) {
      throw new InferqError(
        'INFERQ_VALIDATION_FAILED',
        `tenant id "${id}" must be 1-64 letters, digits, . _ - (starting with a letter or digit)`,
        { details: { tenant: id } },
      );
    }
    // The no-op update makes RETURNING give the row whether it was inserted or already there.
    const { rows } = await this.#pool.query<TenantRow>(
      `INSERT INTO auth_tenants AS t (id, created_at, webhook_secret) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET id = t.id RETURNING *`,
      [id, at, randomBytes(32).toString('base64url')],
    );
    this.#tenants.delete(id);
    return toTenant(rows[0]!);
  }

  async getTenant(id: string): Promise<Tenant | undefined> {
    return this.#tenants.get(id, async () => {
      const { rows } = await this.#pool.query<TenantRow>('SELECT * FROM auth_tenants WHERE id = $1', [id]);
      return rows[0] === undefined ? undefined : toTenant(rows[0]);
    });
  }

  async listTenants(): Promise<Tenant[]> {
    const { rows } = await this.#pool.query<TenantRow>('SELECT * FROM auth_tenants ORDER BY id COLLATE "C"');
    return rows.map(toTenant);
  }

  async setTenantLimits(id: string, limits: TenantLimits): Promise<Tenant | undefined> {
    // An undefined limit keeps its value; null sets it back to the server default.
    const { rows } = await this.#pool.query<TenantRow>(
      `UPDATE auth_tenants SET
         rate_limit_per_minute = CASE WHEN $2 THEN $3::int ELSE rate_limit_per_minute END,
         max_queued_tasks = CASE WHEN $4 THEN $5::int ELSE max_queued_tasks END,
         max_stored_bytes = CASE WHEN $6 THEN $7::bigint ELSE max_stored_bytes END,
         weight = CASE WHEN $8 THEN $9::int ELSE weight END
       WHERE id = $1 RETURNING *`,
      [
        id,
        limits.rateLimitPerMinute !== undefined,
        limits.rateLimitPerMinute ?? null,
        limits.maxQueuedTasks !== undefined,
        limits.maxQueuedTasks ?? null,
        limits.maxStoredBytes !== undefined,
        limits.maxStoredBytes ?? null,
        limits.weight !== undefined,
        limits.weight ?? null,
      ],
    );
    this.#tenants.delete(id);
    return rows[0] === undefined ? undefined : toTenant(rows[0]);
  }

  async rotateWebhookSecret(id: string): Promise<Tenant | undefined> {
    const { rows } = await this.#pool.query<TenantRow>(
      'UPDATE auth_tenants SET webhook_secret = $2 WHERE id = $1 RETURNING *',
      [id, randomBytes(32).toString('base64url')],
    );
    this.#tenants.delete(id);
    return rows[0] === undefined ? undefined : toTenant(rows[0]);
  }

  async createApiKey(request: CreateApiKeyRequest): Promise<CreatedApiKey> {
    const at = request.at ?? Date.now();
    await this.ensureTenant(request.tenant, at);
    const { id, key, hash } = newApiKey();
    const { rows } = await this.#pool.query<KeyRow>(
      `INSERT INTO auth_api_keys (id, tenant, key_hash, admin, name, created_at)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
      [id, request.tenant, hash, request.admin === true, request.name ?? null, at],
    );
    return { key, record: toKey(rows[0]!) };
  }

  async verifyApiKey(key: string): Promise<ApiKeyRecord | undefined> {
    const id = apiKeyId(key);
    if (id === undefined) return undefined;
    const { rows } = await this.#pool.query<KeyRow>('SELECT * FROM auth_api_keys WHERE id = $1', [id]);
    const row = rows[0];
    if (row === undefined || row.revoked_at !== null || !apiKeyMatches(key, row.key_hash)) return undefined;
    return toKey(row);
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    const { rows } = await this.#pool.query<KeyRow>('SELECT * FROM auth_api_keys WHERE id = $1', [id]);
    return rows[0] === undefined ? undefined : toKey(rows[0]);
  }

  async listApiKeys(filter: { tenant?: string } = {}): Promise<ApiKeyRecord[]> {
    const { rows } =
      filter.tenant === undefined
        ? await this.#pool.query<KeyRow>(
            'SELECT * FROM auth_api_keys ORDER BY created_at DESC, id COLLATE "C" DESC',
          )
        : await this.#pool.query<KeyRow>(
            'SELECT * FROM auth_api_keys WHERE tenant = $1 ORDER BY created_at DESC, id COLLATE "C" DESC',
            [filter.tenant],
          );
    return rows.map(toKey);
  }

  async revokeApiKey(id: string, at: number = Date.now()): Promise<boolean> {
    const { rowCount } = await this.#pool.query(
      'UPDATE auth_api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL',
      [id, at],
    );
    return (rowCount ?? 0) > 0;
  }

  async signingSecret(create: () => string): Promise<string> {
    // Insert-if-absent, then read: of hosts starting together, the first insert wins for all.
    await this.#pool.query(
      `INSERT INTO auth_settings (name, value) VALUES ('signing-secret', $1) ON CONFLICT (name) DO NOTHING`,
      [create()],
    );
    const { rows } = await this.#pool.query<{ value: string }>(
      `SELECT value FROM auth_settings WHERE name = 'signing-secret'`,
    );
    return rows[0]!.value;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#handle.pool.end();
  }

  get #pool(): pg.Pool {
    if (this.#closed)
      throw new InferqError('INFERQ_STORE_UNAVAILABLE', 'the PostgreSQL auth store is closed');
    return this.#handle.pool;
  }
}
