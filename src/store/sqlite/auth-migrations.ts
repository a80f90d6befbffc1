/**
 * Schema of the SQLite auth store, one script per version (index + 1), append only. It lives in
 * its own file (`auth.db`; its version is the `auth store` row of `inferq_schema`): credentials
 * in their own file can be backed up and permissioned apart from tasks.
 */
export const authStoreMigrations: readonly string[] = [
  `
  CREATE TABLE auth_tenants (
    id                     TEXT PRIMARY KEY,
    created_at             INTEGER NOT NULL,
    webhook_secret         TEXT NOT NULL,
    rate_limit_per_minute  INTEGER,
    max_queued_tasks       INTEGER
  ) STRICT;

  CREATE TABLE auth_api_keys (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL REFERENCES auth_tenants (id),
    key_hash    TEXT NOT NULL,
    admin       INTEGER NOT NULL,
    name        TEXT,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
  ) STRICT;
  CREATE INDEX auth_api_keys_tenant ON auth_api_keys (tenant, created_at);
  `,
  `
  -- Deployment-wide settings, one row each: the token signing secret ('signing-secret').
  CREATE TABLE auth_settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) STRICT;
  `,
  `
  -- The tenant's storage quota: input bytes its tasks may keep stored (null: api.maxStoredBytes).
  ALTER TABLE auth_tenants ADD COLUMN max_stored_bytes INTEGER;
  `,
  `
  -- The tenant's fair-share weight (null: 1), see Tenant.weight.
  ALTER TABLE auth_tenants ADD COLUMN weight INTEGER;
  `,
];
