import { randomBytes } from 'node:crypto';
import { apiKeyId, apiKeyMatches, newApiKey } from '../../core/api-key.js';
import { InferqError } from '../../errors/index.js';
import { isValidTenantId, type KeyRow, type TenantRow, toKey, toTenant } from '../auth-rows.js';
import {
  type ApiKeyRecord,
  type AuthStore,
  type CreateApiKeyRequest,
  type CreatedApiKey,
  type Tenant,
  type TenantLimits,
  tenantCacheTtlMs,
} from '../auth-store.js';
import { TtlCache } from '../ttl-cache.js';
import { insertApiKeySql, listApiKeysSql, revokeApiKeySql, selectApiKeySql } from './auth-api-keys.js';
import { insertSigningSecretSql, selectSigningSecretSql } from './auth-signing-secret.js';
import {
  insertTenantSql,
  listTenantsSql,
  rotateWebhookSecretSql,
  selectTenantSql,
  setTenantLimitsParams,
  setTenantLimitsSql,
} from './auth-tenants.js';
import type { SqlDriver } from './sql-driver.js';

/**
 * `AuthStore` written once over a {@link SqlDriver}: tenants, hashed API keys and the signing
 * secret, the same statements on SQLite and PostgreSQL (the differences are dialect fragments:
 * booleans, byte order, a typed parameter). SqliteAuthStore and PostgresAuthStore extend it and
 * add only opening (file mode, migrations) and closing.
 *
 * Times are the caller's clock (`at`, default `Date.now()`), never the database's.
 */
export abstract class SqlAuthStore implements AuthStore {
  abstract readonly kind: string;
  /** Read on every request (rate limit, queue limit); see tenantCacheTtlMs. */
  readonly #tenants = new TtlCache<Tenant | undefined>(tenantCacheTtlMs);

  protected constructor(protected readonly driver: SqlDriver) {}

  async ensureTenant(id: string, at: number = Date.now()): Promise<Tenant> {
    if (!isValidTenantId(id)) {
      throw new InferqError(
        'INFERQ_VALIDATION_FAILED',
        `tenant id "${id}" must be 1-64 letters, digits, . _ - (starting with a letter or digit)`,
        { details: { tenant: id } },
      );
    }
    await this.driver.run(insertTenantSql, { id, createdAt: at, webhookSecret: newWebhookSecret() });
    this.#tenants.delete(id);
    return (await this.getTenant(id))!;
  }

  async getTenant(id: string): Promise<Tenant | undefined> {
    return this.#tenants.get(id, async () => {
      const row = await this.driver.one<TenantRow>(selectTenantSql, { id });
      return row === undefined ? undefined : toTenant(row);
    });
  }

  async listTenants(): Promise<Tenant[]> {
    return (await this.driver.all<TenantRow>(listTenantsSql(this.driver.dialect))).map(toTenant);
  }

  async setTenantLimits(id: string, limits: TenantLimits): Promise<Tenant | undefined> {
    const d = this.driver.dialect;
    const row = await this.driver.one<TenantRow>(setTenantLimitsSql(d), setTenantLimitsParams(d, id, limits));
    this.#tenants.delete(id);
    return row === undefined ? undefined : toTenant(row);
  }

  async rotateWebhookSecret(id: string): Promise<Tenant | undefined> {
    const row = await this.driver.one<TenantRow>(rotateWebhookSecretSql, {
      id,
      webhookSecret: newWebhookSecret(),
    });
    this.#tenants.delete(id);
    return row === undefined ? undefined : toTenant(row);
  }

  async createApiKey(request: CreateApiKeyRequest): Promise<CreatedApiKey> {
    const at = request.at ?? Date.now();
    await this.ensureTenant(request.tenant, at);
    const { id, key, hash } = newApiKey();
    const row = await this.driver.one<KeyRow>(insertApiKeySql, {
      id,
      tenant: request.tenant,
      keyHash: hash,
      admin: this.driver.dialect.boolean(request.admin === true),
      name: request.name ?? null,
      createdAt: at,
    });
    return { key, record: toKey(row!) };
  }

  async verifyApiKey(key: string): Promise<ApiKeyRecord | undefined> {
    const id = apiKeyId(key);
    if (id === undefined) return undefined;
    const row = await this.driver.one<KeyRow>(selectApiKeySql, { id });
    if (row === undefined || row.revoked_at !== null || !apiKeyMatches(key, row.key_hash)) return undefined;
    return toKey(row);
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    const row = await this.driver.one<KeyRow>(selectApiKeySql, { id });
    return row === undefined ? undefined : toKey(row);
  }

  async listApiKeys(filter: { tenant?: string } = {}): Promise<ApiKeyRecord[]> {
    const { tenant } = filter;
    const sql = listApiKeysSql(this.driver.dialect, tenant !== undefined);
    const rows = await this.driver.all<KeyRow>(sql, tenant === undefined ? {} : { tenant });
    return rows.map(toKey);
  }

  async revokeApiKey(id: string, at: number = Date.now()): Promise<boolean> {
    return (await this.driver.run(revokeApiKeySql, { id, at })) > 0;
  }

  async signingSecret(create: () => string): Promise<string> {
    const read = async () => (await this.driver.one<{ value: string }>(selectSigningSecretSql))?.value;
    const stored = await read();
    if (stored !== undefined) return stored;
    await this.driver.run(insertSigningSecretSql, { value: create() });
    return (await read())!;
  }

  abstract close(): Promise<void>;
}

/** Signs a tenant's webhooks (HMAC-SHA256): 256 random bits. */
function newWebhookSecret(): string {
  return randomBytes(32).toString('base64url');
}
