import { randomBytes } from 'node:crypto';
import { chmodSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { apiKeyId, apiKeyMatches, newApiKey } from '../../core/api-key.js';
import { InferqError } from '../../errors/index.js';
import { cachedStatement } from '../../sqlite/cached-statement.js';
import { openSqlite, type SqliteDatabase } from '../../sqlite/open-sqlite.js';
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
import { authStoreMigrations } from './auth-migrations.js';

/** Tenants and hashed API keys in one SQLite file (mode 0600: it holds webhook secrets). */
export class SqliteAuthStore implements AuthStore {
  readonly kind = 'sqlite';
  readonly #db: SqliteDatabase;
  /** Read on every request (rate limit, queue limit); see tenantCacheTtlMs. */
  readonly #tenants = new TtlCache<Tenant | undefined>(tenantCacheTtlMs);

  private constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  static open(file: string): SqliteAuthStore {
    const db = openSqlite(file, { purpose: 'auth store', migrations: authStoreMigrations });
    if (file !== ':memory:') chmodSync(file, 0o600);
    return new SqliteAuthStore(db);
  }

  async ensureTenant(id: string, at: number = Date.now()): Promise<Tenant> {
    if (!isValidTenantId(id)) {
      throw new InferqError(
        'INFERQ_VALIDATION_FAILED',
        `tenant id "${id}" must be 1-64 letters, digits, . _ - (starting with a letter or digit)`,
        { details: { tenant: id } },
      );
    }
    this.#sql(
      `INSERT INTO auth_tenants (id, created_at, webhook_secret) VALUES (?, ?, ?)
         ON CONFLICT (id) DO NOTHING`,
    ).run(id, at, randomBytes(32).toString('base64url'));
    this.#tenants.delete(id);
    return (await this.getTenant(id))!;
  }

  async getTenant(id: string): Promise<Tenant | undefined> {
    return this.#tenants.get(id, async () => {
      const row = this.#sql('SELECT * FROM auth_tenants WHERE id = ?').get(id) as TenantRow | undefined;
      return row === undefined ? undefined : toTenant(row);
    });
  }

  async listTenants(): Promise<Tenant[]> {
    return (this.#sql('SELECT * FROM auth_tenants ORDER BY id').all() as TenantRow[]).map(toTenant);
  }

  async setTenantLimits(id: string, limits: TenantLimits): Promise<Tenant | undefined> {
    // An undefined limit keeps the row's value (never the cached one); null sets the default.
    const row = this.#sql(
      `UPDATE auth_tenants SET
         rate_limit_per_minute = CASE WHEN ? THEN ? ELSE rate_limit_per_minute END,
         max_queued_tasks = CASE WHEN ? THEN ? ELSE max_queued_tasks END,
         max_stored_bytes = CASE WHEN ? THEN ? ELSE max_stored_bytes END,
         weight = CASE WHEN ? THEN ? ELSE weight END
       WHERE id = ? RETURNING *`,
    ).get(
      limits.rateLimitPerMinute === undefined ? 0 : 1,
      limits.rateLimitPerMinute ?? null,
      limits.maxQueuedTasks === undefined ? 0 : 1,
      limits.maxQueuedTasks ?? null,
      limits.maxStoredBytes === undefined ? 0 : 1,
      limits.maxStoredBytes ?? null,
      limits.weight === undefined ? 0 : 1,
      limits.weight ?? null,
      id,
    ) as TenantRow | undefined;
    this.#tenants.delete(id);
    return row === undefined ? undefined : toTenant(row);
  }

  async rotateWebhookSecret(id: string): Promise<Tenant | undefined> {
    const row = this.#sql('UPDATE auth_tenants SET webhook_secret = ? WHERE id = ? RETURNING *').get(
      randomBytes(32).toString('base64url'),
      id,
    ) as TenantRow | undefined;
    this.#tenants.delete(id);
    return row === undefined ? undefined : toTenant(row);
  }

  async createApiKey(request: CreateApiKeyRequest): Promise<CreatedApiKey> {
    const at = request.at ?? Date.now();
    await this.ensureTenant(request.tenant, at);
    const { id, key, hash } = newApiKey();
    this.#sql(
      `INSERT INTO auth_api_keys (id, tenant, key_hash, admin, name, created_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
    ).run(id, request.tenant, hash, request.admin === true ? 1 : 0, request.name ?? null, at);
    return { key, record: (await this.getApiKey(id))! };
  }

  async verifyApiKey(key: string): Promise<ApiKeyRecord | undefined> {
    const id = apiKeyId(key);
    if (id === undefined) return undefined;
    const row = this.#sql('SELECT * FROM auth_api_keys WHERE id = ?').get(id) as KeyRow | undefined;
    if (row === undefined || row.revoked_at !== null || !apiKeyMatches(key, row.key_hash)) return undefined;
    return toKey(row);
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    const row = this.#sql('SELECT * FROM auth_api_keys WHERE id = ?').get(id) as KeyRow | undefined;
    return row === undefined ? undefined : toKey(row);
  }

  async listApiKeys(filter: { tenant?: string } = {}): Promise<ApiKeyRecord[]> {
    const rows = (
      filter.tenant === undefined
        ? this.#sql('SELECT * FROM auth_api_keys ORDER BY created_at DESC, id DESC').all()
        : this.#sql('SELECT * FROM auth_api_keys WHERE tenant = ? ORDER BY created_at DESC, id DESC').all(
            filter.tenant,
          )
    ) as KeyRow[];
    return rows.map(toKey);
  }

  async revokeApiKey(id: string, at: number = Date.now()): Promise<boolean> {
    return (
      this.#sql('UPDATE auth_api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id)
        .changes > 0
    );
  }

  async signingSecret(create: () => string): Promise<string> {
    const read = () =>
      this.#sql(`SELECT value FROM auth_settings WHERE name = 'signing-secret'`).pluck().get() as
        | string
        | undefined;
    const stored = read();
    if (stored !== undefined) return stored;
    // Insert-if-absent, then read: of processes starting together, the first insert wins for all.
    this.#sql(
      `INSERT INTO auth_settings (name, value) VALUES ('signing-secret', ?) ON CONFLICT (name) DO NOTHING`,
    ).run(create());
    return read()!;
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }

  /** A prepared statement, cached by its text: every request authenticates. */
  #sql(sql: string): Database.Statement {
    return cachedStatement(this.#db, sql);
  }
}
