/**
 * Schema of the PostgreSQL auth store (component `auth` in `inferq_schema`), one script per
 * version (index + 1), append only. The same tables as SQLite's (store/sqlite/auth-migrations.ts)
 * in PostgreSQL's DDL: the two lists stay apart, as DDL per dialect, and neither is edited once
 * shipped; the statements over them are written once (store/sql/sql-auth-store.ts).
 */
export const authStoreMigrations: readonly string[] = [
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
