/** A tenant: the owner of tasks. Limits left null use the server's defaults. */
export interface Tenant {
  id: string;
  createdAt: number;
  /** Signs this tenant's webhooks (HMAC-SHA256). */
  webhookSecret: string;
  rateLimitPerMinute: number | null;
  maxQueuedTasks: number | null;
  /** Input bytes this tenant's tasks may keep stored (see api.maxStoredBytes). */
  maxStoredBytes: number | null;
  /**
   * The tenant's share of each model queue while several tenants have backlog (brokers with
   * `fairShares`): weights 2 and 1 get about 2/3 and 1/3 of the leases. Default 1.
   */
  weight: number;
}

/** An API key as stored: never the key itself, only its hash (which is not exposed here). */
export interface ApiKeyRecord {
  id: string;
  tenant: string;
  admin: boolean;
  name: string | null;
  createdAt: number;
  revokedAt: number | null;
}

export interface CreateApiKeyRequest {
  tenant: string;
  admin?: boolean;
  name?: string;
  at?: number;
}

export interface CreatedApiKey {
  /** The full key: returned once, at creation, and never again. */
  key: string;
  record: ApiKeyRecord;
}

export interface TenantLimits {
  rateLimitPerMinute?: number | null;
  maxQueuedTasks?: number | null;
  maxStoredBytes?: number | null;
  /** An integer 1..1000 (`maxTenantWeight`); null sets it back to 1. */
  weight?: number | null;
}

/** Weights are integers 1..maxTenantWeight: enough range for any share, small enough to read. */
export const maxTenantWeight = 1_000;

/**
 * How long an auth store may answer `getTenant` from memory (every request reads its tenant's
 * limits). Changes through the same store object are seen at once; changes by another process
 * (`inferq keys`, another host) within this time.
 */
export const tenantCacheTtlMs = 1_000;

/**
 * Tenants and their API keys. Keys are stored hashed; `verifyApiKey` is the only way to go
 * from a presented key to its record, and it answers undefined for unknown and revoked keys alike.
 */
export interface AuthStore {
  readonly kind: string;

  /** Creates the tenant if missing (with a fresh webhook secret) and returns it. */
  ensureTenant(id: string, at?: number): Promise<Tenant>;
  getTenant(id: string): Promise<Tenant | undefined>;
  listTenants(): Promise<Tenant[]>;
  /** Sets per-tenant limits and weight (null: back to the default). Undefined when no such tenant. */
  setTenantLimits(id: string, limits: TenantLimits): Promise<Tenant | undefined>;
  /** Gives the tenant a fresh webhook secret (the old one stops at once). Undefined when no such tenant. */
  rotateWebhookSecret(id: string): Promise<Tenant | undefined>;

  /** Creates a key (and the tenant if missing). */
  createApiKey(request: CreateApiKeyRequest): Promise<CreatedApiKey>;
  /** The record of a live key, or undefined (unknown, malformed or revoked). */
  verifyApiKey(key: string): Promise<ApiKeyRecord | undefined>;
  getApiKey(id: string): Promise<ApiKeyRecord | undefined>;
  /** Newest first; revoked keys included (they show `revokedAt`). */
  listApiKeys(filter?: { tenant?: string }): Promise<ApiKeyRecord[]>;
  /** False when no live key has this id. */
  revokeApiKey(id: string, at?: number): Promise<boolean>;

  /**
   * The deployment's token signing secret: the stored one, or `create()`'s, stored first. Every
   * host of a deployment reads the same store, so a token one API host signs is valid on all;
   * when several hosts start at once, one secret wins and all of them return it.
   */
  signingSecret(create: () => string): Promise<string>;

  close(): Promise<void>;
}
